/**
 * The Merkle tree in the log: the right edge and chunk hashes written with each batch, kept across
 * a reopen, rebuilt for a log written before they existed, proofs read from the stored chunks, and
 * verify naming a tree record that does not match the events.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { EventLog } from '../../src/events/log.js';
import { CHUNK_LOWER, CHUNK_UPPER, TREE_KEY, chunkKey } from '../../src/events/keys.js';
import { eventLeafHash, rootOfLeaves, verifyConsistency, verifyInclusion } from '../../src/events/merkle.js';
import { containerCreate, tempRoot } from './helpers/fixtures.js';

let root: { dir: string; cleanup: () => Promise<void> };
let dir: string;
beforeEach(async () => {
  root = await tempRoot();
  dir = join(root.dir, 'events');
});
afterEach(async () => {
  await root.cleanup();
});

async function fill(log: EventLog, n: number, concurrency = 64): Promise<void> {
  let next = log.lastSeq;
  const target = log.lastSeq + n;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < target) await log.append(containerCreate(`c${next++}`));
    }),
  );
}

async function leavesOf(log: EventLog): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const e of log.read()) out.push(eventLeafHash(e.hash));
  return out;
}

describe('the Merkle tree in the log', () => {
  it('keeps the root equal to the tree over the event hashes, across a reopen, with a chunk hash per 256 events', async () => {
    let log = await EventLog.open(dir);
    await fill(log, 700);
    const leaves = await leavesOf(log);
    expect(log.treeHead().root).toBe(rootOfLeaves(leaves).toString('hex'));
    const chunks = await log.rawDb.keys({ gte: CHUNK_LOWER, lt: CHUNK_UPPER }).all();
    expect(chunks).toEqual([chunkKey(0), chunkKey(1)]);
    expect(await log.rawDb.get(chunkKey(1))).toBe(rootOfLeaves(leaves.slice(256, 512)).toString('hex'));
    const head = log.treeHead();
    await log.close();
    log = await EventLog.open(dir);
    expect(log.treeHead()).toEqual(head);
    for (const size of [1, 255, 256, 257, 511, 512, 513, 700])
      expect(await log.rootAt(size)).toBe(rootOfLeaves(leaves.slice(0, size)).toString('hex'));
    expect((await log.verify()).ok).toBe(true);
    await log.close();
  });

  it('builds inclusion and consistency proofs from the stored chunks that verify against the root', async () => {
    const log = await EventLog.open(dir);
    await fill(log, 600);
    const leaves = await leavesOf(log);
    for (const size of [1, 256, 300, 512, 600]) {
      const root = rootOfLeaves(leaves.slice(0, size));
      for (const seq of [1, 2, 128, 255, 256, 257, 299, 300, 511, 512, 513, 600].filter((s) => s <= size)) {
        const path = (await log.inclusionProof(seq, size)).map((h) => Buffer.from(h, 'hex'));
        expect(verifyInclusion(seq - 1, size, leaves[seq - 1]!, path, root)).toBe(true);
      }
      for (const old of [1, 100, 255, 256, 257, 299, 300, 512].filter((o) => o <= size)) {
        const path = (await log.consistencyProof(old, size)).map((h) => Buffer.from(h, 'hex'));
        const oldRoot = rootOfLeaves(leaves.slice(0, old));
        expect(verifyConsistency(old, size, oldRoot, root, path)).toBe(true);
      }
    }
    await expect(log.inclusionProof(601, 600)).rejects.toThrow(/seq 601 is not in the tree of 600/);
    await expect(log.inclusionProof(5, 601)).rejects.toThrow(
      /tree size 601 is beyond the log \(head seq 600\)/,
    );
    await expect(log.consistencyProof(0, 10)).rejects.toThrow(/need 1 <= old <= new/);
    await log.close();
  });

  it('rebuilds the tree once for a log written before it existed', async () => {
    let log = await EventLog.open(dir);
    await fill(log, 300);
    const expected = log.treeHead();
    const stale = [TREE_KEY, ...(await log.rawDb.keys({ gte: CHUNK_LOWER, lt: CHUNK_UPPER }).all())];
    await log.rawDb.batch(stale.map((key) => ({ type: 'del' as const, key })));
    await log.close();
    log = await EventLog.open(dir);
    expect(log.treeHead()).toEqual(expected);
    expect(await log.rawDb.get(chunkKey(0))).toBeDefined();
    expect((await log.verify()).ok).toBe(true);
    await fill(log, 10);
    expect(log.treeHead().root).toBe(rootOfLeaves(await leavesOf(log)).toString('hex'));
    await log.close();
  });

  it('names a chunk hash or a tree edge that does not match the events', async () => {
    const log = await EventLog.open(dir);
    await fill(log, 520);
    const good = await log.rawDb.get(chunkKey(1));
    await log.rawDb.put(chunkKey(1), '0'.repeat(64));
    let r = await log.verify();
    expect(r.ok).toBe(false);
    expect(r.firstBad).toEqual({
      seq: 257,
      problem: expect.stringMatching(/Merkle chunk hash of seqs 257-512 does not match/) as string,
    });
    await log.rawDb.put(chunkKey(1), good!);
    const edge = JSON.parse((await log.rawDb.get(TREE_KEY))!) as { size: number; edge: string[] };
    edge.edge[0] = '0'.repeat(64);
    await log.rawDb.put(TREE_KEY, JSON.stringify(edge));
    r = await log.verify();
    expect(r.firstBad?.problem).toMatch(
      /stored Merkle tree edge \(size 520\) does not match the events up to seq 520/,
    );
    await log.close();
  });

  it('reports the root recomputed from the events at the sizes asked for', async () => {
    const log = await EventLog.open(dir);
    await fill(log, 40);
    const leaves = await leavesOf(log);
    const r = await log.verify([0, 7, 40, 41]);
    expect(r.roots).toEqual({
      '0': rootOfLeaves([]).toString('hex'),
      '7': rootOfLeaves(leaves.slice(0, 7)).toString('hex'),
      '40': rootOfLeaves(leaves).toString('hex'),
    });
    await log.close();
  });
});
