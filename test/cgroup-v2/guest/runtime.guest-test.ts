/**
 * Berth's cgroup code on a pure cgroup v2 node: runs only inside the qemu guest of
 * test/cgroup-v2/vm.ts (test/cgroup-v2/vm.test.ts boots it), where /sys/fs/cgroup is cgroup2 with
 * every controller delegated. Real runc containers under TaskManager and pod cgroups under
 * PodCgroups: limits as cgroup v2 files, freeze and thaw, kill, OOM, stats, removal, and a leak
 * check on the v2 paths. Every check reads the v2 files themselves: on any other layout the first
 * test fails rather than letting the rest pass on nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CGROUP_ROOT, isCgroupV2 } from '../../../src/runtime/cgroups.js';
import { detectCgroupLayout } from '../../../src/sandbox/cgroup-layout.js';
import { PodCgroups } from '../../../src/sandbox/cgroups.js';
import { runtimeFixture, uniqueId, type RuntimeFixture } from '../../runtime/helpers.js';

let fx: RuntimeFixture;
const cgroupFile = (path: string, file: string) => readFile(join(CGROUP_ROOT, path, file), 'utf8');

/** cgroup directories under `parent` (relative to the v2 root), depth first. */
async function cgroupsUnder(parent: string): Promise<string[]> {
  const dir = join(CGROUP_ROOT, parent);
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => join(e.parentPath, e.name).slice(CGROUP_ROOT.length));
}

beforeAll(async () => {
  fx = await runtimeFixture('v2');
}, 300_000);

afterAll(async () => {
  await fx?.cleanup();
});

describe('a pure cgroup v2 node', () => {
  it('has only cgroup2 mounted, at /sys/fs/cgroup, with cpu, memory, pids and io delegated', async () => {
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
    const cgroupMounts = mounts.filter((l) => / - cgroup2? /.test(l));
    expect(cgroupMounts).toHaveLength(1);
    expect(cgroupMounts[0]).toMatch(/ \/sys\/fs\/cgroup .* - cgroup2 /);
    expect(await isCgroupV2()).toBe(true);
    expect((await detectCgroupLayout()).version).toBe(2);
    const delegated = (await cgroupFile('', 'cgroup.subtree_control')).split(/\s+/);
    for (const c of ['cpu', 'memory', 'pids', 'io']) expect(delegated).toContain(c);
  });
});

describe('containers under runc on cgroup v2', () => {
  it('writes cpu.max, cpu.weight, memory.max and pids.max from the request, and stats read them back', async () => {
    const id = uniqueId('limits');
    await fx.run(id, {
      args: ['sh', '-c', 'echo up; sleep 600 & wait'],
      resources: {
        cpuQuota: 50_000,
        cpuPeriod: 100_000,
        cpuShares: 512,
        memoryLimitBytes: 64 << 20,
        pidsLimit: 32,
      },
    });
    const path = await fx.manager.cgroupPath(id);
    expect(path.startsWith(fx.cgroupParent)).toBe(true);
    expect((await cgroupFile(path, 'cpu.max')).trim()).toBe('50000 100000');
    expect((await cgroupFile(path, 'memory.max')).trim()).toBe(String(64 << 20));
    expect((await cgroupFile(path, 'pids.max')).trim()).toBe('32');
    // runc maps shares to weight (1 + (shares - 2) * 9999 / 262142): 512 → 20.
    expect((await cgroupFile(path, 'cpu.weight')).trim()).toBe('20');
    await expect.poll(() => fx.logText(id), { timeout: 60_000 }).toContain('up');
    const stats = await fx.manager.stats(id);
    expect(stats.cpuUsageNanos).toBeGreaterThan(0);
    expect(stats.memoryWorkingSetBytes).toBeGreaterThan(0);
    expect(stats.pidsCurrent).toBeGreaterThanOrEqual(2);
    await fx.manager.update(id, { memoryLimitBytes: 96 << 20, pidsLimit: 64 });
    expect((await cgroupFile(path, 'memory.max')).trim()).toBe(String(96 << 20));
    expect((await cgroupFile(path, 'pids.max')).trim()).toBe('64');
  }, 300_000);

  it('freezes and thaws through cgroup.freeze, and a kill ends a frozen task with 137', async () => {
    const id = uniqueId('freeze');
    await fx.run(id, { args: ['sleep', '600'] });
    const path = await fx.manager.cgroupPath(id);
    await fx.manager.pause(id);
    expect(await fx.manager.frozen(id)).toBe(true);
    expect(await cgroupFile(path, 'cgroup.events')).toMatch(/^frozen 1$/m);
    await fx.manager.resume(id);
    expect(await cgroupFile(path, 'cgroup.events')).toMatch(/^frozen 0$/m);
    await fx.manager.pause(id);
    const exit = await fx.manager.stop(id, 5_000);
    expect(exit.exitCode).toBe(137);
  }, 300_000);

  it('detects an OOM kill from memory.events: exit 137 with oomKilled', async () => {
    const id = uniqueId('oom');
    // A shell that doubles a string until the 16 MiB limit kills it.
    await fx.run(id, {
      args: ['sh', '-c', 'x=xxxxxxxxxxxxxxxx; while true; do x="$x$x"; done'],
      resources: { memoryLimitBytes: 16 << 20, memorySwapLimitBytes: 16 << 20 },
    });
    const exit = await fx.manager.wait(id, 240_000);
    expect(exit?.exitCode).toBe(137);
    const read = await fx.manager.readExit(id);
    expect(read?.oomKilled).toBe(true);
    const path = await fx.manager.cgroupPath(id);
    expect(await cgroupFile(path, 'memory.events')).toMatch(/^oom_kill [1-9]/m);
  }, 300_000);

  it('deleting the tasks removes their cgroups: nothing is left under the parent', async () => {
    for (const id of await readdir(join(fx.dir, 'state', 'tasks'))) await fx.manager.delete(id, true);
    expect(await cgroupsUnder(fx.cgroupParent)).toEqual([]);
  }, 300_000);
});

describe('pod cgroups on cgroup v2', () => {
  const root = `berth-v2-guest-${process.pid}`;
  let pods: PodCgroups;

  beforeAll(async () => {
    pods = await PodCgroups.detect(root);
  });

  it('creates a pod cgroup with its limits as v2 files; its containers get their controllers; removal waits for them, then leaves nothing', async () => {
    expect(pods.version).toBe(2);
    const id = uniqueId('pod');
    const path = await pods.create(id, {
      cpuQuota: 20_000,
      cpuPeriod: 100_000,
      cpuShares: 1024,
      memoryLimitBytes: 128 << 20,
    });
    expect((await cgroupFile(path, 'cpu.max')).trim()).toBe('20000 100000');
    expect((await cgroupFile(path, 'memory.max')).trim()).toBe(String(128 << 20));
    const ctr = uniqueId('in-pod');
    await fx.run(ctr, {
      args: ['sleep', '600'],
      cgroupParent: path,
      resources: { memoryLimitBytes: 32 << 20 },
    });
    const ctrPath = await fx.manager.cgroupPath(ctr);
    expect(ctrPath.startsWith(`${path}/`)).toBe(true);
    // runc delegated the controllers down through the pod: the container's own limit is a file.
    expect((await cgroupFile(ctrPath, 'memory.max')).trim()).toBe(String(32 << 20));
    const [pid] = await pods.pids(id).catch(() => [] as number[]);
    await expect(pods.remove(id)).rejects.toThrow(pid === undefined ? /in-pod/ : new RegExp(`${pid}|in-pod`));
    await fx.manager.delete(ctr, true);
    await pods.remove(id);
    await pods.remove(id); // idempotent
    expect(existsSync(join(CGROUP_ROOT, path))).toBe(false);
    await pods.removeParent(`/${root}`);
    expect(await cgroupsUnder(`/${root}`)).toEqual([]);
    expect(existsSync(join(CGROUP_ROOT, root))).toBe(false);
  }, 300_000);
});
