/**
 * Chain verification: every stored event must sit at the key of its own seq, seqs must run
 * from 1 without gaps, the stored bytes must be the canonical form of what they parse to,
 * each `prev` must equal the previous event's `hash`, each `hash` must recompute, and the
 * head record must name the last event. The stored Merkle records must match the events: each
 * chunk hash the subtree it names, the stored right edge the tree at the head (a rewrite that
 * forgot them is named). The first failure is reported with its seq.
 */
import {
  CHUNK_HEIGHT,
  CHUNK_LEAVES,
  CHUNK_LOWER,
  CHUNK_UPPER,
  EVENT_LOWER,
  EVENT_UPPER,
  TREE_KEY,
  parseSeqHex,
} from './keys.js';
import { CompactRange, EMPTY_ROOT } from './merkle.js';
import { GENESIS_HASH, encodeEvent, eventHash, type BerthEvent } from './model.js';
import type { Db, Head } from './storage.js';
import { parseTreeRecord } from './tree.js';

/** The outcome of a verification walk. */
export interface VerifyResult {
  ok: boolean;
  /** Events checked before the first problem (or all of them). */
  checked: number;
  head: Head;
  /** The first bad seq and what is wrong with it. */
  firstBad?: { seq: number; problem: string };
  /** The Merkle root recomputed from the events at each tree size asked for that the walk reached. */
  roots?: Record<string, string>;
}

export async function verifyChain(
  db: Db,
  head: Head,
  rootsAt: readonly number[] = [],
): Promise<VerifyResult> {
  let expected = 1;
  let prevHash = GENESIS_HASH;
  const tree = CompactRange.empty();
  const wanted = new Set(rootsAt);
  const roots: Record<string, string> = {};
  if (wanted.has(0)) roots['0'] = EMPTY_ROOT.toString('hex');
  const withRoots = (r: VerifyResult): VerifyResult => (rootsAt.length > 0 ? { ...r, roots } : r);
  const bad = (seq: number, problem: string): VerifyResult =>
    withRoots({ ok: false, checked: expected - 1, head, firstBad: { seq, problem } });
  // Read before the walk, beside the head the caller read, so both describe the same moment.
  const treeText = await db.get(TREE_KEY);
  const storedChunks = new Map<number, string>();
  for await (const [key, value] of db.iterator({ gte: CHUNK_LOWER, lt: CHUNK_UPPER }))
    storedChunks.set(parseSeqHex(key.slice(2)) ?? -1, value);
  let chunkProblem: { seq: number; problem: string } | undefined;
  // Malformed keys sort anywhere: set them aside, and name them when the seq they displaced turns up missing.
  const strays: string[] = [];
  const straysNote = () =>
    strays.length > 0
      ? `; malformed event keys present: ${strays.map((k) => JSON.stringify(k)).join(', ')}`
      : '';
  for await (const [key, raw] of db.iterator({ gte: EVENT_LOWER, lt: EVENT_UPPER })) {
    const keySeq = parseSeqHex(key.slice(2));
    if (keySeq === undefined || keySeq === 0) {
      strays.push(key);
      continue;
    }
    if (keySeq !== expected)
      return bad(
        expected,
        `event ${expected} is missing (the next stored event is at seq ${keySeq})${straysNote()}`,
      );
    let e: BerthEvent;
    try {
      e = JSON.parse(raw) as BerthEvent;
    } catch {
      return bad(keySeq, 'the stored record is not valid JSON (altered or corrupted)');
    }
    let canonical: string;
    try {
      canonical = encodeEvent(e);
    } catch (err) {
      return bad(keySeq, `the stored record cannot be re-encoded: ${(err as Error).message}`);
    }
    if (canonical !== raw)
      return bad(keySeq, 'the stored bytes are not the canonical form of the event (altered)');
    if (e.seq !== keySeq)
      return bad(keySeq, `the event says seq ${String(e.seq)} but is stored at seq ${keySeq}`);
    if (e.prev !== prevHash)
      return bad(
        keySeq,
        `prev ${String(e.prev)} does not link to the hash of seq ${keySeq - 1} (${prevHash})`,
      );
    const { hash, ...rest } = e;
    const recomputed = eventHash(rest);
    if (recomputed !== hash)
      return bad(
        keySeq,
        `hash ${String(hash)} does not match the content (recomputed ${recomputed}): the event was altered`,
      );
    tree.appendEvent(hash, (height, index, subtree) => {
      if (height !== CHUNK_HEIGHT) return;
      const stored = storedChunks.get(index);
      storedChunks.delete(index);
      if (stored !== subtree && !chunkProblem)
        chunkProblem = {
          seq: index * CHUNK_LEAVES + 1,
          problem:
            stored === undefined
              ? `the Merkle chunk hash of seqs ${index * CHUNK_LEAVES + 1}-${(index + 1) * CHUNK_LEAVES} is missing`
              : `the stored Merkle chunk hash of seqs ${index * CHUNK_LEAVES + 1}-${(index + 1) * CHUNK_LEAVES} does not match their events (the events or the tree were rewritten)`,
        };
    });
    if (wanted.has(tree.size)) roots[String(tree.size)] = tree.rootHex();
    prevHash = hash;
    expected++;
  }
  const last = expected - 1;
  if (head.seq !== last)
    return bad(
      Math.min(head.seq, last) + 1,
      `the head says seq ${head.seq} but the chain ends at seq ${last}${straysNote()}`,
    );
  if (strays.length > 0)
    return bad(last + 1, `records under malformed event keys follow the chain${straysNote()}`);
  if (head.hash !== prevHash) return bad(last, `the head hash ${head.hash} is not the hash of seq ${last}`);
  if (chunkProblem) return bad(chunkProblem.seq, chunkProblem.problem);
  const extraChunk = [...storedChunks.keys()][0];
  if (extraChunk !== undefined)
    return bad(
      Math.max(1, extraChunk * CHUNK_LEAVES + 1),
      `a Merkle chunk hash is stored for seqs beyond the chain (chunk ${extraChunk})`,
    );
  let storedTree: CompactRange | undefined;
  try {
    storedTree = parseTreeRecord(treeText);
  } catch (err) {
    return bad(last, `the stored Merkle tree edge is unreadable: ${(err as Error).message}`);
  }
  if (!storedTree) return bad(last, 'the stored Merkle tree edge is missing');
  if (storedTree.size !== last || storedTree.rootHex() !== tree.rootHex())
    return bad(
      last,
      `the stored Merkle tree edge (size ${storedTree.size}) does not match the events up to seq ${last} (the events or the tree were rewritten)`,
    );
  return withRoots({ ok: true, checked: last, head });
}
