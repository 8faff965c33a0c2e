/**
 * BerthMetrics: every metric berthd exports, on a registry of its own (prom-client's global one
 * would mix in whatever else the process loads). Counters and histograms are fed by hooks the
 * daemon wires into the CRI server, the API server, the transition runner and the event log;
 * gauges are read from `MetricsSources` when Prometheus scrapes, so an idle node costs nothing.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { containerCollectors, type ContainerUsage } from './cadvisor.js';

/** What the scrape-time gauges read; the daemon supplies it from its subsystems. */
export interface MetricsSources {
  /** The event log's last seq. */
  eventSeq(): number;
  /** The NATS relay: undefined when none runs. */
  relay(): { connected: boolean; lag: number; stream: string } | undefined;
  /** Containers by namespace and state (a container with no task is `created`). */
  containerStates(): { namespace: string; state: string }[];
  /** Pod sandboxes by namespace and state. */
  podStates(): { namespace: string; state: string }[];
  /** Resource usage of every container that has a cgroup now. */
  containerUsage(): Promise<ContainerUsage[]>;
}

// Transitions and CRI calls run from a millisecond (a status read) to minutes (a pull).
const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];

export class BerthMetrics {
  readonly registry = new Registry();

  private readonly criRequests = new Counter({
    name: 'berth_cri_requests_total',
    help: 'CRI calls answered, by RPC and gRPC status code',
    labelNames: ['rpc', 'code'] as const,
    registers: [this.registry],
  });
  private readonly criDuration = new Histogram({
    name: 'berth_cri_request_duration_seconds',
    help: 'Time to answer a CRI call (a server stream: its whole life), by RPC and gRPC status code',
    labelNames: ['rpc', 'code'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly apiRequests = new Counter({
    name: 'berth_api_requests_total',
    help: 'berth API requests answered, by method, route and HTTP status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly apiDuration = new Histogram({
    name: 'berth_api_request_duration_seconds',
    help: 'Time to answer a berth API request, by method, route and HTTP status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly transitionsStarted = new Counter({
    name: 'berth_transitions_started_total',
    help: 'Transition requests started (or joined while in flight), by workflow type',
    labelNames: ['workflow'] as const,
    registers: [this.registry],
  });
  private readonly transitionsCompleted = new Counter({
    name: 'berth_transitions_completed_total',
    help: 'Transition requests that completed, by workflow type',
    labelNames: ['workflow'] as const,
    registers: [this.registry],
  });
  private readonly transitionsFailed = new Counter({
    name: 'berth_transitions_failed_total',
    help: 'Transition requests that failed, by workflow type and error code',
    labelNames: ['workflow', 'code'] as const,
    registers: [this.registry],
  });
  private readonly transitionDuration = new Histogram({
    name: 'berth_transition_duration_seconds',
    help: 'Time from a transition request to its result, by workflow type and outcome',
    labelNames: ['workflow', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly transitionTemporal = new Histogram({
    name: 'berth_transition_temporal_seconds',
    help: "Time of a completed transition spent outside its steps: Temporal's share (start, scheduling, history, result)",
    labelNames: ['workflow'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly transitionTemporalShare = new Histogram({
    name: 'berth_transition_temporal_ratio',
    help: "Temporal's share of a completed transition's time (0 to 1), by workflow type",
    labelNames: ['workflow'] as const,
    buckets: [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
    registers: [this.registry],
  });
  private readonly stepDuration = new Histogram({
    name: 'berth_transition_step_duration_seconds',
    help: 'Time of one workflow step (activity), by step and outcome',
    labelNames: ['step', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly pulls = new Counter({
    name: 'berth_image_pulls_total',
    help: 'Image pulls that fetched an image, by outcome (a pull of an image already present is not counted)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly pullBytes = new Counter({
    name: 'berth_image_pull_bytes_total',
    help: 'Bytes of the images pulled (manifest, config and compressed layers)',
    registers: [this.registry],
  });
  private readonly pullThroughput = new Histogram({
    name: 'berth_image_pull_throughput_bytes_per_second',
    help: "An image's bytes over its pull's time: download and unpack overlap in Berth, so this is both",
    buckets: [1e5, 1e6, 5e6, 1e7, 2.5e7, 5e7, 1e8, 2.5e8, 5e8, 1e9],
    registers: [this.registry],
  });
  private readonly layersUnpacked = new Counter({
    name: 'berth_image_layers_unpacked_total',
    help: "Layer snapshots committed into a namespace's records: one per layer unpacked, or shared from another namespace",
    registers: [this.registry],
  });
  private readonly eventsAppended = new Counter({
    name: 'berth_events_appended_total',
    help: 'Events appended to the log, by topic',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  private readonly appendDuration = new Histogram({
    name: 'berth_event_append_duration_seconds',
    help: 'Time from an append request to the event being durable (group-committed with others)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  constructor(sources: MetricsSources) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'berth_event_log_seq',
      help: "The event log's last seq",
      registers: [this.registry],
      collect() {
        this.set(sources.eventSeq());
      },
    });
    new Gauge({
      name: 'berth_event_relay_lag_events',
      help: 'Events in the log not yet acknowledged by NATS JetStream, by stream (absent with no relay)',
      labelNames: ['stream'] as const,
      registers: [this.registry],
      collect() {
        const relay = sources.relay();
        this.reset();
        if (relay) this.set({ stream: relay.stream }, relay.lag);
      },
    });
    new Gauge({
      name: 'berth_nats_connected',
      help: 'Whether the relay is connected to NATS and its last publish succeeded (1) or not (0)',
      registers: [this.registry],
      collect() {
        this.set(sources.relay()?.connected ? 1 : 0);
      },
    });
    stateGauge(this.registry, 'berth_containers', 'Containers by namespace and state', () =>
      sources.containerStates(),
    );
    stateGauge(this.registry, 'berth_pods', 'Pod sandboxes by namespace and state', () =>
      sources.podStates(),
    );
    containerCollectors(this.registry, () => sources.containerUsage());
  }

  criCall(rpc: string, code: string, seconds: number): void {
    this.criRequests.inc({ rpc, code });
    this.criDuration.observe({ rpc, code }, seconds);
  }

  apiRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.apiRequests.inc(labels);
    this.apiDuration.observe(labels, seconds);
  }

  transitionStarted(workflow: string): void {
    this.transitionsStarted.inc({ workflow });
  }

  /** `stepSeconds`: the time its steps took on this node, when known (a transition joined late has none). */
  transitionFinished(
    workflow: string,
    outcome: { ok: true } | { ok: false; code: string },
    seconds: number,
    stepSeconds?: number,
  ): void {
    this.transitionDuration.observe({ workflow, outcome: outcome.ok ? 'completed' : 'failed' }, seconds);
    if (!outcome.ok) {
      this.transitionsFailed.inc({ workflow, code: outcome.code });
      return;
    }
    this.transitionsCompleted.inc({ workflow });
    if (stepSeconds === undefined || seconds <= 0) return;
    const temporal = Math.max(0, seconds - stepSeconds);
    this.transitionTemporal.observe({ workflow }, temporal);
    this.transitionTemporalShare.observe({ workflow }, Math.min(1, temporal / seconds));
  }

  step(step: string, ok: boolean, seconds: number): void {
    this.stepDuration.observe({ step, outcome: ok ? 'ok' : 'failed' }, seconds);
  }

  pulled(bytes: number, seconds: number): void {
    this.pulls.inc({ outcome: 'completed' });
    this.pullBytes.inc(bytes);
    if (seconds > 0) this.pullThroughput.observe(bytes / seconds);
  }

  pullFailed(): void {
    this.pulls.inc({ outcome: 'failed' });
  }

  eventsCommitted(topics: readonly string[]): void {
    for (const topic of topics) {
      this.eventsAppended.inc({ topic });
      if (topic === '/snapshot/commit') this.layersUnpacked.inc();
    }
  }

  eventAppended(seconds: number): void {
    this.appendDuration.observe(seconds);
  }

  /** The exposition text and its content type, for the HTTP endpoint. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

function stateGauge(
  registry: Registry,
  name: string,
  help: string,
  read: () => { namespace: string; state: string }[],
): void {
  new Gauge({
    name,
    help,
    labelNames: ['namespace', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, { namespace: string; state: string; n: number }>();
      for (const { namespace, state } of read()) {
        const key = `${namespace}\0${state}`;
        const c = counts.get(key) ?? { namespace, state, n: 0 };
        c.n++;
        counts.set(key, c);
      }
      for (const c of counts.values()) this.set({ namespace: c.namespace, state: c.state }, c.n);
    },
  });
}
