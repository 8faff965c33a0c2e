/**
 * Reading and removing container cgroups (cgroupfs driver) on v1, hybrid and v2 hosts.
 * A container's cgroupsPath `/a/b` lives at `<mount>/a/b` for each v1 controller, or at `/sys/fs/cgroup/a/b` on v2.
 */
import { readdir, readFile, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export const CGROUP_ROOT = '/sys/fs/cgroup';
const V1_CONTROLLERS = [
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'devices',
  'freezer',
  'blkio',
  'pids',
  'hugetlb',
  'systemd',
];

let unified: Promise<boolean> | undefined;

/** True on a pure cgroup v2 host (the hierarchy root has cgroup.controllers). */
export function isCgroupV2(): Promise<boolean> {
  unified ??= stat(join(CGROUP_ROOT, 'cgroup.controllers')).then(
    () => true,
    () => false,
  );
  return unified;
}

/** Directories making up the cgroup `path` (one per v1 controller mount, or one on v2), existing or not. */
export async function cgroupDirs(path: string): Promise<string[]> {
  if (await isCgroupV2()) return [join(CGROUP_ROOT, path)];
  const mounted = new Set(await readdir(CGROUP_ROOT).catch(() => [] as string[]));
  const dirs = V1_CONTROLLERS.filter((c) => mounted.has(c)).map((c) => join(CGROUP_ROOT, c, path));
  if (mounted.has('unified')) dirs.push(join(CGROUP_ROOT, 'unified', path));
  return dirs;
}

/**
 * Removes the cgroup `path` and then its ancestors up to (not including) `stopAt` where they are empty.
 * Missing directories are fine; a cgroup that still has processes is left and reported.
 */
export async function removeCgroup(path: string, stopAt = '/'): Promise<void> {
  const chain: string[] = [];
  for (let p = path; p !== '/' && p !== '' && p !== stopAt; p = p.slice(0, p.lastIndexOf('/')) || '/')
    chain.push(p);
  const failures: string[] = [];
  for (const p of chain) {
    for (const dir of await cgroupDirs(p)) {
      try {
        await rmdir(dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && p === path) failures.push(`${dir}: ${code}`);
      }
    }
  }
  if (failures.length > 0) throw new Error(`cannot remove cgroup ${path}: ${failures.join(', ')}`);
}

async function readNumber(file: string): Promise<number | undefined> {
  try {
    const text = (await readFile(file, 'utf8')).trim();
    if (text === 'max') return Infinity;
    const n = Number(text);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Parses `key value` lines (memory.stat, cpu.stat, memory.oom_control, memory.events). */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out.set(k, Number(v));
  }
  return out;
}

async function readKeyed(file: string): Promise<Map<string, number>> {
  return parseFlatKeyed(await readFile(file, 'utf8').catch(() => ''));
}

/** Resource usage of a container, read from its cgroup. */
export interface CgroupStats {
  /** Cumulative CPU time in nanoseconds. */
  cpuUsageNanos: number;
  memoryUsageBytes: number;
  /** Usage minus inactive file cache: what the kubelet evicts on. */
  memoryWorkingSetBytes: number;
  pidsCurrent: number;
  /** OOM kills counted in this cgroup. */
  oomKills: number;
  /** Bytes read from and written to block devices, summed over devices; absent when not accounted. */
  ioReadBytes?: number;
  ioWriteBytes?: number;
}

/** Sums v2 `io.stat` (`MAJ:MIN rbytes=N wbytes=N ...` per device). */
export function parseIoStatV2(text: string): { read: number; write: number } | undefined {
  if (text.trim() === '') return undefined;
  let read = 0;
  let write = 0;
  for (const line of text.split('\n')) {
    for (const field of line.split(/\s+/).slice(1)) {
      const [key, value] = field.split('=');
      if (key === 'rbytes') read += Number(value) || 0;
      else if (key === 'wbytes') write += Number(value) || 0;
    }
  }
  return { read, write };
}

/** Sums v1 `blkio.throttle.io_service_bytes` (`MAJ:MIN Read N` per device, then `Total N`). */
export function parseBlkioV1(text: string): { read: number; write: number } | undefined {
  if (text.trim() === '') return undefined;
  let read = 0;
  let write = 0;
  for (const line of text.split('\n')) {
    const [device, op, value] = line.trim().split(/\s+/);
    if (device === undefined || !device.includes(':')) continue;
    if (op === 'Read') read += Number(value) || 0;
    else if (op === 'Write') write += Number(value) || 0;
  }
  return { read, write };
}

function ioFields(io: { read: number; write: number } | undefined): {
  ioReadBytes?: number;
  ioWriteBytes?: number;
} {
  return io ? { ioReadBytes: io.read, ioWriteBytes: io.write } : {};
}

/** Working set as the kubelet computes it: usage minus inactive file pages, never negative. */
export function workingSet(usage: number, inactiveFile: number): number {
  return Math.max(0, usage - inactiveFile);
}

/** Reads cgroup stats for `path`; undefined when the cgroup does not exist. */
export async function readCgroupStats(path: string): Promise<CgroupStats | undefined> {
  return readCgroupStatsAt(CGROUP_ROOT, await isCgroupV2(), path);
}

/** Like readCgroupStats, for a hierarchy mounted at `root` (v1: one directory per controller under it). */
export async function readCgroupStatsAt(
  root: string,
  v2: boolean,
  path: string,
): Promise<CgroupStats | undefined> {
  if (v2) {
    const dir = join(root, path);
    if (!(await stat(dir).catch(() => undefined))) return undefined;
    const [cpu, mem, memStat, pids, events, io] = await Promise.all([
      readKeyed(join(dir, 'cpu.stat')),
      readNumber(join(dir, 'memory.current')),
      readKeyed(join(dir, 'memory.stat')),
      readNumber(join(dir, 'pids.current')),
      readKeyed(join(dir, 'memory.events')),
      readFile(join(dir, 'io.stat'), 'utf8').catch(() => ''),
    ]);
    const usage = mem ?? 0;
    return {
      cpuUsageNanos: (cpu.get('usage_usec') ?? 0) * 1000,
      memoryUsageBytes: usage,
      memoryWorkingSetBytes: workingSet(usage, memStat.get('inactive_file') ?? 0),
      pidsCurrent: pids ?? 0,
      oomKills: events.get('oom_kill') ?? 0,
      ...ioFields(parseIoStatV2(io)),
    };
  }
  const memDir = join(root, 'memory', path);
  if (!(await stat(memDir).catch(() => undefined))) return undefined;
  const [cpu, usage, memStat, pids, oom, blkio] = await Promise.all([
    readNumber(join(root, 'cpuacct', path, 'cpuacct.usage')),
    readNumber(join(memDir, 'memory.usage_in_bytes')),
    readKeyed(join(memDir, 'memory.stat')),
    readNumber(join(root, 'pids', path, 'pids.current')),
    readKeyed(join(memDir, 'memory.oom_control')),
    readFile(join(root, 'blkio', path, 'blkio.throttle.io_service_bytes'), 'utf8').catch(() => ''),
  ]);
  return {
    cpuUsageNanos: cpu ?? 0,
    memoryUsageBytes: usage ?? 0,
    memoryWorkingSetBytes: workingSet(usage ?? 0, memStat.get('total_inactive_file') ?? 0),
    pidsCurrent: pids ?? 0,
    oomKills: oom.get('oom_kill') ?? 0,
    ...ioFields(parseBlkioV1(blkio)),
  };
}

/** Whether the cgroup is frozen or freezing (v1 freezer, v2 `cgroup.freeze`); false when it does not exist. */
export async function isFrozen(path: string): Promise<boolean> {
  try {
    if (await isCgroupV2())
      return (await readFile(join(CGROUP_ROOT, path, 'cgroup.freeze'), 'utf8')).trim() === '1';
    return (await readFile(join(CGROUP_ROOT, 'freezer', path, 'freezer.state'), 'utf8')).trim() !== 'THAWED';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Reads one cgroup file of a controller (v1) or the unified hierarchy (v2); for tests and diagnostics. */
export async function readCgroupFile(path: string, controller: string, file: string): Promise<string> {
  const dir = (await isCgroupV2()) ? join(CGROUP_ROOT, path) : join(CGROUP_ROOT, controller, path);
  return (await readFile(join(dir, file), 'utf8')).trim();
}
