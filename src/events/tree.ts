/**
 * The Merkle tree's storage. The right edge (`m:tree`) is written in the same synced batch as the
 * head, and the hash of every completed aligned 256-leaf chunk under `h:<chunk>`, so a proof at
 * tree size n reads at most n/256 chunk hashes (one range scan) plus the events of the one or two
 * chunks it cuts through, never the whole log. A log written before the tree existed gets its
 * edge and chunks rebuilt once, when it is opened.
 */
import { FailedPreconditionError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import {
  CHUNK_HEIGHT,
  CHUNK_LEAVES,
  CHUNK_LOWER,
  CHUNK_UPPER,
  TREE_KEY,
  chunkKey,
  eventKey,
} from './keys.js';
import { CompactRange, eventLeafHash, nodeHash, splitPoint, type SubtreeHasher } from './merkle.js';
import type { Db, Head } from './storage.js';

/** The stored form of the tree's right edge. */
export interface StoredTree {
  size: number;
  edge: string[];
}

export function treeRecord(tree: CompactRange): string {
  return JSON.stringify({ size: tree.size, edge: tree.toHex() } satisfies StoredTree);
}

/** Parses `m:tree`; undefined when absent, throws naming the problem when unreadable. */
export function parseTreeRecord(text: string | undefined): CompactRange | undefined {
  if (text === undefined) return undefined;
  let stored: Partial<StoredTree>;
  try {
    stored = JSON.parse(text) as Partial<StoredTree>;
  } catch {
    throw new Error(`the stored Merkle tree record is not JSON: ${text.slice(0, 60)}`);
  }
  if (typeof stored.size !== 'number' || !Array.isArray(stored.edge))
    throw new Error('the stored Merkle tree record has no size or edge');
  return CompactRange.fromHex(stored.size, stored.edge as string[]);
}

/**
 * The tree at the head: the stored edge, or (a log from before the tree existed, or an edge that
 * does not match the head) one rebuilt by walking the events, stored with its chunk hashes.
 */
export async function openTree(db: Db, head: Head, logger: Logger): Promise<CompactRange> {
  let stored: CompactRange | undefined;
  let why = 'the log has no Merkle tree yet (written by an older berthd)';
  try {
    stored = parseTreeRecord(await db.get(TREE_KEY));
    if (stored && stored.size === head.seq) return stored;
    if (stored) why = `the stored Merkle tree covers ${stored.size} events but the head is seq ${head.seq}`;
  } catch (err) {
    why = (err as Error).message;
  }
  const t0 = performance.now();
  const tree = CompactRange.empty();
  let ops: { type: 'put'; key: string; value: string }[] = [];
  for await (const [, raw] of db.iterator({ gt: eventKey(0), lte: eventKey(head.seq) })) {
    tree.appendEvent(hashOfStored(raw), (height, index, hash) => {
      if (height === CHUNK_HEIGHT) ops.push({ type: 'put', key: chunkKey(index), value: hash });
    });
    if (ops.length >= 1024) {
      await db.batch(ops);
      ops = [];
    }
  }
  if (tree.size !== head.seq)
    throw new FailedPreconditionError(
      `event log: rebuilding the Merkle tree found ${tree.size} events but the head is seq ${head.seq}`,
    );
  ops.push({ type: 'put', key: TREE_KEY, value: treeRecord(tree) });
  await db.batch(ops, { sync: true });
  logger.info(
    { why, events: tree.size, ms: Math.round(performance.now() - t0) },
    'Merkle tree rebuilt from the events',
  );
  return tree;
}

/** The chain hash of a stored event, without trusting anything else in it. */
export function hashOfStored(raw: string): string {
  const hash = (JSON.parse(raw) as { hash?: unknown }).hash;
  if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash))
    throw new FailedPreconditionError(`a stored event has no valid hash: ${raw.slice(0, 80)}`);
  return hash;
}

/** Hashes of the stored chunks [0, count), in one range scan; throws naming the first one missing. */
export async function readChunkHashes(db: Db, count: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  if (count === 0) return out;
  for await (const [key, value] of db.iterator({ gte: CHUNK_LOWER, lt: CHUNK_UPPER, limit: count })) {
    if (key !== chunkKey(out.length)) break;
    out.push(Buffer.from(value, 'hex'));
  }
  if (out.length < count)
    throw new FailedPreconditionError(
      `event log: the Merkle chunk hash of seqs ${out.length * CHUNK_LEAVES + 1}-${(out.length + 1) * CHUNK_LEAVES} is missing`,
    );
  return out;
}

class MissingChunk extends Error {
  constructor(readonly chunk: number) {
    super(`leaves of chunk ${chunk} not loaded`);
  }
}

/**
 * Runs `compute` with a hasher over the tree of `size` leaves backed by the store: aligned chunks
 * from their stored hashes, anything smaller from the events of the chunk it lies in (loaded on
 * first need; RFC 6962's recursion only cuts through the chunks at a proof's index and ends).
 */
export async function withStoredTree<T>(
  db: Db,
  size: number,
  compute: (mth: SubtreeHasher) => T,
): Promise<T> {
  const fullChunks = Math.floor(size / CHUNK_LEAVES);
  const chunks = await readChunkHashes(db, fullChunks);
  const leaves = new Map<number, Buffer[]>();
  const leaf = (i: number): Buffer => {
    const c = Math.floor(i / CHUNK_LEAVES);
    const loaded = leaves.get(c);
    if (!loaded) throw new MissingChunk(c);
    return loaded[i - c * CHUNK_LEAVES]!;
  };
  const mth: SubtreeHasher = (a, b) => {
    if (b - a === 1) return leaf(a);
    if (b - a === CHUNK_LEAVES && a % CHUNK_LEAVES === 0 && b <= fullChunks * CHUNK_LEAVES)
      return chunks[a / CHUNK_LEAVES]!;
    const k = splitPoint(b - a);
    return nodeHash(mth(a, a + k), mth(a + k, b));
  };
  for (;;) {
    try {
      return compute(mth);
    } catch (err) {
      if (!(err instanceof MissingChunk) || leaves.has(err.chunk)) throw err;
      leaves.set(err.chunk, await readChunkLeaves(db, err.chunk, size));
    }
  }
}

async function readChunkLeaves(db: Db, chunk: number, size: number): Promise<Buffer[]> {
  const from = chunk * CHUNK_LEAVES + 1;
  const to = Math.min(size, from + CHUNK_LEAVES - 1);
  const out: Buffer[] = [];
  for await (const [, raw] of db.iterator({ gte: eventKey(from), lte: eventKey(to) }))
    out.push(eventLeafHash(hashOfStored(raw)));
  if (out.length !== to - from + 1)
    throw new FailedPreconditionError(`event log: events ${from}-${to} are not all stored`);
  return out;
}
