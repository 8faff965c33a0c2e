/** LinuxContainerResources both ways, with validation on the way in. */
import type { LinuxResources } from '../types/container.js';
import { validateResources } from '../validate.js';
import type { OutLinuxContainerResources, WireLinuxContainerResources } from '../wire.js';

export function resourcesFromWire(
  field: string,
  wire: WireLinuxContainerResources | null,
): LinuxResources | undefined {
  if (!wire) return undefined;
  validateResources(field, wire);
  return {
    cpuPeriod: wire.cpu_period,
    cpuQuota: wire.cpu_quota,
    cpuShares: wire.cpu_shares,
    memoryLimitBytes: wire.memory_limit_in_bytes,
    memorySwapLimitBytes: wire.memory_swap_limit_in_bytes,
    oomScoreAdj: wire.oom_score_adj,
    cpusetCpus: wire.cpuset_cpus,
    cpusetMems: wire.cpuset_mems,
    hugepageLimits: wire.hugepage_limits.map((h) => ({ pageSize: h.page_size, limit: h.limit })),
    unified: { ...wire.unified },
  };
}

export function resourcesToWire(r: LinuxResources): OutLinuxContainerResources {
  return {
    cpu_period: r.cpuPeriod,
    cpu_quota: r.cpuQuota,
    cpu_shares: r.cpuShares,
    memory_limit_in_bytes: r.memoryLimitBytes,
    memory_swap_limit_in_bytes: r.memorySwapLimitBytes,
    oom_score_adj: r.oomScoreAdj,
    cpuset_cpus: r.cpusetCpus,
    cpuset_mems: r.cpusetMems,
    hugepage_limits: r.hugepageLimits.map((h) => ({ page_size: h.pageSize, limit: h.limit })),
    unified: { ...r.unified },
  };
}
