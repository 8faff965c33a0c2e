/** Cgroup resources, sysctls, rlimits, oom_score_adj and devices, each validated before runc sees them. */
import { posix } from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../common/errors.js';
import type { HostFacts } from './host.js';
import type { OciDevice, OciDeviceCgroup, OciResources, OciRlimit } from './oci-types.js';
import type { ResourceRequest, RlimitRequest, SandboxNamespaces } from './spec-request.js';

const MIB = 1024 * 1024;
/** Below this the container cannot even start its init: treat it as a mistake, not a limit. */
export const MIN_MEMORY_LIMIT = 4 * MIB;
const CPUSET = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;
const PAGE_SIZE = /^\d+(KB|MB|GB)$/;

function integerIn(value: number, min: number, max: number, field: string, what: string): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${field}: ${value} is out of range (${what})`);
  }
  return value;
}

/** Validates a resource request and maps it to OCI `linux.resources` (devices are added by the caller). */
export function buildResources(r: ResourceRequest | undefined): OciResources {
  const out: OciResources = {};
  if (!r) return out;
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (r.cpuShares !== undefined)
    cpu.shares = integerIn(r.cpuShares, 2, 262144, 'resources.cpuShares', '2..262144');
  if (r.cpuPeriod !== undefined) {
    cpu.period = integerIn(r.cpuPeriod, 1000, 1_000_000, 'resources.cpuPeriod', '1000..1000000 µs');
  }
  if (r.cpuQuota !== undefined && r.cpuQuota !== -1 && r.cpuQuota !== 0) {
    cpu.quota = integerIn(
      r.cpuQuota,
      1000,
      Number.MAX_SAFE_INTEGER,
      'resources.cpuQuota',
      '-1 or at least 1000 µs',
    );
  }
  for (const [field, value] of [
    ['cpusetCpus', r.cpusetCpus],
    ['cpusetMems', r.cpusetMems],
  ] as const) {
    if (value === undefined || value === '') continue;
    if (!CPUSET.test(value)) {
      throw new InvalidArgumentError(`resources.${field}: "${value}" is not a CPU list such as 0-1 or 0,2`);
    }
    if (field === 'cpusetCpus') cpu.cpus = value;
    else cpu.mems = value;
  }
  if (Object.keys(cpu).length > 0) out.cpu = cpu;

  if (r.memoryLimitBytes !== undefined && r.memoryLimitBytes !== 0) {
    const limit = integerIn(
      r.memoryLimitBytes,
      MIN_MEMORY_LIMIT,
      Number.MAX_SAFE_INTEGER,
      'resources.memoryLimitBytes',
      `at least ${MIN_MEMORY_LIMIT} bytes`,
    );
    out.memory = { limit };
    if (r.memorySwapLimitBytes !== undefined && r.memorySwapLimitBytes !== 0) {
      if (r.memorySwapLimitBytes !== -1 && r.memorySwapLimitBytes < limit) {
        throw new InvalidArgumentError(
          `resources.memorySwapLimitBytes: ${r.memorySwapLimitBytes} is below the memory limit ${limit} (it counts memory plus swap)`,
        );
      }
      out.memory.swap = r.memorySwapLimitBytes;
    }
  } else if (r.memorySwapLimitBytes !== undefined && r.memorySwapLimitBytes > 0) {
    throw new InvalidArgumentError('resources.memorySwapLimitBytes: a swap limit needs a memory limit');
  }

  if (r.pidsLimit !== undefined && r.pidsLimit !== 0) {
    out.pids = {
      limit:
        r.pidsLimit === -1
          ? -1
          : integerIn(r.pidsLimit, 1, 4_194_304, 'resources.pidsLimit', '-1 or 1..4194304'),
    };
  }
  if (r.hugepageLimits && r.hugepageLimits.length > 0) {
    out.hugepageLimits = r.hugepageLimits.map((h, i) => {
      if (!PAGE_SIZE.test(h.pageSize)) {
        throw new InvalidArgumentError(
          `resources.hugepageLimits[${i}].pageSize: "${h.pageSize}" is not like 2MB or 1GB`,
        );
      }
      integerIn(
        h.limitBytes,
        0,
        Number.MAX_SAFE_INTEGER,
        `resources.hugepageLimits[${i}].limitBytes`,
        '>= 0',
      );
      return { pageSize: h.pageSize, limit: h.limitBytes };
    });
  }
  return out;
}

/**
 * Leaves hugepage limits to runc only where it can set them (`hugetlbController`). Without the
 * controller a zero limit, which kubelet sends for every page size whether or not the pod uses
 * hugepages, is left out, as containerd does; a non-zero one could not be enforced and is refused.
 * Returns a warning when it left limits out.
 */
export function fitHugepageLimits(resources: OciResources, hugetlbController: boolean): string | undefined {
  const limits = resources.hugepageLimits;
  if (!limits || hugetlbController) return undefined;
  const enforced = limits.find((h) => h.limit > 0);
  if (enforced)
    throw new FailedPreconditionError(
      `resources.hugepageLimits: a ${enforced.pageSize} limit of ${enforced.limit} bytes cannot be set: this host has no hugetlb cgroup controller the runtime can use`,
    );
  delete resources.hugepageLimits;
  return `hugepage limits (${limits.map((h) => h.pageSize).join(', ')}, all 0) left out: no hugetlb cgroup controller the runtime can use`;
}

/**
 * Sysctls are accepted only when they live in a namespace the container owns or shares with its pod:
 * IPC (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*), network (net.*, not with the host's network),
 * UTS (kernel.hostname, kernel.domainname). Anything else would change the whole host.
 */
export function checkSysctls(
  sysctls: Record<string, string> | undefined,
  hostNetwork: boolean,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(sysctls ?? {})) {
    const k = key.replaceAll('/', '.');
    const ipc = /^kernel\.(shm|msg)/.test(k) || k === 'kernel.sem' || k.startsWith('fs.mqueue.');
    const uts = k === 'kernel.hostname' || k === 'kernel.domainname';
    const net = k.startsWith('net.');
    if (!ipc && !uts && !net) {
      throw new InvalidArgumentError(
        `sysctls: "${key}" is not namespaced: setting it would change the whole host`,
      );
    }
    if (net && hostNetwork) {
      throw new InvalidArgumentError(
        `sysctls: "${key}" needs the container to have its own network namespace`,
      );
    }
    out[k] = value;
  }
  return out;
}

const RLIMIT_TYPES = new Set([
  'RLIMIT_AS',
  'RLIMIT_CORE',
  'RLIMIT_CPU',
  'RLIMIT_DATA',
  'RLIMIT_FSIZE',
  'RLIMIT_LOCKS',
  'RLIMIT_MEMLOCK',
  'RLIMIT_MSGQUEUE',
  'RLIMIT_NICE',
  'RLIMIT_NOFILE',
  'RLIMIT_NPROC',
  'RLIMIT_RSS',
  'RLIMIT_RTPRIO',
  'RLIMIT_RTTIME',
  'RLIMIT_SIGPENDING',
  'RLIMIT_STACK',
]);

/** Validates rlimits; a hard limit above the host's own cannot be granted without CAP_SYS_RESOURCE. */
export function buildRlimits(req: RlimitRequest[] | undefined, host: HostFacts): OciRlimit[] {
  return (req ?? []).map((r, i) => {
    const upper = r.type.toUpperCase();
    const type = upper.startsWith('RLIMIT_') ? upper : `RLIMIT_${upper}`;
    if (!RLIMIT_TYPES.has(type))
      throw new InvalidArgumentError(`rlimits[${i}].type: unknown rlimit "${r.type}"`);
    if (!Number.isSafeInteger(r.soft) || !Number.isSafeInteger(r.hard) || r.soft < 0 || r.hard < 0) {
      throw new InvalidArgumentError(`rlimits[${i}]: ${type} limits must be non-negative integers`);
    }
    if (r.soft > r.hard) {
      throw new InvalidArgumentError(
        `rlimits[${i}]: ${type} soft limit ${r.soft} is above its hard limit ${r.hard}`,
      );
    }
    const hostHard = host.hardRlimits.get(type) ?? Infinity;
    if (!host.canRaiseRlimits && r.hard > hostHard) {
      throw new FailedPreconditionError(
        `rlimits[${i}]: ${type} hard limit ${r.hard} is above this host's ${hostHard}, and the daemon lacks CAP_SYS_RESOURCE to raise it`,
      );
    }
    return { type, soft: r.soft, hard: r.hard };
  });
}

/**
 * oom_score_adj within -1000..1000. Without CAP_SYS_RESOURCE the kernel refuses a value below the
 * daemon's own, so such a request is raised to the daemon's value (as containerd's restrict_oom_score_adj
 * does) and a warning is returned.
 */
export function clampOomScoreAdj(
  requested: number | undefined,
  host: HostFacts,
): { value: number | undefined; warning?: string } {
  if (requested === undefined) return { value: undefined };
  integerIn(requested, -1000, 1000, 'oomScoreAdj', '-1000..1000');
  if (!host.canLowerOomScoreAdj && requested < host.ownOomScoreAdj) {
    return {
      value: host.ownOomScoreAdj,
      warning: `oomScoreAdj ${requested} raised to ${host.ownOomScoreAdj}: this host forbids lowering it (no CAP_SYS_RESOURCE)`,
    };
  }
  return { value: requested };
}

/** A host device already stat'ed by the caller: its kind and numbers. */
export interface HostDevice {
  hostPath: string;
  containerPath: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  permissions: string;
}

/** Device nodes to create plus cgroup rules: deny everything, then allow the requested ones (runc adds its standard set). */
export function buildDevices(devices: readonly HostDevice[]): {
  nodes: OciDevice[];
  rules: OciDeviceCgroup[];
} {
  const rules: OciDeviceCgroup[] = [{ allow: false, access: 'rwm' }];
  const nodes: OciDevice[] = devices.map((d, i) => {
    if (!/^[rwm]{1,3}$/.test(d.permissions)) {
      throw new InvalidArgumentError(`devices[${i}].permissions: "${d.permissions}" is not made of r, w, m`);
    }
    const path = posix.normalize(d.containerPath);
    if (!path.startsWith('/dev/')) {
      throw new InvalidArgumentError(`devices[${i}].containerPath: "${d.containerPath}" is not under /dev`);
    }
    rules.push({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.permissions });
    return { path, type: d.type, major: d.major, minor: d.minor, fileMode: d.fileMode, uid: 0, gid: 0 };
  });
  return { nodes, rules };
}

/** True when the request leaves the container in the host's network namespace. */
export function usesHostNetwork(ns: SandboxNamespaces | undefined): boolean {
  return ns?.network === 'host';
}
