/**
 * Per-container usage under cAdvisor's metric names and labels (what the kubelet's
 * /metrics/cadvisor serves), so dashboards written for it work on Berth's endpoint unchanged:
 * `namespace`, `pod` and `container` are the Kubernetes names (empty for a container outside a
 * pod), `id` the cgroup path, `name` the container id, `image` the image it was created from.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface ContainerUsage {
  labels: { namespace: string; pod: string; container: string; id: string; name: string; image: string };
  cpuUsageNanos: number;
  memoryUsageBytes: number;
  memoryWorkingSetBytes: number;
  /** Tasks (threads) in the cgroup. */
  threads: number;
  oomKills: number;
  /** Block I/O through the cgroup, summed over devices; absent when the kernel does not account it. */
  ioReadBytes?: number;
  ioWriteBytes?: number;
}

const LABELS = ['namespace', 'pod', 'container', 'id', 'name', 'image'] as const;

/**
 * Registers the gauges and counters. prom-client starts every metric's collect in one pass, so
 * the cgroups are read once per scrape: the read in flight is shared, and forgotten once done.
 */
export function containerCollectors(registry: Registry, read: () => Promise<ContainerUsage[]>): void {
  let inFlight: Promise<ContainerUsage[]> | undefined;
  const usage = (): Promise<ContainerUsage[]> => {
    if (inFlight) return inFlight;
    const reading = read();
    inFlight = reading;
    const forget = () => {
      if (inFlight === reading) inFlight = undefined;
    };
    reading.then(forget, forget);
    return reading;
  };
  const metric = (
    kind: 'counter' | 'gauge',
    name: string,
    help: string,
    value: (u: ContainerUsage) => number | undefined,
  ): void => {
    const options = {
      name,
      help,
      labelNames: LABELS,
      registers: [registry],
    };
    // A counter's value comes from the kernel's cumulative figure, so both kinds are set, not added.
    const Kind = kind === 'counter' ? Counter : Gauge;
    new Kind({
      ...options,
      async collect() {
        const self = this as unknown as {
          reset(): void;
          inc(l: object, v: number): void;
          set(l: object, v: number): void;
        };
        self.reset();
        for (const u of await usage()) {
          const v = value(u);
          if (v === undefined) continue;
          if (kind === 'counter') self.inc(u.labels, v);
          else self.set(u.labels, v);
        }
      },
    });
  };
  metric(
    'counter',
    'container_cpu_usage_seconds_total',
    'Cumulative CPU time consumed, in seconds',
    (u) => u.cpuUsageNanos / 1e9,
  );
  metric(
    'gauge',
    'container_memory_usage_bytes',
    'Current memory usage, including page cache',
    (u) => u.memoryUsageBytes,
  );
  metric(
    'gauge',
    'container_memory_working_set_bytes',
    'Memory usage minus inactive file pages: what the kubelet evicts on',
    (u) => u.memoryWorkingSetBytes,
  );
  metric('gauge', 'container_threads', "Tasks (threads) in the container's cgroup", (u) => u.threads);
  metric('counter', 'container_oom_events_total', "OOM kills in the container's cgroup", (u) => u.oomKills);
  metric('counter', 'container_fs_reads_bytes_total', 'Bytes read from block devices', (u) => u.ioReadBytes);
  metric(
    'counter',
    'container_fs_writes_bytes_total',
    'Bytes written to block devices',
    (u) => u.ioWriteBytes,
  );
}
