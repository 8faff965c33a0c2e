/**
 * Signed heads: the node key, signing every N events and at close, the heads' checks (forged,
 * truncated, another key), proofs against them, and their publication to NATS (also after NATS
 * comes back), read back by the witness side.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { EventsService } from '../../src/events/service.js';
import { NODE_KEY_FILE } from '../../src/events/head-signer.js';
import { headsStreamName, headsSubject } from '../../src/events/head-relay.js';
import { checkProof, proveConsistency, proveInclusion, storedHeads } from '../../src/events/proofs.js';
import { parsePublicKey, signHead, verifySignedHead } from '../../src/events/signed-head.js';
import { firstBadHead, readPublishedHeads, rebuildFromStream } from '../../src/events/witness.js';
import { streamName, subjectFor } from '../../src/events/relay.js';
import { canonicalJson } from '../../src/events/canonical.js';
import { containerCreate, tempRoot } from './helpers/fixtures.js';
import { NatsServer, freePort } from './helpers/nats.js';

let root: { dir: string; cleanup: () => Promise<void> };
const closers: (() => Promise<unknown>)[] = [];
beforeEach(async () => {
  root = await tempRoot();
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await root.cleanup();
});

async function openService(
  extra: Partial<Parameters<typeof EventsService.open>[0]> = {},
): Promise<EventsService> {
  const service = await EventsService.open({
    dir: join(root.dir, 'events'),
    nodeId: 'n1',
    headEvery: 5,
    headIntervalMs: 60_000,
    ...extra,
  });
  closers.push(() => service.close());
  return service;
}

async function appendMany(service: EventsService, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await service.append(containerCreate(`c${service.log.lastSeq + 1}`));
}

describe('signed heads', () => {
  it('signs every N events and at close, with a key made once (0600 in a 0700 directory)', async () => {
    let service = await openService();
    await appendMany(service, 12);
    await service.signer.signNow();
    expect((await storedHeads(service.log)).map((h) => h.seq)).toEqual([5, 10, 12]);
    await appendMany(service, 1);
    const key = service.signer.publicKey;
    await closers.pop()!();
    const keyDir = join(root.dir, 'keys');
    expect((await stat(keyDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(keyDir, NODE_KEY_FILE))).mode & 0o777).toBe(0o600);
    service = await openService();
    expect(service.signer.publicKey).toEqual(key);
    const heads = await storedHeads(service.log);
    expect(heads.map((h) => h.seq)).toEqual([5, 10, 12, 13]);
    const last = heads.at(-1)!;
    expect(last).toMatchObject({ v: 1, node: 'n1', seq: 13, hash: service.log.headHash, key: key.keyId });
    expect(last.root).toBe(service.log.treeHead().root);
    expect(verifySignedHead(JSON.stringify(last), parsePublicKey(key.publicKey), 'n1')).toEqual(last);
  });

  it('refuses a forged, truncated, incomplete or foreign-key head with a sentence naming why', async () => {
    const service = await openService();
    await appendMany(service, 5);
    await service.signer.signNow();
    const [head] = await storedHeads(service.log);
    const key = parsePublicKey(service.signer.publicKey.publicKey);
    expect(() => verifySignedHead({ ...head, root: '1'.repeat(64) }, key)).toThrow(
      /signed head at seq 5 has a bad signature: it was altered or forged/,
    );
    expect(() => verifySignedHead(JSON.stringify(head).slice(0, 50), key)).toThrow(
      /not valid JSON \(truncated\?\)/,
    );
    const { seq: _seq, ...noSeq } = head!;
    expect(() => verifySignedHead(noSeq, key)).toThrow(/field "seq" must be a positive integer/);
    const other = generateKeyPairSync('ed25519');
    expect(() => verifySignedHead(head, other.publicKey)).toThrow(
      /signed by key [0-9a-f]{16}, not by the node's key/,
    );
    const selfSigned = signHead({ ...head!, key: service.signer.publicKey.keyId }, other.privateKey);
    expect(() => verifySignedHead(selfSigned, key)).toThrow(/bad signature/);
    expect(() => parsePublicKey('not-a-key')).toThrow(/neither base64 of a 32-byte ed25519 public key/);
  });

  it('proves inclusion and consistency against signed heads; a tampered proof or another key fails', async () => {
    const service = await openService();
    await appendMany(service, 12);
    await service.signer.signNow();
    const key = parsePublicKey(service.signer.publicKey.publicKey);
    const proof = await proveInclusion(service.log, 7);
    expect(proof.head.seq).toBe(12);
    expect(checkProof(JSON.parse(JSON.stringify(proof)), key)).toMatchObject({ ok: true });
    const altered = structuredClone(proof);
    altered.event.data = { ...altered.event.data, image: 'evil' };
    expect(checkProof(altered, key)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/event 7 was altered/) as string,
    });
    const rehashed = structuredClone(proof);
    rehashed.path[0] = rehashed.path[0]!.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    expect(checkProof(rehashed, key)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/path does not lead/) as string,
    });
    expect(checkProof(proof, generateKeyPairSync('ed25519').publicKey)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/not by the node's key/) as string,
    });
    expect(checkProof({ format: 'x' }, key).ok).toBe(false);
    await appendMany(service, 1);
    await expect(proveInclusion(service.log, 13)).rejects.toThrow(
      /seq 13 is beyond the newest signed head \(seq 12\); wait for the next head/,
    );
    const consistency = await proveConsistency(service.log, 5, 12);
    expect(checkProof(consistency, key)).toMatchObject({ ok: true });
    expect(checkProof({ ...consistency, path: consistency.path.slice(1) }, key).ok).toBe(false);
    await expect(proveConsistency(service.log, 6, 12)).rejects.toThrow(/no signed head at seq 6/);
  });
});

describe('publishing signed heads to NATS', () => {
  let nats: NatsServer;
  let nc: NatsConnection | undefined;
  beforeEach(async () => {
    nats = new NatsServer(await freePort(), join(root.dir, 'jetstream'));
    closers.push(() => nats.stop());
  });
  afterEach(async () => {
    await nc?.close();
    nc = undefined;
  });

  it('publishes the key and every head once, including those signed while NATS was down', async () => {
    const service = await openService({ natsUrl: nats.url });
    await appendMany(service, 7);
    await service.signer.signNow();
    await nats.start();
    await service.relay!.waitForHead(7, 20_000);
    await appendMany(service, 3);
    await service.signer.signNow();
    expect(await service.relay!.waitForHead(10, 20_000)).toBe(true);
    nc = await connect({ servers: nats.url });
    const published = await readPublishedHeads(nc, 'n1');
    expect(published.findings).toEqual([]);
    expect(published.heads.map((h) => h.seq)).toEqual([5, 7, 10]);
    expect(published.key.keyId).toBe(service.signer.publicKey.keyId);
    const info = await (await nc.jetstreamManager()).streams.info(headsStreamName('n1'));
    expect(info.state.messages).toBe(4);
  });

  it('names forged, truncated, foreign-key and conflicting published heads as findings and keeps the valid ones', async () => {
    await nats.start();
    const service = await openService({ natsUrl: nats.url });
    await appendMany(service, 5);
    await service.signer.signNow();
    expect(await service.relay!.waitForHead(5, 20_000)).toBe(true);
    const [head] = await storedHeads(service.log);
    nc = await connect({ servers: nats.url });
    const js = nc.jetstream();
    const other = generateKeyPairSync('ed25519');
    await js.publish(headsSubject('n1'), JSON.stringify(head).slice(0, 40));
    await js.publish(headsSubject('n1'), canonicalJson({ ...head, root: '2'.repeat(64) }));
    await js.publish(headsSubject('n1'), canonicalJson(signHead({ ...head!, seq: 6 }, other.privateKey)));
    const key = service.signer.publicKey;
    const privateKey = createPrivateKey(readFileSync(join(root.dir, 'keys', NODE_KEY_FILE), 'utf8'));
    await js.publish(
      headsSubject('n1'),
      canonicalJson(signHead({ ...head!, hash: '3'.repeat(64) }, privateKey)),
    );
    const published = await readPublishedHeads(nc, 'n1');
    expect(published.heads.map((h) => h.seq)).toEqual([5]);
    expect(published.key.keyId).toBe(key.keyId);
    expect(published.findings).toEqual([
      expect.stringMatching(/stream seq 3\): signed head is not valid JSON \(truncated\?\)/),
      expect.stringMatching(/stream seq 4\): signed head at seq 5 has a bad signature/),
      expect.stringMatching(/stream seq 5\): signed head at seq 6 has a bad signature/),
      expect.stringMatching(/two heads signed for seq 5 disagree/),
    ]);
    const pinned = await readPublishedHeads(nc, 'n1', { key: other.publicKey, source: '--key' });
    expect(pinned.heads).toEqual([]);
    expect(pinned.findings[0]).toMatch(/another key/);
  });

  it('rebuilds the chain from the events stream and names an altered event in it', async () => {
    await nats.start();
    const service = await openService({ natsUrl: nats.url });
    await appendMany(service, 6);
    await service.signer.signNow();
    await service.relay!.waitFor(6);
    nc = await connect({ servers: nats.url });
    const chain = await rebuildFromStream(nc, 'n1', new Set([5, 6]));
    expect(chain.problem).toBeUndefined();
    expect(chain.length).toBe(6);
    const heads = await storedHeads(service.log);
    expect(firstBadHead(heads, (seq) => chain.roots.get(seq))).toEqual({ lastGood: heads.at(-1) });
    // A second node's stream with event 3 altered in place.
    const events = [];
    for await (const item of service.log.readStored()) events.push(item);
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: streamName('n2'), subjects: ['berth.events.n2.>'] });
    for (const { event, raw } of events) {
      const body = event.seq === 3 ? raw.replace('"image":"busybox:latest"', '"image":"evil"') : raw;
      await nc.jetstream().publish(subjectFor('n2', event), body, { msgID: `n2:${event.seq}` });
    }
    const bad = await rebuildFromStream(nc, 'n2', new Set());
    expect(bad.problem).toEqual({
      seq: 3,
      message: 'event 3 in the stream does not match its hash (altered)',
    });
    expect(bad.length).toBe(2);
  });
});
