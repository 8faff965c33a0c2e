/** ContainerService's cgroup stats as CRI ContainerStats / PodSandboxStats (pod usage: the sum of its running containers). */
import type { ContainerStats as BerthStats, ContainerStatus } from '../../daemon/containers.js';
import type { ContainerStats, PodSandboxStats } from '../types/stats.js';
import type { PodSandboxSummary } from '../types/sandbox.js';
import { ATTEMPT_ANNOTATION, publicAnnotations } from './containers.js';
import { isoToNanos } from './deps.js';

export function containerStatsOf(c: ContainerStatus, s: BerthStats): ContainerStats {
  const timestamp = isoToNanos(s.timestamp);
  const attempt = c.annotations[ATTEMPT_ANNOTATION];
  const annotations = publicAnnotations(c.annotations);
  return {
    attributes: {
      id: c.id,
      metadata: { name: c.name, attempt: Number(attempt ?? 0) || 0 },
      labels: c.labels,
      annotations,
    },
    cpu: { timestamp, usageCoreNanoSeconds: s.cpuUsageNanos },
    memory: { timestamp, workingSetBytes: s.memoryWorkingSetBytes, usageBytes: s.memoryUsageBytes },
    // kubelet looks the writable layer's filesystem up by this mountpoint (cadvisor's GetDirFsInfo):
    // an empty one fails the whole /stats/summary.
    ...(s.writableLayerBytes !== undefined && s.writableLayerPath
      ? {
          writableLayer: {
            timestamp,
            mountpoint: s.writableLayerPath,
            usedBytes: s.writableLayerBytes,
            ...(s.writableLayerInodes !== undefined ? { inodesUsed: s.writableLayerInodes } : {}),
          },
        }
      : {}),
  };
}

export function podStatsOf(
  pod: PodSandboxSummary,
  containers: ContainerStats[],
  timestamp: bigint,
): PodSandboxStats {
  const sum = (pick: (c: ContainerStats) => number | undefined): number =>
    containers.reduce((total, c) => total + (pick(c) ?? 0), 0);
  return {
    attributes: { id: pod.id, metadata: pod.metadata, labels: pod.labels, annotations: pod.annotations },
    cpu: { timestamp, usageCoreNanoSeconds: sum((c) => c.cpu?.usageCoreNanoSeconds) },
    memory: {
      timestamp,
      workingSetBytes: sum((c) => c.memory?.workingSetBytes),
      usageBytes: sum((c) => c.memory?.usageBytes),
    },
    containers,
  };
}

/** The stats of each container; one that exits between the list and the read is left out. */
export async function statsOfEach(
  containers: ContainerStatus[],
  read: (id: string) => Promise<BerthStats>,
): Promise<ContainerStats[]> {
  const out: ContainerStats[] = [];
  for (const c of containers) {
    const stats = await read(c.id).catch(() => undefined);
    if (stats) out.push(containerStatsOf(c, stats));
  }
  return out;
}
