/**
 * Chain verification: every stored event must sit at the key of its own seq, seqs must run
 * from 1 without gaps, the stored bytes must be the canonical form of what they parse to,
 * each `prev` must equal the previous event's `hash`, each `hash` must recompute, and the
 * head record must name the last event. The first failure is reported with its seq.
 */
import { EVENT_LOWER, EVENT_UPPER, parseSeqHex } from './keys.js';
import { GENESIS_HASH, encodeEvent, eventHash, type BerthEvent } from './model.js';
import type { Db, Head } from './storage.js';

/** The outcome of a verification walk. */
export interface VerifyResult {
  ok: boolean;
  /** Events checked before the first problem (or all of them). */
  checked: number;
  head: Head;
  /** The first bad seq and what is wrong with it. */
  firstBad?: { seq: number; problem: string };
}

export async function verifyChain(db: Db, head: Head): Promise<VerifyResult> {
  let expected = 1;
  let prevHash = GENESIS_HASH;
  const bad = (seq: number, problem: string): VerifyResult => ({
    ok: false,
    checked: expected - 1,
    head,
    firstBad: { seq, problem },
  });
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
  return { ok: true, checked: last, head };
}
