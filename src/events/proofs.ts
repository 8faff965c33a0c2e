/**
 * Proof documents (docs/audit.md): an inclusion proof of one event, or a consistency proof between
 * two signed heads, as JSON another program can check with only the document and the node's public
 * key. Building them needs the log; checking them needs nothing but this file's imports.
 */
import type { KeyObject } from 'node:crypto';
import { InvalidArgumentError } from '../common/errors.js';
import { canonicalJson } from './canonical.js';
import type { EventLog } from './log.js';
import { eventLeafHash, verifyConsistency, verifyInclusion } from './merkle.js';
import { eventHash, type BerthEvent } from './model.js';
import { verifySignedHead, type SignedHead } from './signed-head.js';

export const INCLUSION_FORMAT = 'berth-inclusion-proof/v1';
export const CONSISTENCY_FORMAT = 'berth-consistency-proof/v1';

export interface InclusionProof {
  format: typeof INCLUSION_FORMAT;
  /** The event exactly as stored (its data at its stored version), whose hash is the leaf. */
  event: BerthEvent;
  /** Leaf index: seq - 1. */
  leafIndex: number;
  treeSize: number;
  /** Sibling hashes (hex), leaf side first: RFC 6962 PATH. */
  path: string[];
  head: SignedHead;
}

export interface ConsistencyProof {
  format: typeof CONSISTENCY_FORMAT;
  oldHead: SignedHead;
  newHead: SignedHead;
  /** RFC 6962 PROOF(old.seq, D[new.seq]), hex. */
  path: string[];
}

export type ProofDocument = InclusionProof | ConsistencyProof;

/** The outcome of checking a proof: `ok`, and a sentence saying what was proved or what failed. */
export interface ProofCheck {
  ok: boolean;
  message: string;
}

/** Every signed head stored, oldest first. */
export async function storedHeads(log: EventLog): Promise<SignedHead[]> {
  const heads: SignedHead[] = [];
  for await (const body of log.heads.list()) heads.push(JSON.parse(body) as SignedHead);
  return heads;
}

async function newestHead(log: EventLog): Promise<SignedHead | undefined> {
  for await (const body of log.heads.list({ reverse: true, limit: 1 })) return JSON.parse(body) as SignedHead;
  return undefined;
}

/** Proves event `seq` is in the tree of the newest signed head (which must cover it). */
export async function proveInclusion(log: EventLog, seq: number): Promise<InclusionProof> {
  if (!Number.isSafeInteger(seq) || seq < 1)
    throw new InvalidArgumentError(`seq ${seq} is not a positive integer`);
  const head = await newestHead(log);
  if (!head)
    throw new InvalidArgumentError(
      'no signed head yet: berthd signs one every 1000 events, 10 s after an append, and at stop',
    );
  if (seq > head.seq)
    throw new InvalidArgumentError(
      `seq ${seq} is beyond the newest signed head (seq ${head.seq}); wait for the next head ` +
        '(signed within 10 s of an append) or prove an earlier seq',
    );
  let event: BerthEvent | undefined;
  for await (const item of log.readStored({ from: seq, to: seq })) event = item.event;
  if (!event) throw new InvalidArgumentError(`event ${seq} is not in the log`);
  return {
    format: INCLUSION_FORMAT,
    event,
    leafIndex: seq - 1,
    treeSize: head.seq,
    path: await log.inclusionProof(seq, head.seq),
    head,
  };
}

/** Proves the signed head at `oldSeq` is a prefix of the one at `newSeq`. */
export async function proveConsistency(
  log: EventLog,
  oldSeq: number,
  newSeq: number,
): Promise<ConsistencyProof> {
  const headAt = async (seq: number, which: string): Promise<SignedHead> => {
    if (!Number.isSafeInteger(seq) || seq < 1)
      throw new InvalidArgumentError(`${which} ${seq} is not a positive integer`);
    const body = await log.heads.get(seq);
    if (!body)
      throw new InvalidArgumentError(
        `there is no signed head at seq ${seq} (${which}); berth audit heads lists them`,
      );
    return JSON.parse(body) as SignedHead;
  };
  if (oldSeq > newSeq)
    throw new InvalidArgumentError(`old head seq ${oldSeq} is after new head seq ${newSeq}`);
  const oldHead = await headAt(oldSeq, 'old');
  const newHead = await headAt(newSeq, 'new');
  return { format: CONSISTENCY_FORMAT, oldHead, newHead, path: await log.consistencyProof(oldSeq, newSeq) };
}

const HEX64 = /^[0-9a-f]{64}$/;

function hexPath(value: unknown): Buffer[] {
  if (!Array.isArray(value) || !value.every((h) => typeof h === 'string' && HEX64.test(h)))
    throw new InvalidArgumentError('proof field "path" must be an array of 64-hex-digit hashes');
  return value.map((h: string) => Buffer.from(h, 'hex'));
}

/**
 * Checks a proof document with only the node's public key. Never throws for a bad document: a
 * forged head, a wrong key, an altered event or path are each a failed check saying so.
 */
export function checkProof(doc: unknown, publicKey: KeyObject): ProofCheck {
  try {
    if (typeof doc !== 'object' || doc === null) throw new InvalidArgumentError('proof is not a JSON object');
    const d = doc as Record<string, unknown>;
    if (d.format === INCLUSION_FORMAT) return checkInclusion(d, publicKey);
    if (d.format === CONSISTENCY_FORMAT) return checkConsistency(d, publicKey);
    throw new InvalidArgumentError(
      `proof format ${JSON.stringify(d.format)} is not ${INCLUSION_FORMAT} or ${CONSISTENCY_FORMAT}`,
    );
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

function checkInclusion(d: Record<string, unknown>, key: KeyObject): ProofCheck {
  const head = verifySignedHead(d.head, key);
  const event = d.event as BerthEvent | undefined;
  if (typeof event !== 'object' || event === null)
    throw new InvalidArgumentError('proof has no "event" object');
  if (d.treeSize !== head.seq)
    throw new InvalidArgumentError(`proof tree size ${String(d.treeSize)} is not the head's seq ${head.seq}`);
  if (!Number.isSafeInteger(event.seq) || event.seq < 1 || event.seq > head.seq)
    throw new InvalidArgumentError(
      `event seq ${String(event.seq)} is not covered by the head (seq ${head.seq})`,
    );
  if (d.leafIndex !== event.seq - 1)
    throw new InvalidArgumentError(
      `leaf index ${String(d.leafIndex)} is not the event's seq - 1 (${event.seq - 1})`,
    );
  const { hash, ...unhashed } = event;
  let recomputed: string;
  try {
    recomputed = eventHash(unhashed);
    canonicalJson(event);
  } catch (err) {
    throw new InvalidArgumentError(`the event cannot be hashed: ${(err as Error).message}`);
  }
  if (recomputed !== hash)
    return {
      ok: false,
      message: `event ${event.seq} was altered: its content hashes to ${recomputed}, not ${String(hash)}`,
    };
  if (event.seq === head.seq && hash !== head.hash)
    return {
      ok: false,
      message: `event ${event.seq} is the head's event but its hash is not the head's hash`,
    };
  const ok = verifyInclusion(
    event.seq - 1,
    head.seq,
    eventLeafHash(hash),
    hexPath(d.path),
    Buffer.from(head.root, 'hex'),
  );
  return ok
    ? {
        ok,
        message: `event ${event.seq} (hash ${hash}) is in node ${head.node}'s log as signed at seq ${head.seq} (root ${head.root})`,
      }
    : {
        ok,
        message: `the path does not lead from event ${event.seq} to the root signed at seq ${head.seq}: the proof or the event was altered`,
      };
}

function checkConsistency(d: Record<string, unknown>, key: KeyObject): ProofCheck {
  const oldHead = verifySignedHead(d.oldHead, key);
  const newHead = verifySignedHead(d.newHead, key, oldHead.node);
  if (oldHead.seq > newHead.seq)
    throw new InvalidArgumentError(
      `the old head (seq ${oldHead.seq}) is after the new one (seq ${newHead.seq})`,
    );
  const ok = verifyConsistency(
    oldHead.seq,
    newHead.seq,
    Buffer.from(oldHead.root, 'hex'),
    Buffer.from(newHead.root, 'hex'),
    hexPath(d.path),
  );
  return ok
    ? {
        ok,
        message: `node ${newHead.node}'s log at seq ${newHead.seq} extends its log at seq ${oldHead.seq}: nothing up to seq ${oldHead.seq} was rewritten`,
      }
    : {
        ok,
        message: `the heads at seq ${oldHead.seq} and ${newHead.seq} are not consistent: the log was rewritten between them, or the proof was altered`,
      };
}
