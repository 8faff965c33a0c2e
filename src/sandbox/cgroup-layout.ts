/**
 * The host's cgroup layout (v1 hierarchies or one unified v2 hierarchy, read from the mount table)
 * and how pod-level resources map to interface files on each. Pure apart from the mount table
 * read, so both layouts are unit-tested on either host; PodCgroups (cgroups.ts) writes them.
 */
import { FailedPreconditionError, InvalidArgumentError } from '../common/errors.js';
import { readMounts, type MountEntry } from './mounts.js';

/** Pod-level limits from the sandbox request; 0 or absent means "not set". */
export interface PodResources {
  /** Relative CPU weight, cgroup v1 units (2..262144). */
  cpuShares?: number;
  /** CFS quota in microseconds per period; -1 means unlimited. */
  cpuQuota?: number;
  /** CFS period in microseconds (1000..1000000). */
  cpuPeriod?: number;
  /** Hard memory limit in bytes. */
  memoryLimitBytes?: number;
}

/** The cgroup hierarchies of this host, as the cgroupfs driver sees them. */
export type CgroupLayout =
  | {
      version: 1;
      /** Mount path of each v1 hierarchy, keyed by its first controller or `name=` */ hierarchies: Map<
        string,
        string
      >;
    }
  | { version: 2; mountPoint: string };

/** One value to write into one cgroup interface file. */
export interface CgroupWrite {
  /** The v1 hierarchy key (`cpu`, `memory`); `unified` on v2. */
  hierarchy: string;
  file: string;
  value: string;
}

/** Decides v1 or v2 from mount entries; pure so both layouts can be unit-tested on either host. */
export function parseCgroupLayout(mounts: readonly MountEntry[]): CgroupLayout {
  const unifiedRoot = mounts.find((m) => m.fsType === 'cgroup2' && m.mountPoint === '/sys/fs/cgroup');
  if (unifiedRoot) return { version: 2, mountPoint: unifiedRoot.mountPoint };
  const hierarchies = new Map<string, string>();
  for (const m of mounts) {
    if (m.fsType !== 'cgroup') continue;
    const names = m.superOptions.filter(
      (o) => !['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec'].includes(o),
    );
    const key = names.find(
      (n) => !n.startsWith('release_agent=') && n !== 'clone_children' && n !== 'noprefix',
    );
    if (key !== undefined && !hierarchies.has(key)) hierarchies.set(key, m.mountPoint);
  }
  if (hierarchies.size === 0) {
    throw new FailedPreconditionError(
      'no cgroup hierarchy is mounted (neither cgroup2 at /sys/fs/cgroup nor any cgroup v1)',
    );
  }
  return { version: 1, hierarchies };
}

/** Reads the host's cgroup layout from /proc/self/mountinfo. */
export async function detectCgroupLayout(): Promise<CgroupLayout> {
  return parseCgroupLayout(await readMounts());
}

function checkInt(name: string, v: number | undefined, ok: (n: number) => boolean, rule: string): void {
  if (v === undefined || v === 0) return;
  if (!Number.isSafeInteger(v) || !ok(v)) {
    throw new InvalidArgumentError(`resources.${name} ${v} is invalid: ${rule}`);
  }
}

/** Rejects pod resources the kernel would refuse, naming the field. */
export function validatePodResources(r: PodResources): void {
  checkInt('cpuShares', r.cpuShares, (n) => n >= 2 && n <= 262144, 'must be between 2 and 262144');
  checkInt(
    'cpuQuota',
    r.cpuQuota,
    (n) => n === -1 || n >= 1000,
    'must be -1 (unlimited) or at least 1000 microseconds',
  );
  checkInt(
    'cpuPeriod',
    r.cpuPeriod,
    (n) => n >= 1000 && n <= 1_000_000,
    'must be between 1000 and 1000000 microseconds',
  );
  checkInt('memoryLimitBytes', r.memoryLimitBytes, (n) => n > 0, 'must be a positive number of bytes');
}

/** Converts v1 cpu shares to a v2 cpu.weight the way runc does, so both hosts weigh pods alike. */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** The interface files to write for the given resources, in the order the kernel accepts them. */
export function resourceWrites(version: 1 | 2, r: PodResources): CgroupWrite[] {
  const writes: CgroupWrite[] = [];
  const set = (n: number | undefined): n is number => n !== undefined && n !== 0;
  if (version === 1) {
    if (set(r.cpuShares)) writes.push({ hierarchy: 'cpu', file: 'cpu.shares', value: String(r.cpuShares) });
    // Period first: a quota is checked against the current period.
    if (set(r.cpuPeriod))
      writes.push({ hierarchy: 'cpu', file: 'cpu.cfs_period_us', value: String(r.cpuPeriod) });
    if (set(r.cpuQuota))
      writes.push({ hierarchy: 'cpu', file: 'cpu.cfs_quota_us', value: String(r.cpuQuota) });
    if (set(r.memoryLimitBytes)) {
      writes.push({ hierarchy: 'memory', file: 'memory.limit_in_bytes', value: String(r.memoryLimitBytes) });
    }
    return writes;
  }
  if (set(r.cpuShares))
    writes.push({ hierarchy: 'unified', file: 'cpu.weight', value: String(sharesToWeight(r.cpuShares)) });
  if (set(r.cpuQuota) || set(r.cpuPeriod)) {
    const quota = set(r.cpuQuota) && r.cpuQuota > 0 ? String(r.cpuQuota) : 'max';
    writes.push({
      hierarchy: 'unified',
      file: 'cpu.max',
      value: `${quota} ${set(r.cpuPeriod) ? r.cpuPeriod : 100000}`,
    });
  }
  if (set(r.memoryLimitBytes))
    writes.push({ hierarchy: 'unified', file: 'memory.max', value: String(r.memoryLimitBytes) });
  return writes;
}
