import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from '../../src/common/exec.js';
import { CniNetwork } from '../../src/network/cni.js';
import { CniPluginError } from '../../src/network/errors.js';
import { PodCgroups } from '../../src/sandbox/cgroups.js';
import type { SandboxConfig } from '../../src/sandbox/config.js';
import { mountsUnder } from '../../src/sandbox/mounts.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import {
  bridgePorts,
  captureBaseline,
  hostLocalLeases,
  iptablesFootprint,
  restoreHost,
  uniqueNet,
  writeTestConflist,
  type HostBaseline,
  type TestNet,
} from '../network/host-state.js';
import { listenIn, sendFrom } from './netns-tools.js';

let root: string;
let testNet: TestNet;
let baseline: HostBaseline;
let dataDir: string;
let manager: SandboxManager;
let cgroups: PodCgroups;
const cgroupRoot = `berth-test-mgr-${process.pid}`;
const hostPort = 20000 + Math.floor(Math.random() * 20000);
const ids: string[] = [];

function podConfig(name: string, extra: Partial<SandboxConfig> = {}): SandboxConfig {
  return { metadata: { name, uid: `uid-${name}`, namespace: 'test', attempt: 0 }, hostname: name, ...extra };
}

function managerFor(confDir: string): SandboxManager {
  return new SandboxManager({
    stateDir: path.join(root, 'state'),
    cgroups,
    network: new CniNetwork({
      confDir,
      berthConfDir: path.join(root, 'berth-net.d'),
      cacheDir: path.join(root, 'state', 'cni-cache'),
    }),
  });
}

/** Everything a sandbox leaves on the host, for before/after comparisons. */
async function footprint(): Promise<Record<string, unknown>> {
  const cgroupDirs: string[] = [];
  for (const dir of cgroups.dirs('x').values()) {
    const parent = path.dirname(dir);
    const entries = await readdir(parent, { withFileTypes: true }).catch(() => []);
    cgroupDirs.push(...entries.filter((e) => e.isDirectory()).map((e) => `${parent}/${e.name}`));
  }
  return {
    leases: await hostLocalLeases(dataDir, testNet),
    ports: await bridgePorts(testNet),
    iptables: await iptablesFootprint(testNet, ids),
    mounts: (await mountsUnder(path.join(root, 'state')))
      .filter((m) => m.fsType === 'nsfs')
      .map((m) => m.mountPoint),
    cgroups: cgroupDirs.sort(),
    sandboxes: await readdir(path.join(root, 'state', 'sandboxes')).catch(() => []),
    cniCache: await readdir(path.join(root, 'state', 'cni-cache')).catch(() => []),
  };
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'berth-sbm-'));
  testNet = await uniqueNet('sbm');
  baseline = await captureBaseline();
  dataDir = path.join(root, 'ipam');
  const confDir = path.join(root, 'net.d');
  await mkdir(confDir);
  await writeTestConflist(confDir, testNet, dataDir);
  cgroups = await PodCgroups.detect(cgroupRoot);
  manager = managerFor(confDir);
});

afterAll(async () => {
  for (const id of ids) await manager.remove(id).catch(() => undefined);
  await manager.pinner.dispose().catch(() => undefined);
  for (const m of await mountsUnder(root)) await execFile('umount', [m.mountPoint]).catch(() => undefined);
  for (const dir of cgroups.dirs('x').values())
    await rm(path.dirname(dir), { recursive: false }).catch(() => undefined);
  for (const dir of cgroups.dirs('x').values())
    await execFile('rmdir', [path.dirname(dir)]).catch(() => undefined);
  await restoreHost(testNet, baseline);
  await rm(root, { recursive: true, force: true });
});

describe('SandboxManager on the real host', () => {
  it('two sandboxes get distinct IPs and reach each other and the gateway over TCP', async () => {
    const a = await manager.create(podConfig('pod-a'), 'sbm-a');
    const b = await manager.create(podConfig('pod-b'), 'sbm-b');
    ids.push('sbm-a', 'sbm-b');
    const ipA = a.network?.ips[0]?.ip as string;
    const ipB = b.network?.ips[0]?.ip as string;
    expect(ipA.startsWith(testNet.prefix)).toBe(true);
    expect(ipB.startsWith(testNet.prefix)).toBe(true);
    expect(ipA).not.toBe(ipB);
    expect(a.state).toBe('ready');

    const netA = a.namespaces?.net as string;
    const netB = b.namespaces?.net as string;
    const inB = await listenIn(netB, 5000);
    await sendFrom(netA, ipB, 5000, 'hello from a');
    expect(await inB.received).toBe('hello from a');
    const inA = await listenIn(netA, 5001);
    await sendFrom(netB, ipA, 5001, 'hello from b');
    expect(await inA.received).toBe('hello from b');

    // The gateway is the host's address on the bridge: a host listener there is reachable.
    const got = new Promise<string>((resolve) => {
      const server = net.createServer((sock) => {
        const chunks: Buffer[] = [];
        sock.on('data', (d: Buffer) => chunks.push(d));
        sock.on('end', () => {
          resolve(Buffer.concat(chunks).toString('utf8'));
          sock.end();
          server.close();
        });
      });
      server.listen(0, testNet.gateway, () => {
        const port = (server.address() as net.AddressInfo).port;
        void sendFrom(netA, testNet.gateway, port, 'hello gateway');
      });
    });
    expect(await got).toBe('hello gateway');

    // Hostname in the UTS namespace and the sandbox files.
    expect((await execFile('nsenter', [`--uts=${a.namespaces?.uts}`, 'hostname'])).trim()).toBe('pod-a');
    expect(await readFile(a.files?.hosts as string, 'utf8')).toContain(`${ipA}\tpod-a\n`);
    expect(await readFile(a.files?.hostname as string, 'utf8')).toBe('pod-a\n');
    expect(a.cgroupPath).toBe(`/${cgroupRoot}/pod-sbm-a`);
  });

  it('a hostPort mapping is reachable from the host side', async () => {
    const c = await manager.create(
      podConfig('pod-c', { portMappings: [{ protocol: 'TCP', containerPort: 8080, hostPort }] }),
      'sbm-c',
    );
    ids.push('sbm-c');
    const inC = await listenIn(c.namespaces?.net as string, 8080);
    const sock = net.connect({ host: testNet.gateway, port: hostPort });
    await new Promise<void>((resolve, reject) => {
      sock.on('connect', resolve);
      sock.on('error', reject);
    });
    sock.end('through the host port');
    expect(await inC.received).toBe('through the host port');
  });

  it('status runs CHECK; stop tears the network down idempotently; remove is idempotent', async () => {
    const before = await footprint();
    await manager.create(
      podConfig('pod-d', { dnsConfig: { servers: ['10.96.0.10'], options: ['ndots:5'] } }),
      'sbm-d',
    );
    ids.push('sbm-d');
    const st = await manager.status('sbm-d');
    expect(st.network).toEqual({ check: 'ok' });
    expect(await readFile(st.record.files?.resolvConf as string, 'utf8')).toBe(
      'nameserver 10.96.0.10\noptions ndots:5\n',
    );
    await manager.stop('sbm-d');
    await manager.stop('sbm-d');
    const stopped = await manager.status('sbm-d');
    expect(stopped.record.state).toBe('notready');
    expect(stopped.network).toEqual({ check: 'none' });
    expect((await footprint()).leases).toEqual(before.leases);
    await manager.remove('sbm-d');
    await manager.remove('sbm-d');
    await manager.remove('never-existed');
    expect(await footprint()).toEqual(before);
    await expect(manager.status('sbm-d')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('status reports a failed CHECK with the plugin and its reason', async () => {
    const before = await footprint();
    const r = await manager.create(podConfig('pod-chk'), 'sbm-chk');
    ids.push('sbm-chk');
    await execFile('nsenter', [
      `--net=${r.namespaces?.net}`,
      'ip',
      'link',
      'set',
      'eth0',
      'address',
      '02:42:ba:d0:00:01',
    ]);
    const st = await manager.status('sbm-chk');
    expect(st.network).toMatchObject({
      check: 'failed',
      error: expect.stringMatching(/CNI plugin "bridge" failed CHECK/),
    });
    await manager.remove('sbm-chk');
    expect(await footprint()).toEqual(before);
  });

  it('a failing plugin fails create with its name and reason and leaves nothing behind', async () => {
    const confDir = path.join(root, 'missing-net.d');
    await mkdir(confDir);
    await writeTestConflist(confDir, testNet, dataDir, { extraPlugins: [{ type: 'berth-missing-plugin' }] });
    const broken = managerFor(confDir);
    const before = await footprint();
    ids.push('sbm-fail');
    const err = await broken
      .create(
        podConfig('pod-fail', {
          portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: hostPort + 1 }],
        }),
        'sbm-fail',
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniPluginError);
    expect((err as Error).message).toMatch(
      /CNI plugin "berth-missing-plugin" failed ADD .*not found in \/usr\/lib\/cni/,
    );
    expect(await footprint()).toEqual(before);
  });

  it('invalid input is rejected with nothing created', async () => {
    const before = await footprint();
    const bad: [SandboxConfig, RegExp][] = [
      [podConfig('pod-e', { hostname: 'not_valid' }), /^hostname "not_valid"/],
      [podConfig('pod-e', { dnsConfig: { options: ['ndots 5'] } }), /^dnsConfig.options\[0\]/],
      [
        podConfig('pod-e', { portMappings: [{ protocol: 'TCP', containerPort: 70000 }] }),
        /^portMappings\[0\].containerPort 70000/,
      ],
      [
        podConfig('pod-e', { linux: { cgroupParent: 'kubepods-burstable-pod1.slice' } }),
        /^linux.cgroupParent .* is not a cgroupfs path: .*systemd/,
      ],
      [
        podConfig('pod-e', { linux: { cgroupParent: '/kubepods/../etc' } }),
        /^linux.cgroupParent .* without "\.\."/,
      ],
    ];
    for (const [config, message] of bad) {
      await expect(manager.create(config, 'sbm-e')).rejects.toMatchObject({
        code: 'invalid_argument',
        message: expect.stringMatching(message),
      });
    }
    await expect(manager.create(podConfig('pod-e'), '../escape')).rejects.toMatchObject({
      code: 'invalid_argument',
    });
    expect(await footprint()).toEqual(before);
  });

  it('a second sandbox with the same name, uid and attempt is refused with nothing created', async () => {
    await manager.create(podConfig('pod-f'), 'sbm-f1');
    ids.push('sbm-f1', 'sbm-f2');
    const before = await footprint();
    await expect(manager.create(podConfig('pod-f'), 'sbm-f2')).rejects.toMatchObject({
      code: 'already_exists',
      message: expect.stringMatching(
        /sandbox test\/pod-f \(uid uid-pod-f, attempt 0\) already exists as sbm-f1/,
      ),
    });
    expect(await footprint()).toEqual(before);
    // Reusing the id for another pod is refused too; repeating create for the same pod is not.
    await expect(manager.create(podConfig('pod-g'), 'sbm-f1')).rejects.toThrow(
      /sandbox id sbm-f1 is already used by test\/pod-f/,
    );
    expect((await manager.create(podConfig('pod-f'), 'sbm-f1')).state).toBe('ready');
    expect(await footprint()).toEqual(before);
    // A new attempt is a new sandbox.
    const next = podConfig('pod-f');
    next.metadata.attempt = 1;
    await manager.create(next, 'sbm-f2');
    await manager.remove('sbm-f1');
    await manager.remove('sbm-f2');
  });

  it('removeOrphans tears down an attachment, pins and cgroup a crash left without a record', async () => {
    const before = await footprint();
    await manager.create(
      podConfig('pod-o', { portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: hostPort + 2 }] }),
      'sbm-o',
    );
    ids.push('sbm-o');
    // The record is lost (e.g. the crash hit before it was written); everything else exists.
    await rm(path.join(root, 'state', 'sandboxes', 'sbm-o'), { recursive: true });
    await manager.create(podConfig('pod-kept'), 'sbm-kept');
    ids.push('sbm-kept');
    expect(await managerFor(path.join(root, 'net.d')).removeOrphans()).toEqual(['sbm-o']);
    expect((await manager.status('sbm-kept')).network).toEqual({ check: 'ok' });
    await manager.remove('sbm-kept');
    expect(await footprint()).toEqual(before);
  });

  it('remove is refused with nothing changed while a process is in the pod cgroup', async () => {
    const r = await manager.create(podConfig('pod-busy'), 'sbm-busy');
    ids.push('sbm-busy');
    const { spawn } = await import('node:child_process');
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const pidsDir = cgroups.dirs('sbm-busy').get(cgroups.version === 2 ? 'unified' : 'pids') as string;
    try {
      await writeFile(path.join(pidsDir, 'cgroup.procs'), String(child.pid));
      await expect(manager.remove('sbm-busy')).rejects.toMatchObject({
        code: 'failed_precondition',
        message: expect.stringMatching(
          new RegExp(`pod cgroup /${cgroupRoot}/pod-sbm-busy still has processes ${child.pid}`),
        ),
      });
      const st = await manager.status('sbm-busy');
      expect(st.network).toEqual({ check: 'ok' });
      expect(st.record.network?.ips).toEqual(r.network?.ips);
      expect((await manager.pinner.pinnedKinds('sbm-busy')).size).toBe(3);
    } finally {
      await writeFile(path.join(path.dirname(path.dirname(pidsDir)), 'cgroup.procs'), String(child.pid));
      child.kill('SIGKILL');
      await exited;
    }
    await manager.remove('sbm-busy');
  });

  it('a host-network sandbox pins only IPC and runs no CNI', async () => {
    const before = await footprint();
    const h = await manager.create(
      podConfig('pod-h', { linux: { namespaceOptions: { network: 'node' } } }),
      'sbm-h',
    );
    ids.push('sbm-h');
    expect(Object.keys(h.namespaces ?? {})).toEqual(['ipc']);
    expect(h.network).toBeUndefined();
    expect(h.state).toBe('ready');
    expect((await manager.status('sbm-h')).network).toEqual({ check: 'none' });
    expect(await readFile(h.files?.hostname as string, 'utf8')).toBe(`${os.hostname()}\n`);
    await manager.remove('sbm-h');
    expect(await footprint()).toEqual(before);
  });

  it("a caller's cgroup parent (kubelet's pod cgroup) holds the pod: used as it is when it exists, made and removed when not", async () => {
    const before = await footprint();
    const kubeletPod = `/${cgroupRoot}-kubepods/burstable/pod-uid-k`;
    const dirsOf = (rel: string): string[] =>
      [...cgroups.dirs('x').values()].map((d) => path.join(path.dirname(path.dirname(d)), rel));
    // The memory limit's file on this node's layout: v1's memory hierarchy, or v2's only one.
    const v2 = cgroups.version === 2;
    const memoryDirOf = (rel: string) => dirsOf(rel).find((d) => v2 || d.includes('/memory/'))!;
    const limitFile = v2 ? 'memory.max' : 'memory.limit_in_bytes';
    try {
      // kubelet made it: the sandbox uses it and leaves it to kubelet.
      for (const d of dirsOf(kubeletPod)) await mkdir(d, { recursive: true });
      if (v2) {
        // On v2 kubelet also delegates the controllers down to its pod cgroup.
        const mount = path.dirname(path.dirname(cgroups.dirs('x').get('unified')!));
        let dir = mount;
        for (const part of kubeletPod.split('/').filter(Boolean).slice(0, -1)) {
          dir = path.join(dir, part);
          await writeFile(path.join(dir, 'cgroup.subtree_control'), '+memory +pids +cpu');
        }
      }
      await writeFile(path.join(memoryDirOf(kubeletPod), limitFile), String(96 << 20));
      const k = await manager.create(
        podConfig('pod-k', {
          linux: { cgroupParent: kubeletPod, resources: { memoryLimitBytes: 32 << 20 } },
        }),
        'sbm-k',
      );
      ids.push('sbm-k');
      expect(k.cgroupPath).toBe(kubeletPod);
      expect(k.ownsCgroupParent).toBe(false);
      expect(cgroups.dirs('sbm-k').get(v2 ? 'unified' : 'memory')).toBeDefined();
      expect(await cgroups.exists('sbm-k')).toBe(false); // no Berth pod cgroup besides kubelet's
      const mem = memoryDirOf(kubeletPod);
      expect((await readFile(path.join(mem, limitFile), 'utf8')).trim()).toBe(String(96 << 20));
      await manager.remove('sbm-k');
      for (const d of dirsOf(kubeletPod)) expect((await readdir(d)).length).toBeGreaterThan(0);

      // Missing (another CRI client's parent): made with the pod resources, removed with the pod.
      const other = `/${cgroupRoot}-kubepods/besteffort/pod-uid-m`;
      const m = await manager.create(
        podConfig('pod-m', { linux: { cgroupParent: other, resources: { memoryLimitBytes: 32 << 20 } } }),
        'sbm-m',
      );
      ids.push('sbm-m');
      expect(m.ownsCgroupParent).toBe(true);
      const otherMem = memoryDirOf(other);
      expect((await readFile(path.join(otherMem, limitFile), 'utf8')).trim()).toBe(String(32 << 20));
      await manager.remove('sbm-m');
      for (const d of dirsOf(other)) await expect(readdir(d)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      for (const d of dirsOf(`/${cgroupRoot}-kubepods`)) {
        for (const sub of ['burstable/pod-uid-k', 'besteffort/pod-uid-m', 'burstable', 'besteffort', ''])
          await execFile('rmdir', [path.join(d, sub)]).catch(() => undefined);
      }
    }
    expect(await footprint()).toEqual(before);
  });
});
