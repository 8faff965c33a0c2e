/**
 * Resource usage in Berth's own terms, read from cgroups by the backend. An absent
 * counter means "not measured" (CRI's unset UInt64Value), never zero.
 */
import type { ContainerMetadata } from './container.js';
import type { FilesystemUsage } from './image.js';
import type { PodSandboxMetadata, UnixNanos } from './sandbox.js';

export interface CpuUsage {
  timestamp: UnixNanos;
  usageCoreNanoSeconds?: number;
  usageNanoCores?: number;
}

export interface MemoryUsage {
  timestamp: UnixNanos;
  workingSetBytes?: number;
  availableBytes?: number;
  usageBytes?: number;
  rssBytes?: number;
  pageFaults?: number;
  majorPageFaults?: number;
}

export interface SwapUsage {
  timestamp: UnixNanos;
  swapAvailableBytes?: number;
  swapUsageBytes?: number;
}

export interface NetworkInterfaceUsage {
  name: string;
  rxBytes?: number;
  rxErrors?: number;
  txBytes?: number;
  txErrors?: number;
}

export interface NetworkUsage {
  timestamp: UnixNanos;
  defaultInterface?: NetworkInterfaceUsage;
  interfaces: NetworkInterfaceUsage[];
}

export interface ProcessUsage {
  timestamp: UnixNanos;
  processCount?: number;
}

export interface ContainerStats {
  attributes: {
    id: string;
    metadata: ContainerMetadata;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  cpu?: CpuUsage;
  memory?: MemoryUsage;
  writableLayer?: FilesystemUsage;
  swap?: SwapUsage;
}

export interface PodSandboxStats {
  attributes: {
    id: string;
    metadata: PodSandboxMetadata;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  cpu?: CpuUsage;
  memory?: MemoryUsage;
  network?: NetworkUsage;
  process?: ProcessUsage;
  containers: ContainerStats[];
}

/** ListContainerStats' filter: every present field must match (AND). */
export interface ContainerStatsFilter {
  id?: string;
  podSandboxId?: string;
  labelSelector?: Record<string, string>;
}

/** ListPodSandboxStats' filter: every present field must match (AND). */
export interface PodSandboxStatsFilter {
  id?: string;
  labelSelector?: Record<string, string>;
}
