/**
 * The witness side: what a node published to NATS (its key, its signed heads, its events), read
 * and checked without trusting the node. Used by `berth audit verify --witness` and `--from-nats`.
 */
import type { KeyObject } from 'node:crypto';
import { DeliverPolicy, type NatsConnection, type StreamInfo } from 'nats';
import { FailedPreconditionError, errorMessage } from '../common/errors.js';
import { headsStreamName, headsSubject, keysSubject, type PublishedKey } from './head-relay.js';
import { CompactRange } from './merkle.js';
import { GENESIS_HASH, encodeEvent, eventHash, type BerthEvent } from './model.js';
import { streamName } from './relay.js';
import { keyIdOf, parsePublicKey, rawPublicKey, verifySignedHead, type SignedHead } from './signed-head.js';

/** One stream message: its stream sequence, subject, Nats-Msg-Id and payload. */
export interface StreamMessage {
  streamSeq: number;
  subject: string;
  msgId: string;
  data: string;
}

/** Every message of `stream` from stream sequence `from` on, in order; nothing when the stream is empty. */
export async function* readStream(
  nc: NatsConnection,
  stream: string,
  from = 1,
): AsyncGenerator<StreamMessage> {
  const jsm = await nc.jetstreamManager();
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(stream);
  } catch (err) {
    if (/stream not found/i.test(errorMessage(err)))
      throw new FailedPreconditionError(`NATS has no stream ${stream}: this node published nothing there`);
    throw err;
  }
  if (info.state.messages === 0 || info.state.last_seq < from) return;
  const consumer = await nc.jetstream().consumers.get(stream, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: Math.max(from, info.state.first_seq),
  });
  const messages = await consumer.consume();
  const decoder = new TextDecoder();
  for await (const m of messages) {
    yield {
      streamSeq: m.seq,
      subject: m.subject,
      msgId: m.headers?.get('Nats-Msg-Id') ?? '',
      data: decoder.decode(m.data),
    };
    if (m.info.pending === 0) break;
  }
}

export interface PublishedHeads {
  /** The keys the node published, oldest first. */
  keys: PublishedKey[];
  /** Valid heads signed by the trusted key, by seq (a seq published twice identically counts once). */
  heads: SignedHead[];
  /** Problems: forged, truncated, foreign-key or conflicting heads, a key that does not match. */
  findings: string[];
  /** The key the heads were checked with and where it came from. */
  key: { keyId: string; publicKey: string; source: string };
}

/**
 * Reads the heads stream and checks every head with the trusted key: `pinned` when given (a
 * --key the auditor holds), else the first key the node published (trust on first use).
 */
export async function readPublishedHeads(
  nc: NatsConnection,
  nodeId: string,
  pinned?: { key: KeyObject; source: string },
): Promise<PublishedHeads> {
  const keys: PublishedKey[] = [];
  const raw: StreamMessage[] = [];
  for await (const m of readStream(nc, headsStreamName(nodeId))) {
    if (m.subject === keysSubject(nodeId)) {
      try {
        keys.push(JSON.parse(m.data) as PublishedKey);
      } catch {
        // Named below with the heads it leaves unchecked.
      }
    } else if (m.subject === headsSubject(nodeId)) raw.push(m);
  }
  const findings: string[] = [];
  let trusted = pinned;
  if (!trusted) {
    const first = keys[0];
    if (!first)
      throw new FailedPreconditionError(
        `node ${nodeId} published no public key on ${keysSubject(nodeId)}; pass --key`,
      );
    let key: KeyObject;
    try {
      key = parsePublicKey(String(first.publicKey));
    } catch (err) {
      throw new FailedPreconditionError(
        `the key node ${nodeId} published on ${keysSubject(nodeId)} is not usable (${errorMessage(err)}); pass --key`,
      );
    }
    trusted = { key, source: `published on ${keysSubject(nodeId)}` };
  }
  const raw32 = rawPublicKey(trusted.key);
  const keyId = keyIdOf(raw32);
  for (const k of keys)
    if (k.keyId !== keyId)
      findings.push(
        `node ${nodeId} published another key ${String(k.keyId)} besides ${keyId}: heads signed with it are not trusted`,
      );
  const bySeq = new Map<number, SignedHead>();
  for (const m of raw) {
    let head: SignedHead;
    try {
      head = verifySignedHead(m.data, trusted.key, nodeId);
    } catch (err) {
      findings.push(`published head (stream seq ${m.streamSeq}): ${errorMessage(err)}`);
      continue;
    }
    const earlier = bySeq.get(head.seq);
    if (earlier && (earlier.hash !== head.hash || earlier.root !== head.root))
      findings.push(
        `two heads signed for seq ${head.seq} disagree (hash ${earlier.hash} vs ${head.hash}): the log was rewritten and re-signed`,
      );
    if (!earlier) bySeq.set(head.seq, head);
  }
  return {
    keys,
    heads: [...bySeq.values()].sort((a, b) => a.seq - b.seq),
    findings,
    key: { keyId, publicKey: raw32.toString('base64'), source: trusted.source },
  };
}

/** A chain rebuilt from the events stream, with the roots at the sizes asked for. */
export interface RebuiltChain {
  /** The last seq that chains correctly from seq 1. */
  length: number;
  hashes: string[];
  roots: Map<number, string>;
  /** The first problem in the stream (gap, bad link, altered event), if any. */
  problem?: { seq: number; message: string };
}

/** Rebuilds the chain from `BERTH_EVENTS_<node>` alone: seq gaps, prev links, recomputed hashes. */
export async function rebuildFromStream(
  nc: NatsConnection,
  nodeId: string,
  rootsAt: ReadonlySet<number>,
): Promise<RebuiltChain> {
  const tree = CompactRange.empty();
  const hashes: string[] = [];
  const roots = new Map<number, string>();
  let prev = GENESIS_HASH;
  const stop = (seq: number, message: string): RebuiltChain => ({
    length: hashes.length,
    hashes,
    roots,
    problem: { seq, message },
  });
  for await (const m of readStream(nc, streamName(nodeId))) {
    const expected = hashes.length + 1;
    let event: BerthEvent;
    try {
      event = JSON.parse(m.data) as BerthEvent;
      if (typeof event !== 'object' || event === null || Array.isArray(event))
        throw new Error('not an object');
      encodeEvent(event);
    } catch {
      return stop(expected, `stream message ${m.streamSeq} is not an event (not a JSON object)`);
    }
    if (event.seq !== expected)
      return stop(
        expected,
        `event ${expected} is missing from the stream (stream message ${m.streamSeq} holds seq ${String(event.seq)})`,
      );
    if (m.msgId !== `${nodeId}:${expected}`)
      return stop(
        expected,
        `stream message ${m.streamSeq} has Nats-Msg-Id ${m.msgId}, not ${nodeId}:${expected}`,
      );
    if (encodeEvent(event) !== m.data)
      return stop(expected, `event ${expected} in the stream is not in canonical form (altered)`);
    if (event.prev !== prev)
      return stop(expected, `event ${expected} in the stream does not link to event ${expected - 1}`);
    const { hash, ...rest } = event;
    if (eventHash(rest) !== hash)
      return stop(expected, `event ${expected} in the stream does not match its hash (altered)`);
    hashes.push(hash);
    tree.appendEvent(hash);
    if (rootsAt.has(tree.size)) roots.set(tree.size, tree.rootHex());
    prev = hash;
  }
  return { length: hashes.length, hashes, roots };
}

/**
 * The chain rebuilt from a node's events stream and checked against its signed heads: what
 * `berth audit verify --from-nats` and `berth fleet audit` both find wrong, as sentences.
 */
export async function streamAgainstHeads(
  nc: NatsConnection,
  nodeId: string,
  heads: readonly SignedHead[],
): Promise<{ chain: RebuiltChain; findings: string[]; lastGood?: SignedHead; firstBad?: SignedHead }> {
  const chain = await rebuildFromStream(nc, nodeId, new Set(heads.map((h) => h.seq)));
  const findings: string[] = [];
  if (chain.problem)
    findings.push(`the events stream breaks at seq ${chain.problem.seq}: ${chain.problem.message}`);
  const cmp = firstBadHead(heads, (seq) => chain.roots.get(seq));
  if (cmp.firstBad)
    findings.push(
      `the events stream does not match the signed head at seq ${cmp.firstBad.seq}: ${cmp.why}` +
        (cmp.lastGood ? ` (the head at seq ${cmp.lastGood.seq} matches)` : ''),
    );
  return {
    chain,
    findings,
    ...(cmp.lastGood ? { lastGood: cmp.lastGood } : {}),
    ...(cmp.firstBad ? { firstBad: cmp.firstBad } : {}),
  };
}

/** The first published head whose root differs from `rootAt` (undefined: none), and the last that matched before it. */
export function firstBadHead(
  heads: readonly SignedHead[],
  rootAt: (seq: number) => string | undefined,
): { lastGood?: SignedHead; firstBad?: SignedHead; why?: string } {
  let lastGood: SignedHead | undefined;
  for (const head of heads) {
    const root = rootAt(head.seq);
    if (root === undefined)
      return {
        ...(lastGood ? { lastGood } : {}),
        firstBad: head,
        why: `the log ends before seq ${head.seq}`,
      };
    if (root !== head.root)
      return {
        ...(lastGood ? { lastGood } : {}),
        firstBad: head,
        why: `the Merkle root at seq ${head.seq} is ${root}, the signed head says ${head.root}`,
      };
    lastGood = head;
  }
  return lastGood ? { lastGood } : {};
}
