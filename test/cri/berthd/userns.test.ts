/**
 * User namespaces (KEP-127, `hostUsers: false`) against a real berthd's CRI socket, on the default
 * handler (runc 1.5 from setup). The pod maps ids 0-65535 inside to 300000-365535 on the host, as
 * kubelet's userns_options say. Checked from inside the container and from the host: the process's
 * /proc/self/uid_map and gid_map; the image's files owned by root inside and by the mapped id as
 * the host sees the container's rootfs, while the image's layers themselves stay root's; what root
 * inside writes to the rootfs is stored under the mapped id; a hostPath volume is idmapped (the
 * host's root-owned file is root's inside, and what root inside writes there is root's on disk).
 * Bad mappings (overlapping, empty, past the id range, root unmapped) are INVALID_ARGUMENT naming
 * the field, and Debian's runc (no idmapped mounts) is FAILED_PRECONDITION; none leaves a pod.
 */
import * as grpc from '@grpc/grpc-js';
import { chown, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CreateContainerResponse__Output } from '../../../src/cri/generated/runtime/v1/CreateContainerResponse.js';
import type { IDMapping } from '../../../src/cri/generated/runtime/v1/IDMapping.js';
import type { ListPodSandboxResponse__Output } from '../../../src/cri/generated/runtime/v1/ListPodSandboxResponse.js';
import type { StatusResponse__Output } from '../../../src/cri/generated/runtime/v1/StatusResponse.js';
import { readMounts } from '../../../src/sandbox/mounts.js';
import { expectStatus, rpc } from '../harness.js';
import { criPodSuite } from './pod-suite.js';

const HOST_BASE = 300000;
const mapping = (container_id: number, host_id: number, length: number): IDMapping => ({
  container_id,
  host_id,
  length,
});
const podUserns = (uids: IDMapping[], gids: IDMapping[] = uids) => ({
  // As kubelet sends it: a PID namespace per container, the pod's network and IPC.
  security_context: {
    namespace_options: { pid: 'CONTAINER' as const, userns_options: { mode: 'POD' as const, uids, gids } },
  },
});

const suite = criPodSuite(
  { name: 'userns', namespace: 'userns', uid: 'uid-userns', attempt: 0 },
  { linux: podUserns([mapping(0, HOST_BASE, 65536)]) },
);

async function waitForLog(id: string, marker: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const out = (await suite.env.crictl(['logs', id])).stdout;
    if (out.includes(marker)) return out;
    if (Date.now() > deadline) throw new Error(`container ${id} did not print ${marker}: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every copy of the image's busybox in the snapshot store (the image's own layers). */
async function layerCopies(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && e.name === 'fs') {
        const candidate = path.join(p, 'bin/busybox');
        if (
          await stat(candidate).then(
            () => true,
            () => false,
          )
        )
          found.push(candidate);
      } else if (e.isDirectory() && depth < 4) await walk(p, depth + 1);
    }
  };
  await walk(root, 0);
  return found;
}

describe('user namespaces through the CRI', () => {
  it('the default handler and runc advertise user_namespaces; Debian runc does not', async () => {
    const status = await rpc<StatusResponse__Output>((cb) => suite.runtime.Status({}, cb));
    const features = Object.fromEntries(
      status.runtime_handlers.map((h) => [h.name, h.features?.user_namespaces]),
    );
    expect(features).toMatchObject({ '': true, runc: true, 'runc-debian': false });
  });

  it('runs the container mapped: uid_map, image files, rootfs writes and an idmapped hostPath volume', async () => {
    const { env } = suite;
    const volume = path.join(env.work, 'userns-volume');
    await mkdir(volume, { recursive: true });
    await writeFile(path.join(volume, 'from-host'), 'host\n');
    await chown(path.join(volume, 'from-host'), 0, 0);
    const script = [
      'echo uid_map; cat /proc/self/uid_map; echo gid_map; cat /proc/self/gid_map',
      'echo image; stat -c "%u:%g" /bin/busybox',
      'echo volume; stat -c "%u:%g" /vol/from-host',
      'echo made > /made-inside && echo made > /vol/made-inside && echo written',
      'sleep 600',
    ].join('; ');
    const id = (
      await rpc<CreateContainerResponse__Output>((cb) =>
        suite.runtime.CreateContainer(
          {
            pod_sandbox_id: suite.podId,
            config: {
              metadata: { name: 'mapped', attempt: 0 },
              image: { image: env.image },
              command: ['sh', '-c', script],
              mounts: [{ container_path: '/vol', host_path: volume }],
              linux: podUserns([mapping(0, HOST_BASE, 65536)]),
            },
            sandbox_config: { metadata: suite.metadata },
          },
          cb,
        ),
      )
    ).container_id;
    await rpc((cb) => suite.runtime.StartContainer({ container_id: id }, cb));
    const out = await waitForLog(id, 'written');
    const after = (label: string) => out.split('\n')[out.split('\n').indexOf(label) + 1]?.trim().split(/\s+/);
    expect(after('uid_map')).toEqual(['0', String(HOST_BASE), '65536']);
    expect(after('gid_map')).toEqual(['0', String(HOST_BASE), '65536']);
    expect(after('image')).toEqual(['0:0']);
    expect(after('volume')).toEqual(['0:0']);
    // Nothing but what the container printed: runc warns into the log when the spec both joins a
    // user namespace and repeats its mappings.
    expect((await env.crictl(['logs', id])).stderr).toBe('');

    // From the host: the rootfs shows the image's files under the mapped ids, and what root
    // inside wrote is stored under them too.
    const rootfs = path.join(env.berthd.state, 'containers', id, 'rootfs');
    const busybox = await stat(path.join(rootfs, 'bin/busybox'));
    expect([busybox.uid, busybox.gid]).toEqual([HOST_BASE, HOST_BASE]);
    const made = await stat(path.join(rootfs, 'made-inside'));
    expect([made.uid, made.gid]).toEqual([HOST_BASE, HOST_BASE]);
    // The image's layers are not chowned: every stored copy of busybox is still root's.
    const copies = await layerCopies(env.berthd.root);
    expect(copies.length, 'no layer copy of bin/busybox found under the snapshot store').toBeGreaterThan(0);
    for (const c of copies) expect((await stat(c)).uid, c).toBe(0);
    // The volume is idmapped: root inside is root on disk.
    const written = await stat(path.join(volume, 'made-inside'));
    expect([written.uid, written.gid]).toEqual([0, 0]);
    // The transient layer binds are gone once the overlay is up.
    const mounts = await readMounts();
    expect(mounts.filter((m) => m.mountPoint.includes('idmapped-layers'))).toEqual([]);

    await env.crictl(['stop', '-t', '0', id]);
    const rm = await env.crictl(['rm', id]);
    expect(rm.code, rm.stderr).toBe(0);
    expect((await readMounts()).filter((m) => m.mountPoint.startsWith(rootfs))).toEqual([]);
  });

  it('a pod that shares one PID namespace gets it inside its user namespace', async () => {
    const { env } = suite;
    const metadata = { name: 'userns-pidpod', namespace: 'userns', uid: 'uid-userns-pidpod', attempt: 0 };
    const linux = {
      security_context: {
        namespace_options: {
          pid: 'POD' as const,
          userns_options: {
            mode: 'POD' as const,
            uids: [mapping(0, HOST_BASE, 65536)],
            gids: [mapping(0, HOST_BASE, 65536)],
          },
        },
      },
    };
    const podId = (
      await rpc<{ pod_sandbox_id: string }>((cb) =>
        suite.runtime.RunPodSandbox({ config: { metadata, linux } }, cb),
      )
    ).pod_sandbox_id;
    try {
      const id = (
        await rpc<CreateContainerResponse__Output>((cb) =>
          suite.runtime.CreateContainer(
            {
              pod_sandbox_id: podId,
              config: {
                metadata: { name: 'shared-pid', attempt: 0 },
                image: { image: env.image },
                // PID 1 of the shared namespace is the holder, not this shell.
                command: ['sh', '-c', 'cat /proc/self/uid_map; echo "pid $$"; echo done; sleep 600'],
                linux,
              },
              sandbox_config: { metadata, linux },
            },
            cb,
          ),
        )
      ).container_id;
      await rpc((cb) => suite.runtime.StartContainer({ container_id: id }, cb));
      const out = await waitForLog(id, 'done');
      expect(out).toMatch(new RegExp(`^\\s*0\\s+${HOST_BASE}\\s+65536$`, 'm'));
      expect(out).not.toMatch(/^pid 1$/m);
    } finally {
      await env.crictl(['stopp', podId]);
      await env.crictl(['rmp', '-f', podId]);
    }
  });

  it('refuses bad mappings and a handler without idmapped mounts, leaving no pod', async () => {
    const cases: [string, ReturnType<typeof podUserns>, grpc.status, string[]][] = [
      [
        'overlap',
        podUserns([mapping(0, HOST_BASE, 1000), mapping(500, HOST_BASE + 5000, 1000)]),
        grpc.status.INVALID_ARGUMENT,
        ['userns_options.uids[1] overlaps', 'uids[0] on the container side'],
      ],
      [
        'host-overlap',
        podUserns([mapping(0, HOST_BASE, 1000), mapping(1000, HOST_BASE + 10, 1000)]),
        grpc.status.INVALID_ARGUMENT,
        ['userns_options.uids[1] overlaps', 'on the host side'],
      ],
      [
        'empty',
        podUserns([mapping(0, HOST_BASE, 0)]),
        grpc.status.INVALID_ARGUMENT,
        ['userns_options.uids[0].size: a mapping of 0 ids'],
      ],
      [
        'too-far',
        podUserns([mapping(0, 4294967000, 65536)]),
        grpc.status.INVALID_ARGUMENT,
        ['exceed the 32-bit id range'],
      ],
      [
        'no-root',
        podUserns([mapping(1, HOST_BASE, 65536)]),
        grpc.status.INVALID_ARGUMENT,
        ['userns_options.uids: id 0', 'is not mapped'],
      ],
    ];
    for (const [name, linux, code, parts] of cases) {
      await expectStatus(
        rpc((cb) =>
          suite.runtime.RunPodSandbox(
            { config: { metadata: { name, namespace: 'userns', uid: `uid-${name}`, attempt: 0 }, linux } },
            cb,
          ),
        ),
        code,
        ...parts,
      );
    }
    await expectStatus(
      rpc((cb) =>
        suite.runtime.RunPodSandbox(
          {
            config: {
              metadata: { name: 'old-runc', namespace: 'userns', uid: 'uid-old-runc', attempt: 0 },
              linux: podUserns([mapping(0, HOST_BASE, 65536)]),
            },
            runtime_handler: 'runc-debian',
          },
          cb,
        ),
      ),
      grpc.status.FAILED_PRECONDITION,
      'runtime handler runc-debian cannot run pods with their own user namespace',
    );
    const pods = await rpc<ListPodSandboxResponse__Output>((cb) => suite.runtime.ListPodSandbox({}, cb));
    expect(pods.items.map((p) => p.metadata?.name)).toEqual(['userns']);
  });
});
