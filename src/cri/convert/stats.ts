/** Stats messages out, stats filters in. */
import type {
  ContainerStats,
  ContainerStatsFilter,
  CpuUsage,
  MemoryUsage,
  NetworkInterfaceUsage,
  PodSandboxStats,
  PodSandboxStatsFilter,
} from '../types/stats.js';
import type {
  OutContainerStats,
  OutCpuUsage,
  OutMemoryUsage,
  OutNetworkInterfaceUsage,
  OutPodSandboxStats,
  WireContainerStatsFilter,
  WirePodSandboxStatsFilter,
} from '../wire.js';
import { nanosOut, optionalMap, optionalString, u64 } from './common.js';
import { containerMetadataToWire } from './container.js';
import { fsUsageToWire } from './image.js';
import { sandboxMetadataToWire } from './sandbox.js';

function cpuToWire(cpu: CpuUsage): OutCpuUsage {
  return {
    timestamp: nanosOut(cpu.timestamp),
    usage_core_nano_seconds: u64(cpu.usageCoreNanoSeconds),
    usage_nano_cores: u64(cpu.usageNanoCores),
  };
}

function memoryToWire(m: MemoryUsage): OutMemoryUsage {
  return {
    timestamp: nanosOut(m.timestamp),
    working_set_bytes: u64(m.workingSetBytes),
    available_bytes: u64(m.availableBytes),
    usage_bytes: u64(m.usageBytes),
    rss_bytes: u64(m.rssBytes),
    page_faults: u64(m.pageFaults),
    major_page_faults: u64(m.majorPageFaults),
  };
}

function interfaceToWire(i: NetworkInterfaceUsage): OutNetworkInterfaceUsage {
  return {
    name: i.name,
    rx_bytes: u64(i.rxBytes),
    rx_errors: u64(i.rxErrors),
    tx_bytes: u64(i.txBytes),
    tx_errors: u64(i.txErrors),
  };
}

export function containerStatsToWire(s: ContainerStats): OutContainerStats {
  return {
    attributes: {
      id: s.attributes.id,
      metadata: containerMetadataToWire(s.attributes.metadata),
      labels: { ...s.attributes.labels },
      annotations: { ...s.attributes.annotations },
    },
    cpu: s.cpu ? cpuToWire(s.cpu) : null,
    memory: s.memory ? memoryToWire(s.memory) : null,
    writable_layer: s.writableLayer ? fsUsageToWire(s.writableLayer) : null,
    swap: s.swap
      ? {
          timestamp: nanosOut(s.swap.timestamp),
          swap_available_bytes: u64(s.swap.swapAvailableBytes),
          swap_usage_bytes: u64(s.swap.swapUsageBytes),
        }
      : null,
  };
}

export function podSandboxStatsToWire(s: PodSandboxStats): OutPodSandboxStats {
  return {
    attributes: {
      id: s.attributes.id,
      metadata: sandboxMetadataToWire(s.attributes.metadata),
      labels: { ...s.attributes.labels },
      annotations: { ...s.attributes.annotations },
    },
    linux: {
      cpu: s.cpu ? cpuToWire(s.cpu) : null,
      memory: s.memory ? memoryToWire(s.memory) : null,
      network: s.network
        ? {
            timestamp: nanosOut(s.network.timestamp),
            default_interface: s.network.defaultInterface
              ? interfaceToWire(s.network.defaultInterface)
              : null,
            interfaces: s.network.interfaces.map(interfaceToWire),
          }
        : null,
      process: s.process
        ? { timestamp: nanosOut(s.process.timestamp), process_count: u64(s.process.processCount) }
        : null,
      containers: s.containers.map(containerStatsToWire),
    },
    windows: null,
  };
}

export function containerStatsFilterFromWire(wire: WireContainerStatsFilter | null): ContainerStatsFilter {
  if (!wire) return {};
  const filter: ContainerStatsFilter = {};
  const id = optionalString(wire.id);
  if (id !== undefined) filter.id = id;
  const pod = optionalString(wire.pod_sandbox_id);
  if (pod !== undefined) filter.podSandboxId = pod;
  const labels = optionalMap(wire.label_selector);
  if (labels) filter.labelSelector = labels;
  return filter;
}

export function podSandboxStatsFilterFromWire(wire: WirePodSandboxStatsFilter | null): PodSandboxStatsFilter {
  if (!wire) return {};
  const filter: PodSandboxStatsFilter = {};
  const id = optionalString(wire.id);
  if (id !== undefined) filter.id = id;
  const labels = optionalMap(wire.label_selector);
  if (labels) filter.labelSelector = labels;
  return filter;
}
