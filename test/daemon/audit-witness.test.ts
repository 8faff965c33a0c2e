/**
 * The acceptance test of signed, witnessed heads: a real berthd (embedded Temporal and NATS)
 * records events and publishes signed heads; stopped, its log is rewritten as root on the node
 * would (data changed, every later hash, prev, the head record, the Merkle edge and chunks
 * recomputed, the local heads re-signed with the node's own key). The plain chain check still
 * passes; `--witness` and `--from-nats` name the first rewritten seq. Proofs round-trip through
 * the CLI, and a tampered one fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrivateKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import type { NodeInfo } from '../../src/api/types.js';
import { canonicalJson } from '../../src/events/canonical.js';
import { CHUNK_HEIGHT, HEAD_KEY, TREE_KEY, chunkKey, eventKey } from '../../src/events/keys.js';
import { CompactRange, eventLeafHash } from '../../src/events/merkle.js';
import { eventHash, type BerthEvent } from '../../src/events/model.js';
import { signHead, type SignedHead } from '../../src/events/signed-head.js';
import { treeRecord } from '../../src/events/tree.js';
import { runCli, startBerthd, type RunningBerthd } from '../helpers/berthd.js';

const FIRST_REWRITTEN = 4;

async function info(d: RunningBerthd): Promise<NodeInfo> {
  return d.client.get<NodeInfo>('/v1/info');
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** What root on the node can do: rewrite events from `from` on and everything derived from them. */
async function rewriteLog(root: string, from: number): Promise<number> {
  const db = new Level<string, string>(join(root, 'events'), { valueEncoding: 'utf8' });
  await db.open();
  try {
    const events: BerthEvent[] = [];
    for await (const [, raw] of db.iterator({ gt: eventKey(0), lt: 'e;' }))
      events.push(JSON.parse(raw) as BerthEvent);
    const ops: { type: 'put'; key: string; value: string }[] = [];
    const tree = CompactRange.empty();
    let prev = events[from - 2]!.hash;
    for (const e of events) {
      if (e.seq >= from) {
        const { hash: _old, ...rest } = e;
        const changed = { ...rest, data: { ...rest.data, labels: { rewritten: 'by-root' } }, prev };
        const rewritten: BerthEvent = { ...changed, hash: eventHash(changed) };
        ops.push({ type: 'put', key: eventKey(e.seq), value: canonicalJson(rewritten) });
        e.hash = rewritten.hash;
        prev = rewritten.hash;
      }
      tree.append(eventLeafHash(e.hash), (height, index, hash) => {
        if (height === CHUNK_HEIGHT)
          ops.push({ type: 'put', key: chunkKey(index), value: hash.toString('hex') });
      });
    }
    const last = events.at(-1)!;
    ops.push({ type: 'put', key: HEAD_KEY, value: JSON.stringify({ seq: last.seq, hash: last.hash }) });
    ops.push({ type: 'put', key: TREE_KEY, value: treeRecord(tree) });
    // The node's own key re-signs its local heads over the new history.
    const key = createPrivateKey(await readFile(join(root, 'keys', 'node-ed25519.pem'), 'utf8'));
    const rootAt = (seq: number) => {
      const t = CompactRange.empty();
      for (const e of events.slice(0, seq)) t.append(eventLeafHash(e.hash));
      return t.root().toString('hex');
    };
    for await (const [k, body] of db.iterator({ gte: 'g:', lt: 'g;' })) {
      const { signature: _s, ...head } = JSON.parse(body) as SignedHead;
      if (head.seq < from) continue;
      const resigned = signHead({ ...head, hash: events[head.seq - 1]!.hash, root: rootAt(head.seq) }, key);
      ops.push({ type: 'put', key: k, value: canonicalJson(resigned) });
    }
    await db.batch(ops, { sync: true });
    return events.length;
  } finally {
    await db.close();
  }
}

describe('signed, witnessed heads in berthd', () => {
  let d: RunningBerthd;
  let publicKey: string;
  let beforeAnyHead: Awaited<ReturnType<typeof runCli>>;
  beforeAll(async () => {
    d = await startBerthd({ env: { BERTH_TEST_HOOKS: '1' } });
    beforeAnyHead = await runCli(d.socket, ['audit', 'verify', '--witness']);
    await d.client.post('/v1/test/demo', { id: 'wa' });
    await d.client.post('/v1/test/demo', { id: 'wb', refuseAt: 'publish' }).catch(() => undefined);
    // Signed within 10 s of the last append, published once its events are.
    await until('the head at seq 3 to be published', async () => {
      const i = await info(d);
      return (i.events?.relay?.headsPublished ?? 0) >= 3 ? i : undefined;
    });
    await d.client.post('/v1/test/demo', { id: 'wc' });
    await d.client.post('/v1/test/demo', { id: 'wd' });
    publicKey = (await info(d)).events!.signing!.publicKey;
  }, 180_000);
  afterAll(async () => {
    await d?.stop();
    await d?.cleanup();
  });

  it('fails the witnessed check, saying so, while there is no published head to compare with', () => {
    expect(beforeAnyHead.code).toBe(1);
    expect(beforeAnyHead.stderr).toMatch(
      /has no valid signed head on NATS yet, so there is nothing to check against/,
    );
  });

  it('shows the public key in berth info and lists the signed heads', async () => {
    const text = await runCli(d.socket, ['info']);
    expect(text.stdout).toContain(`signing key: ed25519 ${publicKey}`);
    const heads = await runCli(d.socket, ['audit', 'heads', '--json']);
    expect(heads.code).toBe(0);
    expect((JSON.parse(heads.stdout) as { heads: SignedHead[] }).heads[0]).toMatchObject({ seq: 3 });
  });

  it('round-trips inclusion and consistency proofs through the CLI; a tampered proof or another key fails', async () => {
    const dir = join(d.root, '..');
    const tooFar = await runCli(d.socket, ['audit', 'prove', '99']);
    expect(tooFar.code).toBe(2);
    expect(tooFar.stderr).toMatch(/seq 99 is beyond the newest signed head \(seq [35]\)/);
    const proof = await runCli(d.socket, ['audit', 'prove', '2', '--json']);
    expect(proof.code).toBe(0);
    const file = join(dir, 'proof.json');
    await writeFile(file, proof.stdout);
    const ok = await runCli(d.socket, ['audit', 'check-proof', file, '--key', publicKey]);
    expect(ok.stdout).toMatch(/^proof valid: event 2 .* signed at seq [35]/);
    expect(ok.code).toBe(0);
    const doc = JSON.parse(proof.stdout) as { event: BerthEvent };
    doc.event.data = { ...doc.event.data, name: 'demo-forged' };
    await writeFile(file, JSON.stringify(doc));
    const tampered = await runCli(d.socket, ['audit', 'check-proof', file, '--key', publicKey]);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toMatch(/proof INVALID: event 2 was altered/);
    await writeFile(file, proof.stdout.slice(0, 100));
    const truncated = await runCli(d.socket, ['audit', 'check-proof', file, '--key', publicKey]);
    expect(truncated.code).toBe(1);
    expect(truncated.stdout).toMatch(/not valid JSON \(truncated\?\)/);
    await writeFile(file, proof.stdout);
    const otherKey = 'A'.repeat(43) + '=';
    const wrongKey = await runCli(d.socket, ['audit', 'check-proof', file, '--key', otherKey]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toMatch(/not by the node's key/);
  });

  it('passes the witnessed and the NATS-only checks while the log is what was published', async () => {
    const witness = await runCli(d.socket, ['audit', 'verify', '--witness']);
    expect(witness.stdout).toMatch(/^witnessed: [12] signed heads \(up to seq [35]\)/);
    expect(witness.code).toBe(0);
    const fromNats = await runCli(d.socket, ['audit', 'verify', '--from-nats']);
    expect(fromNats.stdout).toMatch(/^rebuilt \d+ events of node .* the local log matches the stream/);
    expect(fromNats.code).toBe(0);
  });

  it('after root rewrites events from seq 4: the chain check passes, the witnessed checks name seq 4', async () => {
    expect(await d.stop()).toBe(0);
    const total = await rewriteLog(d.root, FIRST_REWRITTEN);
    expect(total).toBeGreaterThanOrEqual(5);
    d = await startBerthd({ root: d.root, state: d.state, nodeId: d.nodeId, env: { BERTH_TEST_HOOKS: '1' } });

    const plain = await runCli(d.socket, ['audit', 'verify']);
    expect(plain.stdout).toMatch(/^chain intact/);
    expect(plain.code).toBe(0);

    const witness = await runCli(d.socket, ['audit', 'verify', '--witness']);
    expect(witness.stdout).toMatch(new RegExp(`^WITNESS CHECK FAILED at seq ${FIRST_REWRITTEN}: `));
    expect(witness.code).toBe(1);
    const json = JSON.parse((await runCli(d.socket, ['audit', 'verify', '--witness', '--json'])).stdout) as {
      ok: boolean;
      firstDifferingSeq: number;
      lastGoodHead: number;
      firstBadHead: number;
    };
    expect(json).toMatchObject({
      ok: false,
      firstDifferingSeq: FIRST_REWRITTEN,
      lastGoodHead: 3,
      firstBadHead: total,
    });

    const fromNats = await runCli(d.socket, ['audit', 'verify', '--from-nats']);
    expect(fromNats.stdout).toMatch(
      new RegExp(
        `^NATS CHECK FAILED at seq ${FIRST_REWRITTEN}: the local log differs from the events stream first at seq ${FIRST_REWRITTEN}`,
      ),
    );
    expect(fromNats.code).toBe(1);
  });

  it('proves the heads at seq 3 and at the end consistent through the CLI (the rewrite came after seq 3)', async () => {
    const newest = JSON.parse((await runCli(d.socket, ['audit', 'heads', '--json'])).stdout) as {
      heads: SignedHead[];
    };
    const last = newest.heads.at(-1)!.seq;
    const proof = await runCli(d.socket, ['audit', 'consistency', '3', String(last), '--json']);
    expect(proof.code).toBe(0);
    const file = join(d.root, '..', 'consistency.json');
    await writeFile(file, proof.stdout);
    const ok = await runCli(d.socket, ['audit', 'check-proof', file, '--key', publicKey]);
    expect(ok.stdout).toMatch(new RegExp(`^proof valid: .* log at seq ${last} extends its log at seq 3`));
    const doc = JSON.parse(proof.stdout) as { oldHead: SignedHead };
    doc.oldHead.root = '0'.repeat(64);
    await writeFile(file, JSON.stringify(doc));
    const forged = await runCli(d.socket, ['audit', 'check-proof', file, '--key', publicKey]);
    expect(forged.code).toBe(1);
    expect(forged.stdout).toMatch(/proof INVALID: signed head at seq 3 has a bad signature/);
    const missing = await runCli(d.socket, ['audit', 'consistency', '2', String(last)]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no signed head at seq 2/);
  });
});
