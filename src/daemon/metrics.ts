/**
 * Wires berthd's metrics (src/metrics) to the subsystems: the scrape-time sources read the
 * projections, the relay and the containers' cgroups; the hooks count CRI and API calls,
 * transitions and their steps, pulls and event appends. Off unless --metrics-address is set.
 */
import type { Logger } from '../common/logger.js';
import type { ApiServer } from '../api/server.js';
import type { CriCallObserver } from '../cri/server-calls.js';
import type { Projections } from '../events/projections/projections.js';
import type { ContainerRecord } from '../events/projections/state.js';
import type { EventsService } from '../events/service.js';
import type { ContainerUsage } from '../metrics/cadvisor.js';
import { BerthMetrics } from '../metrics/metrics.js';
import { MetricsServer } from '../metrics/server.js';
import { readCgroupStats } from '../runtime/cgroups.js';
import type { PulledImageResult } from '../workflows/pull-image.js';
import type { DaemonConfig } from './config.js';
import type { NodeServices } from './node-services.js';
import type { StepObserver } from './step-timing.js';
import type { TransitionRunner } from './transitions.js';

export interface DaemonMetrics {
  metrics: BerthMetrics;
  server: MetricsServer;
  onCriCall: CriCallObserver;
  onStep: StepObserver;
  close(): Promise<void>;
}

export async function startMetrics(
  where: NonNullable<DaemonConfig['metricsAddress']>,
  parts: { events: EventsService; node: NodeServices; transitions: TransitionRunner; api: ApiServer },
  log: Logger,
): Promise<DaemonMetrics> {
  const { events, node, transitions, api } = parts;
  const projections = events.projections;
  const metrics = new BerthMetrics({
    eventSeq: () => events.log.lastSeq,
    relay: () => events.relay?.status(),
    containerStates: () =>
      projections
        .list('containers')
        .map((c) => ({ namespace: c.namespace, state: taskStatus(projections, c) })),
    podStates: () => projections.list('sandboxes').map((s) => ({ namespace: s.namespace, state: s.state })),
    containerUsage: () => containerUsage(node),
  });
  const server = await MetricsServer.listen(metrics, where, log);
  log.info({ url: server.url }, 'metrics endpoint listening');

  api.onRequest = (method, route, status, seconds) => metrics.apiRequest(method, route, status, seconds);
  events.onAppendDuration = (seconds) => metrics.eventAppended(seconds);
  const unsubscribe = events.log.onAppend((batch) => metrics.eventsCommitted(batch.map((e) => e.topic)));
  transitions.observer = {
    started: (type) => metrics.transitionStarted(type),
    finished: (req, outcome, seconds, stepSeconds) => {
      metrics.transitionFinished(req.workflowType, outcome, seconds, stepSeconds);
      if (req.workflowType !== 'pullImage') return;
      if (outcome.ok) metrics.pulled((outcome.result as PulledImageResult).size, seconds);
      else metrics.pullFailed();
    },
  };
  return {
    metrics,
    server,
    onCriCall: (rpc, code, seconds) => metrics.criCall(rpc, code, seconds),
    onStep: (step) => {
      metrics.step(step.type, step.ok, step.seconds);
      transitions.stepFinished(step.workflowId, step.seconds);
    },
    async close() {
      unsubscribe();
      api.onRequest = undefined;
      events.onAppendDuration = undefined;
      transitions.observer = undefined;
      await server.close();
    },
  };
}

/** A container's task state; one with no task yet is `created`. */
function taskStatus(projections: Projections, c: ContainerRecord): string {
  return projections.get('tasks', c.namespace, c.id)?.status ?? 'created';
}

/** Every container whose task has a cgroup now, with cAdvisor's labels. */
async function containerUsage(node: NodeServices): Promise<ContainerUsage[]> {
  const projections = node.events.projections;
  const live = projections
    .list('containers')
    .filter((c) => ['running', 'paused'].includes(taskStatus(projections, c)));
  const read = await Promise.all(
    live.map(async (c) => {
      try {
        // One read of the task's record for its cgroup, then the cgroup's files.
        const cgroup = await node.tasks.cgroupPath(c.id);
        const stats = await readCgroupStats(cgroup);
        if (!stats) return undefined; // exited between the listing and the read
        const pod = c.sandboxId
          ? projections.get('sandboxes', c.namespace, c.sandboxId)?.metadata
          : undefined;
        const usage: ContainerUsage = {
          labels: {
            namespace: pod?.namespace ?? '',
            pod: pod?.name ?? '',
            container: c.name ?? c.id,
            id: cgroup.startsWith('/') ? cgroup : `/${cgroup}`,
            name: c.id,
            image: c.image,
          },
          cpuUsageNanos: stats.cpuUsageNanos,
          memoryUsageBytes: stats.memoryUsageBytes,
          memoryWorkingSetBytes: stats.memoryWorkingSetBytes,
          threads: stats.pidsCurrent,
          oomKills: stats.oomKills,
          ioReadBytes: stats.ioReadBytes,
          ioWriteBytes: stats.ioWriteBytes,
        };
        return usage;
      } catch {
        return undefined; // removed between the listing and the read
      }
    }),
  );
  return read.filter((u): u is ContainerUsage => u !== undefined);
}
