/**
 * The event log inside berthd: transitions append to it, the relay publishes it to the embedded
 * NATS JetStream, and the `berth` CLI reads, audits, verifies, replays and explains it. The
 * relay's cursor survives a restart (nothing is published twice).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import type { NodeInfo } from '../../src/api/types.js';
import { streamName } from '../../src/events/relay.js';
import { runCli, startBerthd, type RunningBerthd } from '../helpers/berthd.js';

interface StreamMessage {
  id: string;
  subject: string;
}

/** Every message in the node's JetStream stream, in stream order. */
async function streamContents(natsUrl: string, nodeId: string): Promise<StreamMessage[]> {
  const nc: NatsConnection = await connect({ servers: natsUrl });
  try {
    const info = await (await nc.jetstreamManager()).streams.info(streamName(nodeId));
    const out: StreamMessage[] = [];
    if (info.state.messages === 0) return out;
    const messages = await (await nc.jetstream().consumers.get(streamName(nodeId))).consume();
    for await (const m of messages) {
      out.push({ id: m.headers?.get('Nats-Msg-Id') ?? '', subject: m.subject });
      if (m.info.pending === 0) break;
    }
    return out;
  } finally {
    await nc.close();
  }
}

async function relayCaughtUp(d: RunningBerthd): Promise<NodeInfo> {
  for (;;) {
    const info = await d.client.get<NodeInfo>('/v1/info');
    if (info.events?.relay?.lag === 0) return info;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the event log in berthd', () => {
  let d: RunningBerthd;
  beforeAll(async () => {
    d = await startBerthd({ env: { BERTH_TEST_HOOKS: '1' } });
    await d.client.post('/v1/test/demo', { id: 'ev-a' });
    await d.client.post('/v1/test/demo', { id: 'ev-b', refuseAt: 'publish' }).catch(() => undefined);
  });
  afterAll(async () => {
    await d?.stop();
    await d?.cleanup();
  });

  it('records transition events with their workflow step as cause', async () => {
    const r = await runCli(d.socket, ['events', '--json']);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as { seq: number; topic: string; subject: string; cause: Record<string, string> },
      );
    expect(events.map((e) => `${e.topic} ${e.subject}`)).toEqual([
      '/namespaces/create demo-ev-a',
      '/namespaces/create demo-ev-b',
      '/namespaces/delete demo-ev-b',
    ]);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(events[0]!.cause).toMatchObject({
      kind: 'workflow',
      workflowId: 'demo:ev-a',
      step: 'demoReserve',
    });
    expect(events[2]!.cause).toMatchObject({ kind: 'workflow', workflowId: 'demo:ev-b', step: 'demoUndo' });
  });

  it('publishes every event once, in seq order, to the embedded JetStream', async () => {
    const info = await relayCaughtUp(d);
    expect(info.events).toMatchObject({ lastSeq: 3, relay: { connected: true, cursor: 3, lag: 0 } });
    const nats = info.services.find((s) => s.name === 'nats')!.address;
    expect(await streamContents(nats, d.nodeId)).toEqual([
      { id: `${d.nodeId}:1`, subject: `berth.events.${d.nodeId}.berth-demo.namespaces.create` },
      { id: `${d.nodeId}:2`, subject: `berth.events.${d.nodeId}.berth-demo.namespaces.create` },
      { id: `${d.nodeId}:3`, subject: `berth.events.${d.nodeId}.berth-demo.namespaces.delete` },
    ]);
  });

  it('verifies its chain, checks its projection and explains an entity through the CLI', async () => {
    const verify = await runCli(d.socket, ['audit', 'verify']);
    expect(verify.code).toBe(0);
    const check = await runCli(d.socket, ['replay', '--check']);
    expect(check.code).toBe(0);
    const explain = await runCli(d.socket, ['explain', 'demo-ev-b', '--json']);
    expect(explain.code).toBe(0);
    expect(explain.stdout).toContain('/namespaces/delete');
  });

  it('keeps the log and the relay cursor across a restart, publishing nothing twice', async () => {
    expect(await d.stop()).toBe(0);
    d = await startBerthd({ root: d.root, state: d.state, nodeId: d.nodeId, env: { BERTH_TEST_HOOKS: '1' } });
    await d.client.post('/v1/test/demo', { id: 'ev-c' });
    const info = await relayCaughtUp(d);
    expect(info.events).toMatchObject({ lastSeq: 4, relay: { cursor: 4, lag: 0 } });
    const nats = info.services.find((s) => s.name === 'nats')!.address;
    const ids = (await streamContents(nats, d.nodeId)).map((m) => m.id);
    expect(ids).toEqual([1, 2, 3, 4].map((seq) => `${d.nodeId}:${seq}`));
  });
});
