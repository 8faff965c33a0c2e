/**
 * The benchmark harness starts an isolated containerd (Debian's 1.6, and the 2.x setup builds) with its own root, socket,
 * CNI network and locally built images, runs a container through ctr and a pod through crictl,
 * and stop() leaves nothing behind on the host.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileCapture } from '../../src/common/exec.js';
import { ContainerdHarness } from '../../bench/containerd/harness.js';
import {
  SHIM_SOCKET_DIR,
  mountsUnder,
  pidsMentioning,
  shimSocketName,
} from '../../bench/containerd/host-state.js';
import { toolVersion } from '../helpers/versions.js';
import { buildTinyImage, unpackImage, type BuiltImage } from '../../bench/containerd/images.js';

const list = (dir: string): Promise<string[]> =>
  readdir(dir).then(
    (e) => e.sort(),
    () => [],
  );

/**
 * What this harness's run leaves on the host, picked out by its own names: other containerd
 * harnesses (the critest anchor, CRI benchmarks) run beside this test in CI and create and remove
 * their own shim sockets, CNI results, netns and rules under the same host-wide directories.
 */
async function ownHostState(
  cd: ContainerdHarness,
  podId: string,
  podNetns: string,
): Promise<Record<string, string[]>> {
  const sockets = new Set(
    [
      [cd.namespace, 'echo-1'],
      [cd.namespace, 'long-1'],
      ['k8s.io', podId],
    ].map(([ns, id]) => shimSocketName(cd.socket, ns!, id!)),
  );
  const iptables = await execFileCapture('iptables-save', []);
  return {
    shimSockets: (await list(SHIM_SOCKET_DIR)).filter((n) => sockets.has(n)),
    cniResults: (await list('/var/lib/cni/results')).filter((n) => n.includes(podId)),
    netns: (await stat(podNetns).then(
      () => true,
      () => false,
    ))
      ? [podNetns]
      : [],
    iptablesRules: iptables.stdout
      .split('\n')
      .filter((l) => l.startsWith('-A') && (l.includes(cd.namespace) || l.includes(` ${cd.layout.bridge}`))),
  };
}

describe('isolated containerd harness', () => {
  let imagesDir: string;
  let tiny: BuiltImage;
  let harness: ContainerdHarness | undefined;

  beforeAll(async () => {
    imagesDir = await mkdtemp(join(tmpdir(), 'berth-bench-images-'));
    tiny = await buildTinyImage(imagesDir);
  });
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });
  afterAll(async () => {
    await rm(imagesDir, { recursive: true, force: true });
  });

  it('builds a tiny image Berth unpacks into a runnable busybox rootfs', async () => {
    const rootfs = join(imagesDir, 'rootfs');
    await unpackImage(tiny, rootfs);
    expect((await stat(join(rootfs, 'bin/busybox'))).mode & 0o111).not.toBe(0);
    const out = await execFile('/usr/sbin/chroot', [rootfs, '/bin/echo', 'from-tiny']);
    expect(out).toBe('from-tiny\n');
  });

  it.each(['1.6', '2.x'] as const)(
    'containerd %s: runs ctr run --rm and a crictl pod, then stop() leaves nothing behind',
    async (release) => {
      const cd = await ContainerdHarness.start({ release });
      harness = cd;
      const dir = cd.layout.dir;
      expect(dir.startsWith(tmpdir())).toBe(true);
      const server = (await cd.ctr(['version'])).split('Server:')[1] ?? '';
      expect(server).toContain(
        release === '1.6' ? 'Version:  1.6' : `Version:  v${toolVersion('CONTAINERD_VERSION')}`,
      );

      await cd.importImage(tiny.archivePath, tiny.name);
      expect(await cd.ctr(cd.runArgs(tiny.name, 'echo-1', ['echo', 'hi']))).toBe('hi\n');
      expect(await cd.ctr(['containers', 'list', '-q'])).toBe('');

      // A long-running container left for stop() to remove, plus a CRI pod on the harness's bridge.
      await cd.ctr(cd.runArgs(tiny.name, 'long-1', ['sleep', '3600'], ['-d']));
      expect(await cd.ctr(['tasks', 'list'])).toContain('RUNNING');
      const podConfig = join(dir, 'pod.json');
      const { writeFile } = await import('node:fs/promises');
      await writeFile(
        podConfig,
        JSON.stringify({
          metadata: { name: 'harness-pod', namespace: 'default', uid: cd.namespace, attempt: 0 },
          linux: { cgroup_parent: `/${cd.namespace}/pod` },
        }),
      );
      const podId = (await cd.crictl(['runp', podConfig])).trim();
      expect(podId).toMatch(/^[0-9a-f]{64}$/);
      const inspect = JSON.parse(await cd.crictl(['inspectp', podId])) as {
        status: { state: string; network: { ip: string } };
        info: { runtimeSpec: { linux: { namespaces: { type: string; path?: string }[] } } };
      };
      const netnsPath =
        inspect.info.runtimeSpec.linux.namespaces.find((n) => n.type === 'network')?.path ?? '';
      // Wherever the harness's containerd pins it (it keeps its own state dir).
      const podNetns = netnsPath;
      expect(podNetns).not.toBe('');
      expect(inspect.status.state).toBe('SANDBOX_READY');
      expect(inspect.status.network.ip.startsWith(cd.layout.subnet.split('.').slice(0, 3).join('.'))).toBe(
        true,
      );
      // The names below are the ones stop() must remove: see them exist first.
      const during = await ownHostState(cd, podId, podNetns);
      expect(during.shimSockets).toHaveLength(2); // long-1 and the pod (echo-1's went with --rm)
      expect(during.cniResults!.length).toBeGreaterThan(0);
      expect(during.netns).toEqual([podNetns]);

      await cd.stop();
      await cd.stop(); // idempotent
      await expect(stat(dir)).rejects.toThrow(/ENOENT/);
      expect(await mountsUnder(dir)).toEqual([]);
      expect(await pidsMentioning(dir)).toEqual([]);
      expect((await execFileCapture('ip', ['link', 'show', cd.layout.bridge])).code).not.toBe(0);
      for (const controller of await readdir('/sys/fs/cgroup'))
        await expect(stat(join('/sys/fs/cgroup', controller, cd.namespace))).rejects.toThrow(/ENOENT/);
      expect(await ownHostState(cd, podId, podNetns)).toEqual({
        shimSockets: [],
        cniResults: [],
        netns: [],
        iptablesRules: [],
      });
      // Forwarding is not this harness's to turn back inside a test run: other files' networks run
      // beside it and need it; the run turns it back once, at its end (test/global-setup.ts).
    },
  );
});
