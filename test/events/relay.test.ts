import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { DeliverPolicy, connect, type NatsConnection } from 'nats';
import { EventLog } from '../../src/events/log.js';
import { NatsRelay, streamName, subjectFor } from '../../src/events/relay.js';
import { containerCreate, tempRoot } from './helpers/fixtures.js';
import { NatsServer, freePort } from './helpers/nats.js';

let root: { dir: string; cleanup: () => Promise<void> };
let nats: NatsServer;
let clients: NatsConnection[] = [];
const node = `node${process.pid}`;

beforeEach(async () => {
  root = await tempRoot();
  nats = new NatsServer(await freePort(), join(root.dir, 'jetstream'));
  await nats.start();
});
afterEach(async () => {
  for (const c of clients) await c.close();
  clients = [];
  await nats.stop();
  await root.cleanup();
});

/** Every message in the node's stream, in stream order: [msg id, subject]. */
async function streamContents(): Promise<{ ids: string[]; subjects: string[] }> {
  const nc = await connect({ servers: nats.url });
  clients.push(nc);
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(streamName(node));
  const ids: string[] = [];
  const subjects: string[] = [];
  if (info.state.messages === 0) return { ids, subjects };
  const consumer = await nc.jetstream().consumers.get(streamName(node));
  const messages = await consumer.consume();
  for await (const m of messages) {
    ids.push(m.headers?.get('Nats-Msg-Id') ?? '');
    subjects.push(m.subject);
    if (m.info.pending === 0) break;
  }
  expect(ids.length).toBe(info.state.messages);
  return { ids, subjects };
}

const expectedIds = (n: number) => Array.from({ length: n }, (_, i) => `${node}:${i + 1}`);

describe('NatsRelay against a real nats-server', () => {
  it('publishes in seq order with the documented subject and msg id', async () => {
    const log = await EventLog.open(join(root.dir, 'events'));
    const relay = new NatsRelay(log, { nodeId: node, servers: nats.url });
    await relay.start();
    await log.append(containerCreate('a', 'k8s.io'));
    await log.append({
      namespace: 'default',
      topic: '/tasks/exec-added',
      data: { v: 1, containerId: 'a', execId: 'e' },
      cause: { kind: 'api', call: 'x' },
    });
    await relay.waitFor(2);
    const { ids, subjects } = await streamContents();
    expect(ids).toEqual(expectedIds(2));
    expect(subjects).toEqual([
      `berth.events.${node}.k8s_io.containers.create`,
      `berth.events.${node}.default.tasks.exec-added`,
    ]);
    expect(subjectFor('n', { namespace: 'a.b', topic: '/snapshot/commit' })).toBe(
      'berth.events.n.a_b.snapshot.commit',
    );
    await relay.stop();
    await log.close();
  });

  it('survives NATS going down mid-stream: 10,000 events land exactly once in order, and the cursor survives a restart', async () => {
    const dir = join(root.dir, 'events');
    let log = await EventLog.open(dir);
    let relay = new NatsRelay(log, { nodeId: node, servers: nats.url, retryMs: 100 });
    await relay.start();
    const appending = (async () => {
      for (let i = 0; i < 100; i++) {
        await Promise.all(
          Array.from({ length: 100 }, (_, j) => log.append(containerCreate(`c${i * 100 + j}`))),
        );
      }
    })();
    // Stop NATS once publication is under way, while appends continue.
    while (relay.status().cursor < 50) await new Promise((r) => setTimeout(r, 5));
    await nats.stop();
    await appending;
    expect(log.lastSeq).toBe(10_000);
    expect(relay.status().cursor).toBeLessThan(10_000);
    await nats.start();
    await relay.waitFor(10_000);
    expect((await streamContents()).ids).toEqual(expectedIds(10_000));

    await relay.stop();
    await log.close();
    log = await EventLog.open(dir);
    expect(await log.getCursor('nats')).toBe(10_000);
    relay = new NatsRelay(log, { nodeId: node, servers: nats.url });
    await relay.start();
    expect(relay.status().cursor).toBe(10_000);
    await log.append(containerCreate('after-restart'));
    await relay.waitFor(10_001);
    expect((await streamContents()).ids).toEqual(expectedIds(10_001));
    await relay.stop();
    await log.close();
  });

  it('realigns a lost cursor with the stream instead of publishing twice', async () => {
    const log = await EventLog.open(join(root.dir, 'events'));
    let relay = new NatsRelay(log, { nodeId: node, servers: nats.url });
    await relay.start();
    for (let i = 0; i < 20; i++) await log.append(containerCreate(`c${i}`));
    await relay.waitFor(20);
    await relay.stop();
    await log.putCursor('nats', 3);
    relay = new NatsRelay(log, { nodeId: node, servers: nats.url });
    await relay.start();
    await log.append(containerCreate('next'));
    await relay.waitFor(21);
    expect((await streamContents()).ids).toEqual(expectedIds(21));
    await relay.stop();
    await log.close();
  });

  it('keeps appends going while NATS was never reachable', async () => {
    const log = await EventLog.open(join(root.dir, 'events'));
    await nats.stop();
    const relay = new NatsRelay(log, { nodeId: node, servers: nats.url, retryMs: 50 });
    await relay.start();
    for (let i = 0; i < 10; i++) await log.append(containerCreate(`c${i}`));
    expect(relay.status()).toMatchObject({ connected: false, cursor: 0, lag: 10 });
    await nats.start();
    await relay.waitFor(10);
    expect((await streamContents()).ids).toEqual(expectedIds(10));
    await relay.stop();
    await log.close();
  });

  it('lets a subscriber consume the stream from any point, as docs/events.md shows', async () => {
    const log = await EventLog.open(join(root.dir, 'events'));
    const relay = new NatsRelay(log, { nodeId: node, servers: nats.url });
    await relay.start();
    for (let i = 0; i < 30; i++) await log.append(containerCreate(`c${i}`, 'k8s.io'));
    await relay.waitFor(30);
    const nc = await connect({ servers: nats.url });
    clients.push(nc);
    const consumer = await nc.jetstream().consumers.get(streamName(node), {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: 21,
    });
    const seqs: number[] = [];
    for await (const m of await consumer.consume()) {
      expect(m.subject).toBe(`berth.events.${node}.k8s_io.containers.create`);
      const event = m.json<{ seq: number; hash: string }>();
      expect(m.headers?.get('Nats-Msg-Id')).toBe(`${node}:${event.seq}`);
      expect(event.hash).toBe((await log.get(event.seq))!.hash);
      seqs.push(event.seq);
      if (m.info.pending === 0) break;
    }
    expect(seqs).toEqual(Array.from({ length: 10 }, (_, i) => i + 21));
    await relay.stop();
    await log.close();
  });

  it('refuses a node id that is not a subject token', async () => {
    const log = await EventLog.open(join(root.dir, 'events'));
    expect(() => new NatsRelay(log, { nodeId: 'a.b', servers: nats.url })).toThrow(
      /cannot be a NATS subject token/,
    );
    await log.close();
  });
});
