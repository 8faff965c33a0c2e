/**
 * `berth fleet nodes|events|ps|audit` against two real berthds on one NATS: A (the container test
 * env: a registry, an image, embedded Temporal and NATS) holds a pod and a container; B (on A's
 * Temporal and NATS) runs the demo transition. The CLI reads NATS only; each node's own API is
 * the reference it is checked against. Last, a forged message on B's stream fails B's audit.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import type { NodeInfo } from '../../src/api/types.js';
import type { ContainerStatus } from '../../src/daemon/containers.js';
import type { SandboxView } from '../../src/daemon/sandboxes.js';
import type { BerthEvent } from '../../src/events/model.js';
import { streamName, subjectFor } from '../../src/events/relay.js';
import type { FleetAudit } from '../../src/fleet/audit.js';
import type { NodeStatus } from '../../src/fleet/nodes.js';
import type { FleetPs } from '../../src/fleet/ps.js';
import { NodeClaim } from '../../src/fleet/registry.js';
import { BERTH_CLI, runCli, startBerthd, testEnv, type RunningBerthd } from '../helpers/berthd.js';
import { startContainerEnv, type ContainerEnv } from '../containers/support.js';
import { pullViaApi } from '../images/support.js';

type FleetEventJson = BerthEvent & { node: string };

let env: ContainerEnv;
let a: RunningBerthd;
let b: RunningBerthd | undefined;
let natsUrl: string;
let temporalAddress: string;
const made: { container?: string; pod?: string } = {};

const fleet = (...args: string[]) => runCli(a.socket, ['fleet', ...args, '--nats-url', natsUrl]);
const json = <T>(r: { stdout: string }) => JSON.parse(r.stdout) as T;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Resolves once the node's whole log and a head over all of it are on NATS; returns its last seq. */
async function settled(d: RunningBerthd): Promise<number> {
  return until(`node ${d.nodeId} to publish its log and a head over it`, async () => {
    const i = await d.client.get<NodeInfo>('/v1/info');
    const last = i.events?.lastSeq ?? 0;
    const relay = i.events?.relay;
    return last > 0 && relay?.cursor === last && relay.headsPublished === last ? last : undefined;
  });
}

/** The node's own history, from its API. */
async function ownEvents(d: RunningBerthd): Promise<BerthEvent[]> {
  const out: BerthEvent[] = [];
  for await (const e of d.client.stream<BerthEvent>('/v1/events')) out.push(e);
  return out;
}

beforeAll(async () => {
  env = await startContainerEnv({ env: { BERTH_TEST_HOOKS: '1' } });
  a = env.berthd;
  const info = await a.client.get<NodeInfo>('/v1/info');
  natsUrl = info.services.find((s) => s.name === 'nats')!.address;
  temporalAddress = info.services.find((s) => s.name === 'temporal')!.address;
  b = await startBerthd({
    nodeId: `fleet-b-${process.pid}`,
    args: ['--temporal-address', temporalAddress, '--nats-url', natsUrl],
    env: { BERTH_TEST_HOOKS: '1' },
  });
  expect((await pullViaApi(a.client, env.image)).error).toBeUndefined();
  const pod = await a.client.post<SandboxView>('/v1/sandboxes', {
    config: {
      metadata: { name: 'fleet-pod', namespace: 'fleet-test', uid: 'uid-fleet-pod', attempt: 0 },
      linux: { namespaceOptions: { network: 'node' } },
    },
  });
  made.pod = pod.id;
  const c = await a.client.post<ContainerStatus>('/v1/containers', {
    name: 'fleet-ctr',
    image: env.image,
    args: ['true'],
  });
  made.container = c.id;
  await b.client.post('/v1/test/demo', { id: 'fleet-one' });
  await Promise.all([settled(a), settled(b)]);
}, 240_000);

afterAll(async () => {
  try {
    if (b) {
      await b.stop();
      await b.cleanup();
    }
    if (made.container) await a.client.delete(`/v1/containers/${made.container}?force=true`);
    if (made.pod) await a.client.delete(`/v1/sandboxes/${made.pod}`);
  } finally {
    await env?.cleanup();
  }
}, 120_000);

describe('berth fleet nodes', () => {
  it('lists both nodes up, with their last event and no relay lag', async () => {
    const r = await fleet('nodes', '--json');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const nodes = json<NodeStatus[]>(r);
    for (const d of [a, b!]) {
      const last = (await d.client.get<NodeInfo>('/v1/info')).events!.lastSeq;
      expect(nodes.find((n) => n.node === d.nodeId)).toMatchObject({
        health: 'up',
        stream: streamName(d.nodeId),
        messages: last,
        lastEvent: { seq: last },
        relayLag: 0,
      });
    }
    const text = await fleet('nodes');
    expect(text.stdout.split('\n')[0]).toMatch(/^NODE\s+HEALTH\s+LAST SEQ\s+LAST EVENT\s+TOPIC\s+RELAY LAG/);
    expect(text.stdout).toMatch(new RegExp(`^${b!.nodeId}\\s+up\\s+\\d+`, 'm'));
  });

  it('finds NATS through the local berthd when no --nats-url is given', async () => {
    const r = await runCli(b!.socket, ['fleet', 'nodes', '--json']);
    expect(r.code).toBe(0);
    expect(json<NodeStatus[]>(r).map((n) => n.node)).toEqual(expect.arrayContaining([a.nodeId, b!.nodeId]));
  });

  it('lists a node with a registry record and no stream yet; stopped once it releases', async () => {
    const nc = await connect({ servers: natsUrl });
    try {
      const claim = await NodeClaim.claim(nc, {
        nodeId: 'fleet-ghost',
        root: '/nonexistent',
        instance: 'test',
        version: 'test',
        taskQueue: 'berth-fleet-ghost',
        eventsStream: streamName('fleet-ghost'),
        positions: () => ({ logSeq: 0, relayedSeq: 0 }),
      });
      const up = json<NodeStatus[]>(await fleet('nodes', '--json', '--node', 'fleet-ghost'));
      expect(up).toEqual([
        expect.objectContaining({ node: 'fleet-ghost', health: 'up', messages: 0, relayLag: 0 }),
      ]);
      expect(up[0]!.lastEvent).toBeUndefined();
      await claim.release();
      const stopped = json<NodeStatus[]>(await fleet('nodes', '--json', '--node', 'fleet-ghost'));
      expect(stopped[0]).toMatchObject({ health: 'stopped' });
    } finally {
      await nc.close();
    }
  });

  it('adds a RUNNING column from Temporal, and says so in it when Temporal cannot answer', async () => {
    const r = await fleet('nodes', '--json', '--temporal-address', temporalAddress);
    expect(r.code).toBe(0);
    for (const n of json<NodeStatus[]>(r))
      expect(typeof n.running === 'number' || typeof n.runningError === 'string').toBe(true);
    const down = await fleet('nodes', '--temporal-address', '127.0.0.1:1', '--node', a.nodeId);
    expect(down.code).toBe(0);
    expect(down.stdout.split('\n')[0]).toMatch(/RUNNING$/);
    expect(down.stdout).toMatch(/error: cannot reach Temporal at 127\.0\.0\.1:1/);
  });
});

describe('berth fleet events', () => {
  it("merges every node's whole history in event-time order", async () => {
    const r = await fleet('events', '--json');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const events = json<FleetEventJson[]>(r);
    for (let i = 1; i < events.length; i++) {
      const [p, e] = [events[i - 1]!, events[i]!];
      const order = Date.parse(p.time) - Date.parse(e.time) || p.node.localeCompare(e.node) || p.seq - e.seq;
      expect(order).toBeLessThan(0);
    }
    for (const d of [a, b!]) {
      const own = (await ownEvents(d)).map((e) => e.hash);
      expect(events.filter((e) => e.node === d.nodeId).map((e) => e.hash)).toEqual(own);
    }
  });

  it('filters by node and topic (also a family as /x/*), namespace, time and count', async () => {
    const demo = json<FleetEventJson[]>(
      await fleet('events', '--json', '--node', b!.nodeId, '--topic', '/namespaces/create'),
    );
    const expected = (await ownEvents(b!)).filter((e) => e.topic === '/namespaces/create');
    expect(demo.map((e) => e.hash)).toEqual(expected.map((e) => e.hash));
    expect(demo.map((e) => e.data.name)).toContain('demo-fleet-one');
    expect(new Set(demo.map((e) => e.node))).toEqual(new Set([b!.nodeId]));

    const sandboxes = json<FleetEventJson[]>(await fleet('events', '--json', '--topic', '/sandboxes/*'));
    expect(sandboxes.length).toBeGreaterThan(0);
    expect(sandboxes.every((e) => e.topic.startsWith('/sandboxes/') && e.node === a.nodeId)).toBe(true);
    expect(sandboxes.map((e) => e.subject)).toContain(made.pod);

    const inDemo = json<FleetEventJson[]>(await fleet('events', '--json', '--namespace', 'berth-demo'));
    expect(inDemo.length).toBeGreaterThan(0);
    expect(inDemo.every((e) => e.namespace === 'berth-demo')).toBe(true);

    const all = json<FleetEventJson[]>(await fleet('events', '--json'));
    const first = all[0]!;
    const untilFirst = json<FleetEventJson[]>(await fleet('events', '--json', '--until', first.time));
    expect(untilFirst.length).toBeGreaterThan(0);
    expect(untilFirst.every((e) => e.time === first.time)).toBe(true);
    const fromLast = json<FleetEventJson[]>(await fleet('events', '--json', '--since', all.at(-1)!.time));
    expect(fromLast.at(-1)!.hash).toBe(all.at(-1)!.hash);
    expect(fromLast.every((e) => e.time === all.at(-1)!.time)).toBe(true);
    expect(json<FleetEventJson[]>(await fleet('events', '--json', '--since', '1h'))).toHaveLength(all.length);
    expect(
      json<FleetEventJson[]>(await fleet('events', '--json', '--limit', '3')).map((e) => e.hash),
    ).toEqual(all.slice(0, 3).map((e) => e.hash));

    const text = await fleet('events', '--node', a.nodeId, '--limit', '2');
    expect(text.stdout.split('\n')[0]).toMatch(/^NODE\s+TIME\s+SEQ\s+NAMESPACE\s+TOPIC\s+SUBJECT\s+CAUSE$/);
    expect(text.stdout.trimEnd().split('\n')).toHaveLength(3);
  });

  it('--follow prints new events of the nodes asked for, one JSON object a line, until SIGINT', async () => {
    const since = new Date().toISOString();
    const p = spawn(
      process.execPath,
      [
        BERTH_CLI,
        'fleet',
        'events',
        '--follow',
        '--json',
        '--nats-url',
        natsUrl,
        '--node',
        b!.nodeId,
        '--since',
        since,
      ],
      { env: testEnv() },
    );
    const lines: FleetEventJson[] = [];
    createInterface({ input: p.stdout }).on('line', (l) => lines.push(JSON.parse(l) as FleetEventJson));
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => p.on('close', resolve));
    try {
      await a.client.post('/v1/test/demo', { id: 'fleet-a-only' });
      await b!.client.post('/v1/test/demo', { id: 'fleet-two' });
      await until('the followed event', async () =>
        lines.some((e) => e.data.name === 'demo-fleet-two') ? true : undefined,
      );
      expect(lines.every((e) => e.node === b!.nodeId)).toBe(true);
    } finally {
      p.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
  });
});

describe('berth fleet ps', () => {
  it("shows each node's pods and containers as the node itself reports them", async () => {
    const r = await fleet('ps', '--json');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const ps = json<FleetPs>(r);
    const pods = await a.client.get<SandboxView[]>('/v1/sandboxes');
    const containers = await a.client.get<ContainerStatus[]>('/v1/containers');
    const pod = pods.find((p) => p.id === made.pod)!;
    const ctr = containers.find((c) => c.id === made.container)!;
    expect(ps.pods).toEqual([
      expect.objectContaining({
        node: a.nodeId,
        id: made.pod,
        name: 'fleet-pod',
        podNamespace: 'fleet-test',
        state: pod.state,
      }),
    ]);
    expect(ps.containers).toEqual([
      expect.objectContaining({
        node: a.nodeId,
        id: made.container,
        name: 'fleet-ctr',
        image: env.image,
        state: ctr.state,
      }),
    ]);
    expect(ps.nodes.map((n) => n.node)).toEqual(expect.arrayContaining([a.nodeId, b!.nodeId]));
    const text = await fleet('ps');
    expect(text.stdout).toMatch(
      new RegExp(`^${a.nodeId}\\s+default\\s+${made.pod!.slice(0, 12)}\\s+fleet-pod\\s+fleet-test`, 'm'),
    );
    expect(text.stdout).toMatch(
      new RegExp(`^${a.nodeId}\\s+default\\s+${made.container!.slice(0, 12)}\\s+fleet-ctr`, 'm'),
    );
  });
});

describe('berth fleet audit and bad input', () => {
  it("verifies every node's chain from its stream and against its signed heads", async () => {
    // The follow test appended more: wait until it is published and signed too.
    await Promise.all([settled(a), settled(b!)]);
    const r = await fleet('audit', '--json');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const audit = json<FleetAudit>(r);
    expect(audit.ok).toBe(true);
    for (const d of [a, b!]) {
      const n = audit.nodes.find((x) => x.node === d.nodeId)!;
      expect(n).toMatchObject({ ok: true, findings: [] });
      expect(n.headsChecked).toBeGreaterThan(0);
      expect(n.events).toBe((await d.client.get<NodeInfo>('/v1/info')).events!.lastSeq);
    }
    const text = await fleet('audit');
    expect(text.stdout).toMatch(/^fleet audit: \d+ nodes verified from NATS$/m);
  });

  it('names an unknown --node and the known ones; names an unreachable NATS; refuses bad flags', async () => {
    const unknown = await fleet('events', '--node', `${a.nodeId},nope`);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/unknown node "nope": the fleet has .*/);
    expect(unknown.stderr).toContain(a.nodeId);
    expect(unknown.stderr).toContain(b!.nodeId);
    const down = await runCli(a.socket, ['fleet', 'nodes', '--nats-url', '127.0.0.1:1']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot reach NATS at 127\.0\.0\.1:1/);
    expect((await fleet('events', '--since', '12')).stderr).toMatch(/a seq counts one node's events only/);
    expect((await fleet('events', '--since', 'yesterday')).code).toBe(2);
    expect((await fleet('events', '--topic', '/nope')).stderr).toMatch(/unknown topic "\/nope"/);
    expect((await fleet('bogus')).code).toBe(2);
  });

  it('fails the audit of a node whose stream holds a forged event, naming it; the others still pass', async () => {
    const nc = await connect({ servers: natsUrl });
    try {
      const jsm = await nc.jetstreamManager();
      const stream = streamName(b!.nodeId);
      const last = (await jsm.streams.info(stream)).state.last_seq;
      const real = JSON.parse(
        new TextDecoder().decode((await jsm.streams.getMessage(stream, { seq: last })).data),
      ) as BerthEvent;
      const forged: BerthEvent = {
        ...real,
        seq: real.seq + 1,
        prev: real.hash,
        data: { ...real.data, name: 'forged' },
      };
      await nc.jetstream().publish(subjectFor(b!.nodeId, forged), JSON.stringify(forged), {
        msgID: `${b!.nodeId}:${forged.seq}`,
      });
    } finally {
      await nc.close();
    }
    const r = await fleet('audit', '--json');
    expect(r.code).toBe(1);
    const audit = json<FleetAudit>(r);
    expect(audit.ok).toBe(false);
    expect(audit.nodes.find((n) => n.node === a.nodeId)).toMatchObject({ ok: true });
    const bad = audit.nodes.find((n) => n.node === b!.nodeId)!;
    expect(bad.ok).toBe(false);
    expect(bad.findings[0]).toMatch(
      /the events stream breaks at seq \d+: event \d+ in the stream (is not in canonical form|does not match its hash)/,
    );
    const text = await fleet('audit');
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`^FLEET AUDIT FAILED: 1 of \\d+ nodes \\(${b!.nodeId}\\)$`, 'm'));
  });
});
