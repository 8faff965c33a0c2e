/**
 * A fleet on this machine: three berthds (own roots, node ids, CRI and API sockets, CNI networks)
 * on one Temporal server and a three-server NATS cluster (streams replicated ×3), all on loopback.
 * Faults, each with nothing lost and nothing done twice:
 * - one node SIGKILLed in the middle of a pull and of a pod start: only its transitions wait, the
 *   other two keep serving, and its transitions finish after its restart;
 * - one NATS server killed and restarted under load: every node's stream holds its log exactly
 *   once, in seq order;
 * - the Temporal server restarted: transitions in flight on every node complete once it is back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsServerList } from '../../src/common/nats-servers.js';
import type { SandboxView } from '../../src/daemon/sandboxes.js';
import { streamName } from '../../src/events/relay.js';
import { readStream } from '../../src/events/witness.js';
import { listNodes } from '../../src/fleet/registry.js';
import type { NodeInfo } from '../../src/api/types.js';
import { BerthdExitedError, runCli, startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import type { FleetAudit } from '../../src/fleet/audit.js';
import type { NodeStatus } from '../../src/fleet/nodes.js';
import type { FleetPs } from '../../src/fleet/ps.js';
import { logConsistency } from '../helpers/crash.js';
import {
  startNatsCluster,
  startTemporalServer,
  type NatsCluster,
  type TemporalServer,
} from '../helpers/fleet-cluster.js';
import { busyboxBinary, randomBytesSeeded, writeOciLayout } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { pullViaApi, registryConfigArgs } from '../images/support.js';
import { startFaultProxy, type FaultProxy } from '../registry/fault-proxy.js';
import {
  disposeDaemon,
  podConfig,
  runPod,
  setupNetwork,
  teardownNetwork,
  type SandboxTestEnv,
} from '../sandboxes/support.js';

const NODES = ['n1', 'n2', 'n3'] as const;
/** n2 SIGKILLs itself once each: with a pull's layers unpacked but not recorded, and before a pod's set-up. */
const N2_CRASHES = ['pullRecord:before', 'sandboxSetUp:before'];

interface Node {
  id: string;
  d: RunningBerthd;
  net: SandboxTestEnv;
  env: NodeJS.ProcessEnv;
}

let work: string;
let reg: TestRegistry;
let image: string;
/** Pulled through the fault proxy, whose pause holds a layer mid-download: a transition surely in flight. */
let slowImage: string;
let proxy: FaultProxy;
let nats: NatsCluster;
let temporal: TemporalServer;
let registryArgs: string[];
const nodes: Node[] = [];
let nc: NatsConnection;
let temporalClient: { client: Client; connection: Connection };

const node = (id: string): Node => nodes.find((n) => n.id === id)!;

async function startNode(id: string, net: SandboxTestEnv, env: NodeJS.ProcessEnv, prior?: RunningBerthd) {
  const args = [
    '--temporal-address',
    temporal.address,
    '--nats-url',
    nats.urls,
    '--nats-replicas',
    '3',
    ...registryArgs,
    ...net.args,
  ];
  return startBerthd({ nodeId: id, args, env, ...(prior ? { root: prior.root, state: prior.state } : {}) });
}

/** Waits for a SIGKILL the node's crash hook sent itself. */
async function killedBySelf(d: RunningBerthd): Promise<void> {
  await d.stop().catch(() => undefined);
  expect(d.proc.signalCode, d.output().slice(-3000)).toBe('SIGKILL');
}

/** The same node again: its root, state, id and hooks (each hook fires once per root). */
async function restart(n: Node): Promise<void> {
  try {
    n.d = await startNode(n.id, n.net, n.env, n.d);
  } catch (err) {
    if (err instanceof BerthdExitedError) throw new Error(`${n.id} did not come back:\n${err.output}`);
    throw err;
  }
}

/** A pod lifecycle (run, stop, remove) on a node: proof that it serves. */
async function podCycle(n: Node, name: string): Promise<void> {
  const pod = await runPod(n.d, podConfig(name));
  expect(pod.state).toBe('ready');
  await n.d.client.post(`/v1/sandboxes/${pod.id}/stop`);
  await n.d.client.delete(`/v1/sandboxes/${pod.id}`);
}

/** One row of the fault table (the closing note and docs/fleet.md quote these lines). */
function fault(what: string, outcome: string): void {
  console.log(`fault | ${what} | ${outcome}`);
}

async function running(query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of temporalClient.client.workflow.list({ query })) ids.push(w.workflowId);
  return ids;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The node's stream holds its log exactly once, in seq order: stream seq i is event i, same hash. */
async function streamMatchesLog(n: Node): Promise<number> {
  const info = await n.d.client.get<NodeInfo>('/v1/info');
  const last = info.events!.lastSeq;
  await waitFor(`${n.id}'s relay to catch up`, 60_000, async () => {
    const relay = (await n.d.client.get<NodeInfo>('/v1/info')).events?.relay;
    return relay && relay.cursor >= last ? true : undefined;
  });
  const hashes = new Map<number, string>();
  for await (const e of n.d.client.stream<{ seq: number; hash: string }>('/v1/events'))
    hashes.set(e.seq, e.hash);
  let expected = 1;
  for await (const m of readStream(nc, streamName(n.id))) {
    const event = JSON.parse(m.data) as { seq: number; hash: string };
    expect({ streamSeq: m.streamSeq, msgId: m.msgId, seq: event.seq }).toEqual({
      streamSeq: expected,
      msgId: `${n.id}:${expected}`,
      seq: expected,
    });
    expect(event.hash).toBe(hashes.get(event.seq));
    expected++;
  }
  expect(expected - 1).toBeGreaterThanOrEqual(last);
  return expected - 1;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-fleet-'));
  reg = await startRegistry();
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, 'fleet', {
    layers: [
      { files: [{ path: 'bin/busybox', content: await busyboxBinary(), mode: 0o755 }] },
      { files: [{ path: 'data', content: randomBytesSeeded(200_000, 23) }] },
    ],
  });
  await writeOciLayout(layout, 'slow', {
    layers: [{ files: [{ path: 'slow', content: randomBytesSeeded(1_000_000, 24) }], compression: 'none' }],
  });
  await reg.push(layout, 'fleet', 'test/fleet');
  await reg.push(layout, 'slow', 'test/slow');
  image = `${reg.host}/test/fleet:fleet`;
  proxy = await startFaultProxy(reg.host);
  slowImage = `${proxy.host}/test/slow:slow`;
  registryArgs = await registryConfigArgs(work, [reg.host, proxy.host]);
  nats = await startNatsCluster({ size: 3, dir: work });
  temporal = await startTemporalServer({ dir: work });
  for (const id of NODES) {
    const net = await setupNetwork(`fleet${id}`);
    const env: NodeJS.ProcessEnv =
      id === 'n2' ? { BERTH_TEST_HOOKS: '1', BERTH_TEST_CRASH_AT: N2_CRASHES.join(',') } : {};
    nodes.push({ id, net, env, d: await startNode(id, net, env) });
  }
  nc = await connect({ servers: natsServerList(nats.urls) });
  const connection = await Connection.connect({ address: temporal.address });
  temporalClient = { connection, client: new Client({ connection }) };
}, 240_000);

afterAll(async () => {
  await nc?.close();
  await temporalClient?.connection.close();
  for (const n of nodes) {
    await disposeDaemon(n.d);
    await teardownNetwork(n.net);
  }
  await temporal?.stop();
  await nats?.stop();
  await proxy?.close();
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

describe('a fleet of three berthds on one Temporal server and a three-server NATS cluster', () => {
  it('each node claims its id, runs on its own task queue and publishes to its own stream ×3', async () => {
    for (const n of nodes) {
      const info = await n.d.client.get<NodeInfo>('/v1/info');
      expect(info.taskQueue).toBe(`berth.${n.id}`);
      expect(info.services.map((s) => [s.name, s.mode, s.health])).toEqual([
        ['temporal', 'external', 'healthy'],
        ['nats', 'external', 'healthy'],
      ]);
      const stream = await (await nc.jetstreamManager()).streams.info(streamName(n.id));
      expect(stream.config.num_replicas).toBe(3);
      expect(stream.config.subjects).toEqual([`berth.events.${n.id}.>`]);
    }
    const records = await listNodes(nc);
    expect(records.map((r) => [r.nodeId, r.root, r.pid])).toEqual(
      nodes.map((n) => [n.id, n.d.root, n.d.proc.pid]),
    );
  });

  it('a node SIGKILLed mid-pull and mid-pod-start: only its transitions wait, and finish after its restart, once', async () => {
    const n2 = node('n2');
    // The pull dies on n2 with its layers unpacked but not recorded.
    const pull = await pullViaApi(n2.d.client, image).catch((err: Error) => ({ image: undefined, err }));
    expect(pull.image, JSON.stringify(pull)).toBeUndefined();
    await killedBySelf(n2.d);
    const pullKilledAt = Date.now();
    const pullWorkflow = `pull:n2:default:${image}`;
    // Temporal's visibility finds the stuck transition by node.
    const stuck = await waitFor('the pull to show as running on n2', 30_000, async () => {
      const ids = await running(`BerthNode="n2" AND ExecutionStatus="Running"`);
      return ids.includes(pullWorkflow) ? ids : undefined;
    });
    expect(stuck).toContain(pullWorkflow);
    // The other two keep serving meanwhile: pulls and pod lifecycles.
    const servedFrom = Date.now();
    for (const id of ['n1', 'n3']) {
      expect((await pullViaApi(node(id).d.client, image)).image?.name).toBe(image);
      await podCycle(node(id), `during-n2-down-${id}`);
    }
    const servedMs = Date.now() - servedFrom;
    expect(await running(`BerthNode="n2" AND ExecutionStatus="Running"`)).toContain(pullWorkflow);
    // Back on the same root, n2 finishes the pull without being asked again.
    const restartAt = Date.now();
    await restart(n2);
    await temporalClient.client.workflow.getHandle(pullWorkflow).result();
    fault(
      'n2 SIGKILLed mid-pull',
      `n1 and n3 pulled and ran a pod lifecycle each meanwhile (${servedMs} ms); n2's pull waited ` +
        `${restartAt - pullKilledAt} ms down, finished ${Date.now() - restartAt} ms after its restart`,
    );
    const images = await n2.d.client.get<{ name: string }[]>('/v1/images');
    expect(images.filter((i) => i.name === image)).toHaveLength(1);

    // A pod start dies on n2 before its set-up; n1 serves meanwhile.
    const config = podConfig('mid-start');
    await expect(runPod(n2.d, config)).rejects.toThrow();
    await killedBySelf(n2.d);
    await podCycle(node('n1'), 'during-n2-down-again');
    const podRestartAt = Date.now();
    const podWorkflows = await running(`BerthNode="n2" AND BerthPod="sbx-test/mid-start"`);
    expect(podWorkflows).toHaveLength(1);
    await restart(n2);
    await temporalClient.client.workflow.getHandle(podWorkflows[0]!).result();
    fault(
      'n2 SIGKILLed mid-pod-start',
      `n1 ran a pod lifecycle meanwhile; the create finished ${Date.now() - podRestartAt} ms after n2's restart`,
    );
    // Asking again joins the finished transition: the same pod, ready, one of it.
    const pod = await runPod(n2.d, config);
    expect(pod.state).toBe('ready');
    const pods = await n2.d.client.get<SandboxView[]>('/v1/sandboxes');
    expect(pods.filter((p) => p.metadata?.name === 'mid-start').map((p) => p.id)).toEqual([pod.id]);
    await n2.d.client.post(`/v1/sandboxes/${pod.id}/stop`);
    await n2.d.client.delete(`/v1/sandboxes/${pod.id}`);
    // Nothing twice: each crashed transition's events once, the chain whole, the projections equal a rebuild.
    for (const workflow of [pullWorkflow, podWorkflows[0]!]) {
      const consistency = await logConsistency(n2.d, workflow);
      expect(consistency.chain.ok).toBe(true);
      expect(consistency.projection.equal).toBe(true);
      expect(consistency.events.length).toBeGreaterThan(0);
      expect(consistency.events.filter((e, i) => consistency.events.indexOf(e) !== i)).toEqual([]);
    }
    for (const n of nodes) await streamMatchesLog(n);
  }, 240_000);

  it('one NATS server killed and restarted under load: every stream holds its log once, in seq order', async () => {
    let stop = false;
    const churn = nodes.map(async (n) => {
      let i = 0;
      while (!stop) await podCycle(n, `churn-${n.id}-${i++}`);
      return i;
    });
    const lastSeqs = () =>
      Promise.all(nodes.map(async (n) => (await n.d.client.get<NodeInfo>('/v1/info')).events!.lastSeq));
    await new Promise((r) => setTimeout(r, 2_000));
    const victim = nats.servers[1]!;
    await victim.kill('SIGKILL');
    const atKill = await lastSeqs();
    await new Promise((r) => setTimeout(r, 4_000));
    const atRestart = await lastSeqs();
    const restartFrom = Date.now();
    await victim.start();
    const restartMs = Date.now() - restartFrom;
    await new Promise((r) => setTimeout(r, 3_000));
    stop = true;
    const cycles = await Promise.all(churn);
    expect(Math.min(...cycles)).toBeGreaterThan(2);
    // Every node appended while the server was down: those events crossed the outage.
    atRestart.forEach((seq, i) => expect(seq).toBeGreaterThan(atKill[i]!));
    const totals = [];
    for (const n of nodes) totals.push(await streamMatchesLog(n));
    fault(
      'a NATS server SIGKILLed for 4 s under pod churn',
      `${cycles.join('/')} pod cycles, ${atRestart.map((s, i) => s - atKill[i]!).join('/')} events ` +
        `appended while it was down, streams ${totals.join('/')} events each once in seq order; ` +
        `it was current again ${restartMs} ms after its start`,
    );
  }, 180_000);

  it('the Temporal server restarted: transitions in flight on every node complete once it is back', async () => {
    // Each node's pull of the slow image is held mid-layer by the proxy: in flight for sure.
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    // Every blob GET: the small config blob passes whole, the 1 MB layer stops at 64 KiB.
    proxy.addFault({
      method: 'GET',
      path: /\/blobs\/sha256:/,
      action: { kind: 'pause', afterBytes: 65_536, until: held },
      times: 100,
    });
    const pulls = nodes.map((n) => pullViaApi(n.d.client, slowImage).catch(() => undefined));
    await waitFor('every node to be mid-download', 30_000, async () =>
      proxy.requests.filter((r) => r.bytes >= 65_536).length >= nodes.length ? true : undefined,
    );
    const configs = nodes.map((n) => [0, 1, 2].map((i) => podConfig(`across-temporal-${n.id}-${i}`)));
    const requests = nodes.flatMap((n, k) => configs[k]!.map((c) => runPod(n.d, c).catch(() => undefined)));
    await new Promise((r) => setTimeout(r, 100));
    await temporal.kill('SIGKILL');
    const killedAt = Date.now();
    const answered = (await Promise.all(requests)).filter((r) => r !== undefined).length;
    await new Promise((r) => setTimeout(r, 2_000));
    const restartAt = Date.now();
    await temporal.start();
    const upAt = Date.now();
    release();
    await Promise.all(pulls);
    for (const n of nodes) {
      const pulled = await waitFor(
        `${slowImage} on ${n.id}`,
        90_000,
        async () => (await pullViaApi(n.d.client, slowImage)).image,
      );
      expect(pulled.name).toBe(slowImage);
      const run = await temporalClient.client.workflow
        .getHandle(`pull:${n.id}:default:${slowImage}`)
        .describe();
      // Started before the kill, finished after it: in flight across the outage, on its own node.
      expect(run.startTime.getTime()).toBeLessThan(killedAt);
      expect(run.closeTime!.getTime()).toBeGreaterThan(upAt);
      expect(run.taskQueue).toBe(`berth.${n.id}`);
      const log = await logConsistency(n.d, `pull:${n.id}:default:${slowImage}`);
      expect(log.events.length).toBeGreaterThan(0);
      expect(log.events.filter((e, i) => log.events.indexOf(e) !== i)).toEqual([]);
    }
    // Every request again until it answers: each joins its transition, which completes once.
    for (const [k, n] of nodes.entries()) {
      for (const c of configs[k]!) {
        const pod = await waitFor(`${c.metadata.name} on ${n.id}`, 90_000, () => runPod(n.d, c));
        expect(pod.state).toBe('ready');
      }
      const pods = await n.d.client.get<SandboxView[]>('/v1/sandboxes');
      const names = pods.map((p) => p.metadata?.name).filter((m) => m?.startsWith('across-temporal-'));
      expect(names.sort()).toEqual(configs[k]!.map((c) => c.metadata.name).sort());
      const consistency = await logConsistency(n.d, `sandbox:${n.id}:default:uid-across-temporal-`);
      expect(consistency.chain.ok).toBe(true);
      expect(consistency.projection.equal).toBe(true);
      expect(consistency.events.length).toBeGreaterThan(0);
      expect(consistency.events.filter((e, i) => consistency.events.indexOf(e) !== i)).toEqual([]);
    }
    const doneAt = Date.now();
    await waitFor('no transition left running', 60_000, async () =>
      (await running(`ExecutionStatus="Running" AND WorkflowType="createSandbox"`)).length === 0
        ? true
        : undefined,
    );
    // The pod creates that had started before the kill and closed after it crossed it too.
    let acrossKill = 0;
    for (const [k, n] of nodes.entries()) {
      for (const c of configs[k]!) {
        const run = await temporalClient.client.workflow
          .getHandle(`sandbox:${n.id}:default:${c.metadata.uid}:0`)
          .describe();
        if (run.startTime.getTime() < killedAt && (run.closeTime?.getTime() ?? Infinity) > killedAt)
          acrossKill++;
      }
    }
    fault(
      'the Temporal server SIGKILLed with a pull mid-download on every node and 9 pod creates asked, back after 2 s',
      `3 pulls in flight across it and completed on their own nodes; of the creates ${answered} answered before the kill, ` +
        `${acrossKill} started before it finished after it, the rest started after; ` +
        `the server answered ${upAt - restartAt} ms after its start, every pod ready ${doneAt - upAt} ms later, once each`,
    );
    for (const n of nodes) await streamMatchesLog(n);
  }, 240_000);
  it('after the faults, the fleet tools see every node from the cluster alone', async () => {
    const cli = async <T>(...args: string[]): Promise<T> => {
      const r = await runCli(nodes[0]!.d.socket, ['fleet', ...args, '--nats-url', nats.urls, '--json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as T;
    };
    const statuses = await cli<NodeStatus[]>('nodes', '--temporal-address', temporal.address);
    expect(statuses.map((s) => [s.node, s.health, s.running])).toEqual(NODES.map((id) => [id, 'up', 0]));
    for (const s of statuses) {
      const info = await node(s.node).d.client.get<NodeInfo>('/v1/info');
      expect(s.lastEvent?.seq).toBeLessThanOrEqual(info.events!.lastSeq);
    }
    const ps = await cli<FleetPs>('ps');
    for (const n of nodes) {
      const own = await n.d.client.get<SandboxView[]>('/v1/sandboxes');
      expect(
        ps.pods
          .filter((p) => p.node === n.id)
          .map((p) => p.id)
          .sort(),
      ).toEqual(own.map((p) => p.id).sort());
    }
    // Every chain verifies from its replicated stream, against the node's signed heads.
    const audit = await waitFor('a signed head over every node', 30_000, async () => {
      const a = await cli<FleetAudit>('audit');
      return a.ok ? a : undefined;
    });
    expect(audit.nodes.map((a) => [a.node, a.ok, a.findings])).toEqual(NODES.map((id) => [id, true, []]));
  }, 120_000);
});
