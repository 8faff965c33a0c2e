/**
 * What a fleet's event relay sustains on this machine: one fleet (test/helpers/fleet-cluster.ts:
 * three nats-servers, streams at R3, one Temporal dev server, three berthds), pods churned through
 * each node's API on 1 node and then on all 3 at once, while one fleet consumer (an ordered consumer
 * per node stream, `berth fleet events --follow`'s shape) times every event from its append (the
 * event's own `time`) to its arrival. Then the relay alone, without berthd or pods: per node, one
 * worker thread with an event log filled beforehand and a NatsRelay publishing it at full speed to
 * the same cluster, 1 node and then 3 at once.
 *
 * Usage: node dist/bench/fleet/relay-scale.js [--seconds 30] [--loops 2] [--pod-only]
 *          [--relay-events 20000] [--only churn,relay] [--json FILE]
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { DeliverPolicy, connect, type ConsumerMessages, type NatsConnection } from 'nats';
import type { NodeInfo } from '../../src/api/types.js';
import type { SandboxView } from '../../src/daemon/sandboxes.js';
import type { ContainerStatus } from '../../src/daemon/containers.js';
import { EventLog } from '../../src/events/log.js';
import { NatsRelay, streamName } from '../../src/events/relay.js';
import { leftoverSweep } from '../../test/containers/support.js';
import { startFleet, type Fleet, type FleetNode } from '../../test/helpers/fleet-cluster.js';
import { startRegistry, type TestRegistry } from '../../test/helpers/registry.js';
import { registryConfigArgs } from '../../test/images/support.js';
import { setupNetwork, teardownNetwork, type SandboxTestEnv } from '../../test/sandboxes/support.js';
import { pushTinyImage } from '../common/tiny-image.js';
import { churnEvent } from '../events/common.js';
import { percentile } from '../stats.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Busy and total jiffies of all CPUs (/proc/stat), for the share of the machine a phase used. */
async function cpuTimes(): Promise<{ busy: number; total: number }> {
  const f = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total }; // idle, iowait
}

// ---------------------------------------------------------------------------------------------
// The relay alone, one worker thread per node

interface RelayJob {
  dir: string;
  nodeId: string;
  servers: string;
  events: number;
  replicas: number;
}

/** In the worker: fill a log, say ready, publish it all when told, report the seconds it took. */
async function relayWorker(job: RelayJob): Promise<void> {
  const log = await EventLog.open(path.join(job.dir, job.nodeId));
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < job.events) await log.append(churnEvent(next++));
    }),
  );
  parentPort!.postMessage('ready');
  await new Promise((r) => parentPort!.once('message', r));
  const relay = new NatsRelay(log, {
    nodeId: job.nodeId,
    servers: job.servers.split(','),
    replicas: job.replicas,
  });
  const t0 = performance.now();
  await relay.start();
  await relay.waitFor(job.events);
  const seconds = (performance.now() - t0) / 1000;
  await relay.stop();
  await log.close();
  parentPort!.postMessage(seconds);
}

async function relayOnly(fleet: Fleet, dir: string, events: number, nodes: number, replicas: number) {
  const ids = Array.from({ length: nodes }, (_, i) => `relay${nodes}x${i + 1}-${process.pid}`);
  await mkdir(dir, { recursive: true });
  const workers = ids.map(
    (nodeId) =>
      new Worker(new URL(import.meta.url), {
        workerData: { dir, nodeId, servers: fleet.nats.urls, events, replicas } satisfies RelayJob,
      }),
  );
  const next = (w: Worker) =>
    new Promise<unknown>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
  try {
    await Promise.all(workers.map(next));
    const cpu0 = await cpuTimes();
    const t0 = performance.now();
    const done = workers.map(next);
    for (const w of workers) w.postMessage('go');
    const seconds = (await Promise.all(done)) as number[];
    const wall = (performance.now() - t0) / 1000;
    const cpu1 = await cpuTimes();
    return {
      nodes,
      events,
      perNode: seconds.map((s) => Math.round(events / s)),
      fleet: Math.round((events * nodes) / wall),
      cpu: (cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total),
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
    const nc = await connect({ servers: fleet.nats.urls.split(',') });
    const jsm = await nc.jetstreamManager();
    for (const id of ids) await jsm.streams.delete(streamName(id)).catch(() => undefined);
    await nc.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The fleet consumer

/** Per node: events seen and their lags (arrival − the event's time), from `since` on. */
class FleetConsumer {
  private since = Infinity;
  readonly seen = new Map<string, { count: number; lastSeq: number; lags: number[]; inWindow: number }>();
  private windowEnd = Infinity;
  private readonly iterators: ConsumerMessages[] = [];

  private constructor(private readonly nc: NatsConnection) {}

  static async start(urls: string, nodes: string[]): Promise<FleetConsumer> {
    const nc = await connect({ servers: urls.split(','), name: 'bench-fleet-consumer' });
    const fc = new FleetConsumer(nc);
    const js = nc.jetstream();
    for (const node of nodes) {
      // Only new events: the stream also holds the nodes' start-up and warm-up events.
      const consumer = await js.consumers.get(streamName(node), { deliver_policy: DeliverPolicy.New });
      const messages = await consumer.consume();
      fc.iterators.push(messages);
      void (async () => {
        for await (const m of messages) fc.record(node, m.json<{ seq: number; time: string }>());
      })();
    }
    return fc;
  }

  private record(node: string, e: { seq: number; time: string }): void {
    const now = Date.now();
    const s = this.seen.get(node) ?? { count: 0, lastSeq: 0, lags: [], inWindow: 0 };
    this.seen.set(node, s);
    s.lastSeq = e.seq;
    const at = Date.parse(e.time);
    if (at < this.since) return;
    s.count++;
    s.lags.push(now - at);
    if (at <= this.windowEnd) s.inWindow++;
  }

  /** Counts from now on; events appended after `endWindow()` are timed but not counted in the rate. */
  reset(): void {
    this.seen.clear();
    this.since = Date.now();
    this.windowEnd = Infinity;
  }

  endWindow(): void {
    this.windowEnd = Date.now();
  }

  async close(): Promise<void> {
    for (const it of this.iterators) await it.close();
    await this.nc.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Pod churn

interface Churn {
  image: string;
  withContainer: boolean;
}

/** One pod's life through the node's API: run, (a container created, started, stopped, removed), stop, remove. */
async function podLife(node: FleetNode, churn: Churn, uid: string, pull = false): Promise<void> {
  const api = node.client;
  const config = { metadata: { name: uid, namespace: 'bench', uid, attempt: 0 }, linux: {} };
  const sb = await api.post<SandboxView>('/v1/sandboxes', { config });
  if (churn.withContainer) {
    const c = await api.post<ContainerStatus>('/v1/containers', {
      sandboxId: sb.id,
      name: 'app',
      image: churn.image,
      pull,
      // PID 1 ignores SIGTERM unless it traps it: exit at once on the stop.
      command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'],
    });
    await api.post(`/v1/containers/${c.id}/start`);
    await api.post(`/v1/containers/${c.id}/stop`, { timeout: 5 });
    await api.delete(`/v1/containers/${c.id}`);
  }
  await api.post(`/v1/sandboxes/${sb.id}/stop`);
  await api.delete(`/v1/sandboxes/${sb.id}`);
}

async function churnPhase(
  fleet: Fleet,
  consumer: FleetConsumer,
  nodes: FleetNode[],
  churn: Churn,
  o: { seconds: number; loops: number },
) {
  const infos = () => Promise.all(nodes.map((n) => n.client.get<NodeInfo>('/v1/info')));
  const before = await infos();
  consumer.reset();
  const cpu0 = await cpuTimes();
  const t0 = Date.now();
  const pods = new Map<string, number>();
  const relayLag = new Map<string, number>();
  let stop = false;
  const sampler = (async () => {
    while (!stop) {
      for (const [i, info] of (await infos()).entries())
        relayLag.set(
          nodes[i]!.nodeId,
          Math.max(relayLag.get(nodes[i]!.nodeId) ?? 0, info.events?.relay?.lag ?? 0),
        );
      await sleep(2000); // /v1/info probes NATS and Temporal: not too often
    }
  })();
  const loops = nodes.flatMap((node) =>
    Array.from({ length: o.loops }, async (_, l) => {
      for (let i = 0; !stop; i++) {
        await podLife(node, churn, `p${nodes.length}-${node.nodeId}-${l}-${i}`);
        pods.set(node.nodeId, (pods.get(node.nodeId) ?? 0) + 1);
      }
    }),
  );
  await sleep(o.seconds * 1000);
  consumer.endWindow();
  const window = (Date.now() - t0) / 1000;
  const cpu1 = await cpuTimes();
  const load = loadavg()[0]!;
  stop = true;
  await Promise.all([...loops, sampler]);
  // Every event the phase appended reaches the consumer before the figures are taken.
  const after = await infos();
  const drainStart = Date.now();
  while (
    after.some((info, i) => (consumer.seen.get(nodes[i]!.nodeId)?.lastSeq ?? 0) < (info.events?.lastSeq ?? 0))
  ) {
    if (Date.now() - drainStart > 120_000) throw new Error('the fleet consumer did not catch up in 120 s');
    await sleep(50);
  }
  const allLags = nodes.flatMap((n) => consumer.seen.get(n.nodeId)?.lags ?? []).sort((a, b) => a - b);
  return {
    nodes: nodes.length,
    seconds: window,
    perNode: nodes.map((n, i) => ({
      node: n.nodeId,
      podsPerSecond: (pods.get(n.nodeId) ?? 0) / window,
      eventsPerSecond: (consumer.seen.get(n.nodeId)?.inWindow ?? 0) / window,
      appended: (after[i]!.events?.lastSeq ?? 0) - (before[i]!.events?.lastSeq ?? 0),
      maxRelayLag: relayLag.get(n.nodeId) ?? 0,
    })),
    fleetEventsPerSecond:
      nodes.reduce((a, n) => a + (consumer.seen.get(n.nodeId)?.inWindow ?? 0), 0) / window,
    lagMs: {
      p50: percentile(allLags, 50),
      p99: percentile(allLags, 99),
      max: allLags.at(-1) ?? NaN,
      n: allLags.length,
    },
    cpu: (cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total),
    load1: load,
    fleet: fleet.nodes.length,
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values: opts } = parseArgs({
    options: {
      seconds: { type: 'string', default: '30' },
      loops: { type: 'string', default: '2' },
      'pod-only': { type: 'boolean', default: false },
      'relay-events': { type: 'string', default: '20000' },
      only: { type: 'string', default: 'churn,relay' },
      json: { type: 'string' },
    },
  });
  const only = opts.only.split(',');
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-bench-fleet-'));
  const networks: SandboxTestEnv[] = [];
  let reg: TestRegistry | undefined;
  let fleet: Fleet | undefined;
  const results: Record<string, unknown> = { date: new Date().toISOString(), args: process.argv.slice(2) };
  try {
    reg = await startRegistry();
    const image = await pushTinyImage(reg, dir);
    const regArgs = await registryConfigArgs(dir, [reg.host]);
    for (let i = 0; i < 3; i++) networks.push(await setupNetwork(`fleet${i}`));
    fleet = await startFleet({
      nodes: 3,
      dir,
      extraArgs: (i) => [...networks[i]!.args, ...regArgs, '--log-level', 'warn'],
    });
    const f = fleet;
    console.log(
      `fleet up: ${f.nodes.map((n) => n.nodeId).join(', ')}; NATS ${f.nats.urls}; Temporal ${f.temporal.address}`,
    );

    if (only.includes('churn')) {
      const churn = { image, withContainer: !opts['pod-only'] };
      // Warm-up: pulls the image and loads each node's workflow code paths once.
      await Promise.all(f.nodes.map((n) => podLife(n, churn, `warm-${n.nodeId}`, true)));
      const consumer = await FleetConsumer.start(
        f.nats.urls,
        f.nodes.map((n) => n.nodeId),
      );
      const phases = [];
      for (const count of [1, 3]) {
        const o = { seconds: Number(opts.seconds), loops: Number(opts.loops) };
        const r = await churnPhase(f, consumer, f.nodes.slice(0, count), churn, o);
        phases.push(r);
        console.log(
          `\nPod churn on ${count} of ${r.fleet} nodes, ${o.loops} loops per node, ${r.seconds.toFixed(1)} s` +
            ` (${churn.withContainer ? 'pod + one container' : 'pod only'}); CPU ${(r.cpu * 100).toFixed(0)}% of ${cpus().length} cores, load1 ${r.load1.toFixed(2)}`,
        );
        for (const n of r.perNode)
          console.log(
            `  ${n.node}: ${n.podsPerSecond.toFixed(2)} pods/s, ${n.eventsPerSecond.toFixed(1)} events/s relayed, relay lag ≤ ${n.maxRelayLag} events`,
          );
        console.log(
          `  fleet: ${r.perNode.reduce((a, n) => a + n.podsPerSecond, 0).toFixed(2)} pods/s, ` +
            `${r.fleetEventsPerSecond.toFixed(1)} events/s; append → fleet consumer lag ` +
            `p50 ${r.lagMs.p50} ms, p99 ${r.lagMs.p99} ms, max ${r.lagMs.max} ms (${r.lagMs.n} events)`,
        );
      }
      await consumer.close();
      results.churn = phases;
    }

    if (only.includes('relay')) {
      const events = Number(opts['relay-events']);
      const runs = [];
      for (const count of [1, 3]) {
        const r = await relayOnly(f, path.join(dir, `relay-${count}`), events, count, 3);
        runs.push(r);
        console.log(
          `\nRelay alone, ${count} node(s) × ${events} events, R3: ${r.perNode.join(' / ')} events/s per node, ` +
            `${r.fleet} events/s fleet-wide; CPU ${(r.cpu * 100).toFixed(0)}% of ${cpus().length} cores`,
        );
      }
      results.relay = runs;
    }
    if (opts.json) await writeFile(opts.json, JSON.stringify(results, null, 2) + '\n');
  } finally {
    if (fleet) {
      for (const n of fleet.nodes) {
        await n.stop().catch(() => undefined);
        await leftoverSweep(n);
      }
      await fleet.stop();
    }
    for (const net of networks) await teardownNetwork(net);
    await reg?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (isMainThread) await main();
else await relayWorker(workerData as RelayJob);
