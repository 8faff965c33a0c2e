/**
 * Facts about the host that bound what a container may be given: the daemon's capability bounding set,
 * whether it can lower oom_score_adj (CAP_SYS_RESOURCE), its own hard rlimits, and whether the OCI
 * runtime can set hugepage limits.
 */
import { readFile } from 'node:fs/promises';
import { ALL_CAPABILITIES } from './spec-capabilities.js';

/** What the spec generator needs to know about the host; detect with `detectHostFacts`, or build one in unit tests. */
export interface HostFacts {
  /** Capability names (`CAP_…`) in the daemon's bounding set: a container can never hold more. */
  boundingCapabilities: ReadonlySet<string>;
  /** False without CAP_SYS_RESOURCE: then oom_score_adj cannot go below the daemon's own value. */
  canLowerOomScoreAdj: boolean;
  /** The daemon's own /proc/self/oom_score_adj. */
  ownOomScoreAdj: number;
  /** Hard limits by OCI name (`RLIMIT_NOFILE`); Infinity when unlimited. Without CAP_SYS_RESOURCE they cannot be raised. */
  hardRlimits: ReadonlyMap<string, number>;
  /** True when the daemon may raise hard rlimits (CAP_SYS_RESOURCE). */
  canRaiseRlimits: boolean;
  /** `x86_64`, `aarch64`, …: picks the seccomp architectures. */
  arch: string;
  /**
   * True when runc can set hugepage limits: hugetlb is a v1 hierarchy, or a controller of a unified
   * (cgroup v2 only) host. On a hybrid host with hugetlb on the `unified` mount it is not.
   */
  hugetlbController: boolean;
}

const CAP_SYS_RESOURCE_BIT = 24;

/** Capability names present in a /proc/<pid>/status hex mask. */
export function capabilitiesFromMask(hex: string): Set<string> {
  const mask = BigInt(`0x${hex}`);
  const names = new Set<string>();
  ALL_CAPABILITIES.forEach((name, bit) => {
    if ((mask >> BigInt(bit)) & 1n) names.add(name);
  });
  return names;
}

/** Parses /proc/self/status for CapBnd and CapEff. */
export function parseCapabilityStatus(status: string): { bounding: string; effective: string } {
  const field = (name: string): string => {
    const m = new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(status);
    if (!m?.[1]) throw new Error(`/proc/self/status has no ${name} line`);
    return m[1];
  };
  return { bounding: field('CapBnd'), effective: field('CapEff') };
}

const LIMIT_NAMES: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU',
  'Max file size': 'RLIMIT_FSIZE',
  'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK',
  'Max core file size': 'RLIMIT_CORE',
  'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC',
  'Max open files': 'RLIMIT_NOFILE',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/** Parses /proc/self/limits into hard limits by OCI rlimit name. */
export function parseHardLimits(limits: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of limits.split('\n')) {
    for (const [label, name] of Object.entries(LIMIT_NAMES)) {
      if (!line.startsWith(label)) continue;
      const cols = line.slice(label.length).trim().split(/\s+/);
      const hard = cols[1];
      if (hard !== undefined) out.set(name, hard === 'unlimited' ? Infinity : Number(hard));
    }
  }
  return out;
}

/**
 * Whether hugetlb limits can be set, from /proc/self/mountinfo and, on a unified host, the root's
 * cgroup.controllers. runc uses v1 hierarchies whenever /sys/fs/cgroup is not cgroup2 itself.
 */
export function hugetlbAvailable(mountinfo: string, rootControllers: string | undefined): boolean {
  let unifiedRoot = false;
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mountPoint = left.split(' ')[4];
    const [fsType, , superOptions = ''] = right.split(' ');
    if (fsType === 'cgroup' && superOptions.split(',').includes('hugetlb')) return true;
    if (fsType === 'cgroup2' && mountPoint === '/sys/fs/cgroup') unifiedRoot = true;
  }
  return unifiedRoot && (rootControllers ?? '').split(/\s+/).includes('hugetlb');
}

let cached: Promise<HostFacts> | undefined;

/** Reads the daemon's own capabilities, oom_score_adj and limits from /proc (once per process). */
export function detectHostFacts(): Promise<HostFacts> {
  cached ??= (async () => {
    const [status, oom, limits, mountinfo, rootControllers] = await Promise.all([
      readFile('/proc/self/status', 'utf8'),
      readFile('/proc/self/oom_score_adj', 'utf8'),
      readFile('/proc/self/limits', 'utf8'),
      readFile('/proc/self/mountinfo', 'utf8'),
      readFile('/sys/fs/cgroup/cgroup.controllers', 'utf8').catch(() => undefined),
    ]);
    const caps = parseCapabilityStatus(status);
    const effective = BigInt(`0x${caps.effective}`);
    const hasSysResource = ((effective >> BigInt(CAP_SYS_RESOURCE_BIT)) & 1n) === 1n;
    return {
      boundingCapabilities: capabilitiesFromMask(caps.bounding),
      canLowerOomScoreAdj: hasSysResource,
      ownOomScoreAdj: Number(oom.trim()),
      hardRlimits: parseHardLimits(limits),
      canRaiseRlimits: hasSysResource,
      arch: process.arch === 'arm64' ? 'aarch64' : process.arch === 'x64' ? 'x86_64' : process.arch,
      hugetlbController: hugetlbAvailable(mountinfo, rootControllers),
    };
  })();
  return cached;
}
