/**
 * The measurable parts of "what changes at 1,000 nodes" (docs/fleet.md, "At 1,000 nodes"), on this
 * machine's own servers, without a home-made 1,000-node cluster:
 *  - streams: N node streams (BERTH_EVENTS_<node>, as the relay creates them) at R1 on one
 *    nats-server: create time, the server's RSS, open files and idle CPU; then one event each, and
 *    one ordered consumer per stream (a fleet consumer over per-node streams);
 *  - aggregate: one stream sourcing every node stream (the alternative layout): its creation, the
 *    server's RSS, and the lag from a node stream to it;
 *  - r3: M streams at R3 on a three-server cluster (a raft group each; default 2,000: 1,000 nodes'
 *    events and heads streams): create time, RSS, open files and idle CPU of the three, and how
 *    long a killed server takes to be current again;
 *  - kv: the node registry (BERTH_NODES, R3) under 1,000 nodes' heartbeats (one put per node per
 *    HEARTBEAT_MS): put latency, the servers' CPU, the bucket's size;
 *  - temporal: idle berthds' long polls on a Temporal dev server (pending at its frontend, poll
 *    requests per second, task queue partitions loaded), with 0, 1 and 3 berthds, to scale to
 *    1,000 task queues.
 *
 * Usage: node dist/bench/fleet/at-scale.js [--streams 1000] [--r3-streams 2000] [--idle 20]
 *          [--poll-window 130] [--only streams,aggregate,r3,kv,temporal] [--json FILE]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { DeliverPolicy, connect, type JetStreamManager, type NatsConnection } from 'nats';
import { execFile } from '../../src/common/exec.js';
import { streamName } from '../../src/events/relay.js';
import { HEARTBEAT_MS, NODES_BUCKET, nodesBucket, type NodeRecord } from '../../src/fleet/registry.js';
import { leftoverSweep } from '../../test/containers/support.js';
import { startBerthd, type RunningBerthd } from '../../test/helpers/berthd.js';
import { startNatsCluster, startTemporalServer, type NatsCluster } from '../../test/helpers/fleet-cluster.js';
import { percentile } from '../stats.js';

const { values: opts } = parseArgs({
  options: {
    streams: { type: 'string', default: '1000' },
    'r3-streams': { type: 'string', default: '2000' },
    idle: { type: 'string', default: '20' },
    'poll-window': { type: 'string', default: '130' },
    only: { type: 'string', default: 'streams,aggregate,r3,kv,temporal' },
    json: { type: 'string' },
  },
});
const only = opts.only.split(',');
const IDLE_S = Number(opts.idle);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = 100; // Linux's USER_HZ for /proc/<pid>/stat
const results: Record<string, unknown> = { date: new Date().toISOString(), args: process.argv.slice(2) };

const rssMiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
/** CPU seconds a process has used (user + system). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 and 15: utime, stime
}
/** Share of one CPU the processes use while idle for `s` seconds. */
async function idleCpu(pids: number[], s: number): Promise<number> {
  const before = pids.map(cpuSeconds);
  await sleep(s * 1000);
  return pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - before[i]!, 0) / s;
}
const du = async (dir: string) => Number((await execFile('du', ['-sk', dir])).split('\t')[0]) / 1024;
const f1 = (n: number) => n.toFixed(1);

/** Creates `count` node streams as the relay does, `parallel` at a time; per-create latencies in ms. */
async function createStreams(jsm: JetStreamManager, names: string[], replicas: number, parallel = 8) {
  const lat: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < names.length) {
        const node = names[next++]!;
        const t0 = performance.now();
        await jsm.streams.add({
          name: streamName(node),
          subjects: [`berth.events.${node}.>`],
          num_replicas: replicas,
        });
        lat.push(performance.now() - t0);
      }
    }),
  );
  return lat.sort((a, b) => a - b);
}

async function withCluster<T>(
  size: number,
  fn: (c: NatsCluster, nc: NatsConnection) => Promise<T>,
): Promise<T> {
  const cluster = await startNatsCluster({ size });
  const nc = await connect({ servers: cluster.urls.split(','), timeout: 20_000 });
  try {
    return await fn(cluster, nc);
  } finally {
    await nc.close();
    await cluster.stop();
  }
}

const nodeNames = (n: number, prefix = 'node') =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(4, '0')}`);

async function streamsOnOneServer(n: number): Promise<void> {
  await withCluster(1, async (cluster, nc) => {
    const pid = cluster.servers[0]!.pid();
    const jsm = await nc.jetstreamManager({ timeout: 20_000 });
    const js = nc.jetstream();
    const base = { rss: rssMiB(pid), fds: fds(pid), idle: await idleCpu([pid], 5) };
    const names = nodeNames(n);
    const t0 = performance.now();
    const lat = await createStreams(jsm, names, 1);
    const createS = (performance.now() - t0) / 1000;
    const created = { rss: rssMiB(pid), fds: fds(pid), idle: await idleCpu([pid], IDLE_S) };
    // One 400-byte event per stream: every stream gets a block file and an index.
    const payload = 'x'.repeat(400);
    for (const node of names) await js.publish(`berth.events.${node}.k8s_io.tasks.start`, payload);
    const published = { rss: rssMiB(pid), fds: fds(pid), disk: await du(cluster.servers[0]!.storeDir) };
    // A fleet consumer over per-node streams: one ordered (ephemeral, R1, memory) consumer per stream.
    const t1 = performance.now();
    const consumers = [];
    for (const node of names)
      consumers.push(await js.consumers.get(streamName(node), { deliver_policy: DeliverPolicy.New }));
    const iters = await Promise.all(consumers.map((c) => c.consume()));
    const consumerS = (performance.now() - t1) / 1000;
    await sleep(2000);
    const consuming = {
      rss: rssMiB(pid),
      idle: await idleCpu([pid], IDLE_S),
      clientRss: process.memoryUsage().rss / 2 ** 20,
    };
    for (const it of iters) await it.close();
    const r = {
      n,
      createS,
      createMs: { p50: percentile(lat, 50), p99: percentile(lat, 99) },
      base,
      created,
      published,
      consumerS,
      consuming,
    };
    results.streams = r;
    console.log(`\n${n} R1 node streams on one nats-server (${cluster.servers[0]!.name}):`);
    console.log(
      `  create: ${f1(createS)} s (p50 ${f1(r.createMs.p50)} ms, p99 ${f1(r.createMs.p99)} ms, 8 in flight)`,
    );
    console.log(
      `  RSS ${f1(base.rss)} → ${f1(created.rss)} MiB (${f1(((created.rss - base.rss) * 1024) / n)} KiB/stream); ` +
        `open files ${base.fds} → ${created.fds}; idle CPU ${f1(base.idle * 100)}% → ${f1(created.idle * 100)}% of one core`,
    );
    console.log(
      `  one event each: RSS ${f1(published.rss)} MiB, open files ${published.fds}, store ${f1(published.disk)} MiB`,
    );
    console.log(
      `  ${n} ordered consumers (one fleet reader): ${f1(consumerS)} s to open; server RSS ${f1(consuming.rss)} MiB, ` +
        `idle CPU ${f1(consuming.idle * 100)}%; reader RSS ${f1(consuming.clientRss)} MiB`,
    );
  });
}

async function aggregate(n: number): Promise<void> {
  await withCluster(1, async (cluster, nc) => {
    const pid = cluster.servers[0]!.pid();
    const jsm = await nc.jetstreamManager({ timeout: 60_000 });
    const names = nodeNames(n);
    await createStreams(jsm, names, 1);
    const before = rssMiB(pid);
    const t0 = performance.now();
    await jsm.streams.add({
      name: 'BERTH_EVENTS_ALL',
      sources: names.map((node) => ({ name: streamName(node) })),
    });
    const createS = (performance.now() - t0) / 1000;
    await sleep(5000);
    const after = rssMiB(pid);
    const idle = await idleCpu([pid], IDLE_S);
    // Lag from a node stream to the aggregate: 20 events/s spread over the nodes for 20 s.
    const js = nc.jetstream();
    const sent = new Map<string, number>();
    const lags: number[] = [];
    const reader = await (
      await js.consumers.get('BERTH_EVENTS_ALL', { deliver_policy: DeliverPolicy.New })
    ).consume();
    void (async () => {
      for await (const m of reader) {
        const t = sent.get(m.string());
        if (t !== undefined) lags.push(performance.now() - t);
      }
    })();
    for (let i = 0; i < 400; i++) {
      const node = names[(i * 7919) % n]!;
      sent.set(`e${i}`, performance.now());
      await js.publish(`berth.events.${node}.default.tasks.start`, `e${i}`);
      await sleep(50);
    }
    for (let i = 0; i < 100 && lags.length < 400; i++) await sleep(100);
    await reader.close();
    lags.sort((a, b) => a - b);
    const r = {
      n,
      createS,
      rss: { before, after },
      idle,
      lagMs: { p50: percentile(lags, 50), p99: percentile(lags, 99), n: lags.length },
    };
    results.aggregate = r;
    console.log(`\nOne stream sourcing ${n} node streams (R1, one server):`);
    console.log(
      `  create: ${f1(createS)} s; RSS ${f1(before)} → ${f1(after)} MiB; idle CPU ${f1(idle * 100)}% of one core`,
    );
    console.log(
      `  node stream → aggregate lag at 20 events/s: p50 ${f1(r.lagMs.p50)} ms, p99 ${f1(r.lagMs.p99)} ms (${lags.length}/400 arrived)`,
    );
  });
}

async function r3(m: number): Promise<void> {
  await withCluster(3, async (cluster, nc) => {
    const pids = () => cluster.servers.map((s) => s.pid());
    const rss = () => pids().reduce((a, p) => a + rssMiB(p), 0);
    const files = () => pids().reduce((a, p) => a + fds(p), 0);
    const jsm = await nc.jetstreamManager({ timeout: 60_000 });
    const base = { rss: rss(), fds: files(), idle: await idleCpu(pids(), 5) };
    const t0 = performance.now();
    const lat = await createStreams(jsm, nodeNames(m, 'r'), 3);
    const createS = (performance.now() - t0) / 1000;
    await sleep(2000);
    const created = { rss: rss(), fds: files(), idle: await idleCpu(pids(), IDLE_S) };
    const victim = cluster.servers[2]!;
    await victim.kill('SIGKILL');
    const t1 = performance.now();
    await victim.start(); // resolves once /healthz says its replicas are current
    const recoverS = (performance.now() - t1) / 1000;
    const r = {
      m,
      createS,
      createMs: { p50: percentile(lat, 50), p99: percentile(lat, 99) },
      base,
      created,
      recoverS,
    };
    results.r3 = r;
    console.log(
      `\n${m} R3 node streams on a three-server cluster (${m * 3} stream replicas, ${m} raft groups + the meta group):`,
    );
    console.log(
      `  create: ${f1(createS)} s (p50 ${f1(r.createMs.p50)} ms, p99 ${f1(r.createMs.p99)} ms, 8 in flight)`,
    );
    console.log(
      `  RSS of the three ${f1(base.rss)} → ${f1(created.rss)} MiB (${f1(((created.rss - base.rss) * 1024) / m)} KiB/stream); ` +
        `open files ${base.fds} → ${created.fds}; idle CPU ${f1(base.idle * 100)}% → ${f1(created.idle * 100)}% of one core`,
    );
    console.log(`  a SIGKILLed server is current again ${f1(recoverS)} s after its restart`);
  });
}

/** 1,000 nodes' registry heartbeats on an R3 bucket: `n` keys, each rewritten every HEARTBEAT_MS. */
async function kv(n: number): Promise<void> {
  await withCluster(3, async (cluster, nc) => {
    const pids = cluster.servers.map((s) => s.pid());
    const bucket = await nodesBucket(nc, 3);
    const record = (i: number): NodeRecord => {
      const now = new Date().toISOString();
      return {
        v: 1,
        nodeId: `node${i}`,
        host: `host-${i}.example.internal`,
        root: '/var/lib/berth',
        pid: 4242,
        instance: 'a1b2c3d4e5f6',
        version: '0.1.0',
        taskQueue: `berth.node${i}`,
        eventsStream: streamName(`node${i}`),
        startedAt: now,
        seenAt: now,
        logSeq: 123456,
        relayedSeq: 123456,
      };
    };
    for (let i = 0; i < n; i++) await bucket.put(`node${i}`, JSON.stringify(record(i)));
    const bytes = JSON.stringify(record(0)).length;
    // Each node beats on its own timer: spread n puts evenly over each HEARTBEAT_MS.
    const lat: number[] = [];
    const cpu0 = pids.map(cpuSeconds);
    const t0 = performance.now();
    const puts: Promise<void>[] = [];
    for (let k = 0; performance.now() - t0 < IDLE_S * 1000; k++) {
      const due = t0 + (k * HEARTBEAT_MS) / n;
      if (due > performance.now()) await sleep(due - performance.now());
      const s0 = performance.now();
      puts.push(
        bucket
          .put(`node${k % n}`, JSON.stringify(record(k % n)))
          .then(() => void lat.push(performance.now() - s0)),
      );
    }
    await Promise.all(puts);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = pids.reduce((a, p, i) => a + cpuSeconds(p) - cpu0[i]!, 0) / seconds;
    const info = await (await nc.jetstreamManager()).streams.info(`KV_${NODES_BUCKET}`);
    lat.sort((a, b) => a - b);
    const r = {
      n,
      putsPerSecond: lat.length / seconds,
      recordBytes: bytes,
      bucketBytes: info.state.bytes,
      putMs: { p50: percentile(lat, 50), p99: percentile(lat, 99) },
      cpu,
    };
    results.kv = r;
    console.log(
      `\nThe node registry at ${n} nodes (R3, three servers): ${f1(r.putsPerSecond)} heartbeats/s of ${bytes} bytes;`,
    );
    console.log(
      `  put p50 ${f1(r.putMs.p50)} ms, p99 ${f1(r.putMs.p99)} ms; the three servers use ${f1(cpu * 100)}% of one core; ` +
        `bucket ${f1(info.state.bytes / 1024)} KiB (history 1)`,
    );
  });
}

/** From the frontend's metrics, namespace `default`: pending long polls by kind, poll requests, loaded partitions. */
async function polls(metricsUrl: string) {
  const lines = (await (await fetch(metricsUrl)).text())
    .split('\n')
    .filter((l) => l.includes('namespace="default"'));
  const sum = (metric: string, ...parts: (string | RegExp)[]) =>
    lines
      .filter(
        (l) =>
          l.startsWith(`${metric}{`) &&
          parts.every((p) => (typeof p === 'string' ? l.includes(p) : p.test(l))),
      )
      .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  const frontend = 'service_name="frontend"';
  return {
    workflowPolls: sum('service_pending_requests', frontend, 'operation="PollWorkflowTaskQueue"'),
    activityPolls: sum('service_pending_requests', frontend, 'operation="PollActivityTaskQueue"'),
    requests: sum('service_requests', frontend, /operation="Poll(Workflow|Activity)TaskQueue"/),
    partitions: sum('loaded_task_queue_partition_count'),
  };
}

/** Idle berthds' long polls: 0, 1 and 3 berthds, each idle for `window` seconds (a long poll lasts about a minute). */
async function temporal(window: number): Promise<void> {
  const temporal = await startTemporalServer();
  const nats = await startNatsCluster({ size: 1 });
  const nodes: RunningBerthd[] = [];
  const rows = [];
  try {
    for (const count of [0, 1, 3]) {
      while (nodes.length < count)
        nodes.push(
          await startBerthd({
            nodeId: `idle${nodes.length + 1}-${process.pid}`,
            args: ['--temporal-address', temporal.address, '--nats-url', nats.urls, '--log-level', 'warn'],
          }),
        );
      await sleep(5000); // the new workers' pollers are up
      const a = await polls(temporal.metricsUrl);
      await sleep(window * 1000);
      const b = await polls(temporal.metricsUrl);
      rows.push({
        nodes: count,
        ...b,
        perSecond: (b.requests - a.requests) / window,
        rss: rssMiB(temporal.pid()),
      });
    }
  } finally {
    for (const n of nodes) {
      await n.stop();
      await leftoverSweep(n);
      await n.cleanup();
    }
    await temporal.stop();
    await nats.stop();
  }
  results.temporal = rows;
  console.log(`\nIdle berthds on one Temporal dev server (namespace default, each row over ${window} s):`);
  for (const r of rows)
    console.log(
      `  ${r.nodes} berthd(s): long polls pending at the frontend ${r.workflowPolls} workflow + ${r.activityPolls} activity, ` +
        `${f1(r.perSecond)} poll requests/s, ${r.partitions} task queue partitions loaded; server RSS ${f1(r.rss)} MiB`,
    );
}

if (only.includes('streams')) await streamsOnOneServer(Number(opts.streams));
if (only.includes('aggregate')) await aggregate(Number(opts.streams));
if (only.includes('r3')) await r3(Number(opts['r3-streams']));
if (only.includes('kv')) await kv(Number(opts.streams));
if (only.includes('temporal')) await temporal(Number(opts['poll-window']));
if (opts.json) await writeFile(opts.json, JSON.stringify(results, null, 2) + '\n');
