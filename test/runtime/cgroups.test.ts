import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFlatKeyed, readCgroupStatsAt, workingSet } from '../../src/runtime/cgroups.js';

// The v1 path is also exercised on this (hybrid) host by task.test.ts; v2 files are laid out here as the
// kernel writes them, since this machine has no pure cgroup v2 hierarchy to run a container in.
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-cgroups-'));
  const v2 = join(root, 'v2', 'pod', 'c1');
  await mkdir(v2, { recursive: true });
  await writeFile(join(v2, 'cpu.stat'), 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n');
  await writeFile(join(v2, 'memory.current'), '10485760\n');
  await writeFile(
    join(v2, 'memory.stat'),
    'anon 4194304\nfile 6291456\ninactive_file 2097152\nactive_file 4194304\n',
  );
  await writeFile(join(v2, 'pids.current'), '3\n');
  await writeFile(join(v2, 'memory.events'), 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n');
  for (const [ctrl, file, text] of [
    ['cpuacct', 'cpuacct.usage', '2500000\n'],
    ['memory', 'memory.usage_in_bytes', '8388608\n'],
    ['memory', 'memory.stat', 'cache 100\ninactive_file 1\ntotal_inactive_file 1048576\n'],
    ['memory', 'memory.oom_control', 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n'],
    ['pids', 'pids.current', '5\n'],
  ] as const) {
    await mkdir(join(root, 'v1', ctrl, 'pod', 'c1'), { recursive: true });
    await writeFile(join(root, 'v1', ctrl, 'pod', 'c1', file), text);
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('cgroup stats', () => {
  it('reads v2: cpu usage in ns, working set = current - inactive_file, pids, oom kills', async () => {
    expect(await readCgroupStatsAt(join(root, 'v2'), true, '/pod/c1')).toEqual({
      cpuUsageNanos: 1_500_000,
      memoryUsageBytes: 10485760,
      memoryWorkingSetBytes: 10485760 - 2097152,
      pidsCurrent: 3,
      oomKills: 1,
    });
  });

  it('reads v1 across controller hierarchies, using the hierarchical total_inactive_file', async () => {
    expect(await readCgroupStatsAt(join(root, 'v1'), false, '/pod/c1')).toEqual({
      cpuUsageNanos: 2_500_000,
      memoryUsageBytes: 8388608,
      memoryWorkingSetBytes: 8388608 - 1048576,
      pidsCurrent: 5,
      oomKills: 2,
    });
  });

  it('is undefined for a cgroup that does not exist', async () => {
    expect(await readCgroupStatsAt(join(root, 'v2'), true, '/pod/none')).toBeUndefined();
    expect(await readCgroupStatsAt(join(root, 'v1'), false, '/pod/none')).toBeUndefined();
  });

  it('never reports a negative working set and parses keyed files', () => {
    expect(workingSet(100, 500)).toBe(0);
    expect(parseFlatKeyed('a 1\nb x\n c 3 \n')).toEqual(
      new Map([
        ['a', 1],
        ['c', 3],
      ]),
    );
  });
});
