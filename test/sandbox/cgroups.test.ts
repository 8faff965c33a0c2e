import { readFileSync } from 'node:fs';
import { readFile, readdir, rmdir, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  detectCgroupLayout,
  parseCgroupLayout,
  resourceWrites,
  sharesToWeight,
} from '../../src/sandbox/cgroup-layout.js';
import { PodCgroups } from '../../src/sandbox/cgroups.js';
import type { MountEntry } from '../../src/sandbox/mounts.js';

const root = `berth-test-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;

afterAll(async () => {
  const layout = await detectCgroupLayout();
  const mounts = layout.version === 1 ? [...layout.hierarchies.values()] : [layout.mountPoint];
  for (const m of mounts) {
    const dir = path.join(m, root);
    for (const child of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (child.isDirectory()) await rmdir(path.join(dir, child.name)).catch(() => undefined);
    }
    await rmdir(dir).catch(() => undefined);
  }
});

function mount(mountPoint: string, fsType: string, superOptions: string[]): MountEntry {
  return { mountPoint, fsType, propagation: [], superOptions };
}

describe('cgroup layout detection (pure)', () => {
  it('treats a hybrid host (v1 controllers + cgroup2 unified) as v1', () => {
    const layout = parseCgroupLayout([
      mount('/sys/fs/cgroup', 'tmpfs', ['rw', 'mode=755']),
      mount('/sys/fs/cgroup/cpu', 'cgroup', ['rw', 'cpu']),
      mount('/sys/fs/cgroup/memory', 'cgroup', ['rw', 'memory']),
      mount('/sys/fs/cgroup/systemd', 'cgroup', ['rw', 'name=systemd']),
      mount('/sys/fs/cgroup/unified', 'cgroup2', ['rw']),
    ]);
    expect(layout.version).toBe(1);
    if (layout.version === 1) {
      expect([...layout.hierarchies.keys()]).toEqual(['cpu', 'memory', 'name=systemd']);
    }
  });

  it('treats cgroup2 at /sys/fs/cgroup as unified v2', () => {
    expect(parseCgroupLayout([mount('/sys/fs/cgroup', 'cgroup2', ['rw', 'nsdelegate'])])).toEqual({
      version: 2,
      mountPoint: '/sys/fs/cgroup',
    });
  });

  it('fails clearly with no cgroup mounted', () => {
    expect(() => parseCgroupLayout([mount('/', 'ext4', ['rw'])])).toThrow(/no cgroup hierarchy is mounted/);
  });

  it('translates resources for v1 and v2 (period before quota; shares to weight as runc does)', () => {
    const r = { cpuShares: 512, cpuQuota: 50000, cpuPeriod: 100000, memoryLimitBytes: 64 << 20 };
    expect(resourceWrites(1, r).map((w) => `${w.hierarchy}/${w.file}=${w.value}`)).toEqual([
      'cpu/cpu.shares=512',
      'cpu/cpu.cfs_period_us=100000',
      'cpu/cpu.cfs_quota_us=50000',
      `memory/memory.limit_in_bytes=${64 << 20}`,
    ]);
    expect(resourceWrites(2, r).map((w) => `${w.file}=${w.value}`)).toEqual([
      `cpu.weight=${sharesToWeight(512)}`,
      'cpu.max=50000 100000',
      `memory.max=${64 << 20}`,
    ]);
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(resourceWrites(2, { cpuQuota: -1 })[0]?.value).toBe('max 100000');
  });
});

/** This node's layout as its mount table says: v1 here (a hybrid host), v2 in the cgroup v2 guest. */
const nodeVersion = / \/sys\/fs\/cgroup [^-]* - cgroup2 /m.test(readFileSync('/proc/self/mountinfo', 'utf8'))
  ? 2
  : 1;
/** The hierarchy a v1 controller's files are in: the controller's own, or v2's single one. */
const hierarchy = (v1Controller: string) => (nodeVersion === 2 ? 'unified' : v1Controller);

describe('PodCgroups on this host', () => {
  it(`detects this machine's layout from its mount table (v${nodeVersion})`, async () => {
    const cg = await PodCgroups.detect(root);
    expect(cg.version).toBe(nodeVersion);
  });

  it('creates the pod cgroup in every hierarchy with the resources applied', async () => {
    const cg = await PodCgroups.detect(root);
    const rel = await cg.create('res1', {
      cpuShares: 256,
      cpuQuota: 20000,
      cpuPeriod: 50000,
      memoryLimitBytes: 32 << 20,
    });
    expect(rel).toBe(`/${root}/pod-res1`);
    const dirs = cg.dirs('res1');
    for (const dir of dirs.values()) expect((await readdir(dir)).length).toBeGreaterThan(0);
    const read = (v1Controller: string, file: string) =>
      readFile(path.join(dirs.get(hierarchy(v1Controller)) as string, file), 'utf8').then((t) => t.trim());
    if (nodeVersion === 2) {
      expect(await read('cpu', 'cpu.weight')).toBe(String(sharesToWeight(256)));
      expect(await read('cpu', 'cpu.max')).toBe('20000 50000');
      expect(await read('memory', 'memory.max')).toBe(String(32 << 20));
      expect(await read('cpuset', 'cpuset.cpus.effective')).not.toBe('');
    } else {
      expect(await read('cpu', 'cpu.shares')).toBe('256');
      expect(await read('cpu', 'cpu.cfs_quota_us')).toBe('20000');
      expect(await read('cpu', 'cpu.cfs_period_us')).toBe('50000');
      expect(await read('memory', 'memory.limit_in_bytes')).toBe(String(32 << 20));
      expect(await read('cpuset', 'cpuset.cpus')).not.toBe('');
    }
    // Idempotent: creating again re-applies and succeeds.
    await cg.create('res1', { cpuShares: 256 });
    await cg.remove('res1');
    expect(await cg.exists('res1')).toBe(false);
  });

  it('remove is idempotent', async () => {
    const cg = await PodCgroups.detect(root);
    await cg.remove('never');
    await cg.create('twice');
    await cg.remove('twice');
    await cg.remove('twice');
    expect(await cg.exists('twice')).toBe(false);
  });

  it('refuses to remove a pod cgroup with a process inside, naming the pid', async () => {
    const cg = await PodCgroups.detect(root);
    await cg.create('busy');
    const pidsDir = cg.dirs('busy').get(hierarchy('pids')) as string;
    const { spawn } = await import('node:child_process');
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = child.pid as number;
    const exited = new Promise((r) => child.on('exit', r));
    try {
      await writeFile(path.join(pidsDir, 'cgroup.procs'), String(pid));
      await expect(cg.remove('busy')).rejects.toThrow(new RegExp(`still has processes ${pid}`));
      expect(await cg.exists('busy')).toBe(true);
    } finally {
      // Move it back to the hierarchy's root cgroup, then stop it.
      await writeFile(path.join(path.dirname(path.dirname(pidsDir)), 'cgroup.procs'), String(pid));
      child.kill('SIGKILL');
      await exited;
    }
    await cg.remove('busy');
  });

  it('refuses to remove a pod cgroup with a child cgroup, naming it', async () => {
    const cg = await PodCgroups.detect(root);
    await cg.create('parent');
    const child = path.join(cg.dirs('parent').get(hierarchy('memory')) as string, 'ctr-a');
    await mkdir(child);
    await expect(cg.remove('parent')).rejects.toMatchObject({
      code: 'failed_precondition',
      message: expect.stringMatching(/child cgroups ctr-a/),
    });
    await rmdir(child);
    await cg.remove('parent');
  });

  it('rejects invalid resources before creating anything', async () => {
    const cg = await PodCgroups.detect(root);
    await expect(cg.create('bad', { cpuShares: 1 })).rejects.toThrow(/resources.cpuShares 1 is invalid/);
    await expect(cg.create('bad', { cpuPeriod: 10 })).rejects.toThrow(/resources.cpuPeriod/);
    await expect(cg.create('bad', { cpuQuota: 5 })).rejects.toThrow(/resources.cpuQuota/);
    await expect(cg.create('bad', { memoryLimitBytes: -3 })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
    expect(await cg.exists('bad')).toBe(false);
  });
});
