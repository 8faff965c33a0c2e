/**
 * EventLog: the node's append-only, hash-chained event store over level.
 *
 * Semantics: `append` resolves only after the event is on disk (one synced level batch);
 * a second append with the same idempotency key resolves with the first event and writes
 * nothing; there is a single writer per log, and concurrent appends are group-committed
 * (everything queued while a batch is being synced goes into the next batch). Seqs are
 * gap-free from 1. A request that fails its schema is rejected before it reaches the queue,
 * so the log is unchanged. Reads decode events and upcast their data to the current version.
 */
import { randomUUID } from 'node:crypto';
import { BerthError, FailedPreconditionError, InvalidArgumentError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import {
  CHECKPOINT_LOWER,
  CHECKPOINT_UPPER,
  EVENT_LOWER,
  EVENT_UPPER,
  CHUNK_HEIGHT,
  HEAD_KEY,
  TREE_KEY,
  checkpointKey,
  chunkKey,
  cursorKey,
  eventKey,
  idemKey,
  parseSeqHex,
  seqOfIndexKey,
  subjectKey,
  subjectRange,
  topicKey,
  topicRange,
} from './keys.js';
import {
  encodeEvent,
  eventHash,
  validateRequest,
  type AppendRequest,
  type BerthEvent,
  type ValidRequest,
} from './model.js';
import type { CompactRange, SubtreeHasher } from './merkle.js';
import { EMPTY_ROOT, consistencyProof, inclusionProof } from './merkle.js';
import { SignedHeadStore } from './head-store.js';
import { openStorage, type Db, type Head } from './storage.js';
import { upcast, type Topic } from './topics.js';
import { openTree, treeRecord, withStoredTree } from './tree.js';
import { verifyChain, type VerifyResult } from './verify.js';

/** The most appends one synced batch carries; the rest wait for the next. */
const MAX_BATCH = 1024;

interface Pending {
  req: ValidRequest;
  resolve: (e: BerthEvent) => void;
  reject: (err: unknown) => void;
}

/** The chain head with the Merkle root over the events up to it: what a signed head signs. */
export interface TreeHead {
  seq: number;
  hash: string;
  root: string;
}

/** A range of seqs, both ends inclusive. */
export interface SeqRange {
  from?: number;
  to?: number;
  limit?: number;
}

export type AppendListener = (events: readonly BerthEvent[]) => void;

export class EventLog {
  private queue: Pending[] = [];
  private writing: Promise<void> | undefined;
  private lastTimeMs = 0;
  /** The time given to the first event of the batch being committed, until its listeners have run. */
  private committingSinceMs: number | undefined;
  /** The signed heads (head-signer.ts), in this log's database. */
  readonly heads: SignedHeadStore;
  private listeners = new Set<AppendListener>();
  private closed = false;

  private constructor(
    private readonly db: Db,
    private head: Head,
    private tree: CompactRange,
    readonly dir: string,
    private readonly logger: Logger,
  ) {
    this.heads = new SignedHeadStore(db);
  }

  /** Opens (or creates) the log in `dir`; refuses a truncated, foreign or locked directory. */
  static async open(dir: string, logger: Logger = silentLogger): Promise<EventLog> {
    const { db, head } = await openStorage(dir);
    const scoped = logger.child({ subsystem: 'events' });
    let tree: CompactRange;
    try {
      tree = await openTree(db, head, scoped);
    } catch (err) {
      await db.close();
      throw err;
    }
    const log = new EventLog(db, head, tree, dir, scoped);
    // Times never go backwards along seq; a damaged head event is verify's to report, not open's.
    const headTime =
      head.seq > 0
        ? Date.parse(String(/"time":"([^"]*)"/.exec((await db.get(eventKey(head.seq))) ?? '')?.[1]))
        : NaN;
    log.lastTimeMs = Number.isNaN(headTime) ? 0 : headTime;
    return log;
  }

  /** The last appended event's seq and hash. */
  get lastSeq(): number {
    return this.head.seq;
  }

  get headHash(): string {
    return this.head.hash;
  }

  /** The head and the Merkle root at it, consistent with each other (both change together after a commit). */
  treeHead(): TreeHead {
    return { seq: this.head.seq, hash: this.head.hash, root: this.tree.rootHex() };
  }

  /** Appends one event durably; resolves with the stored event (or the earlier one with the same key). */
  append(req: AppendRequest): Promise<BerthEvent> {
    try {
      if (this.closed) throw new FailedPreconditionError('event log is closed');
      const valid = validateRequest(req);
      return new Promise((resolve, reject) => {
        this.queue.push({ req: valid, resolve, reject });
        this.writing ??= this.drain();
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Calls `listener` with each committed batch, in seq order, after it is durable. */
  onAppend(listener: AppendListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) await this.commit(this.queue.splice(0, MAX_BATCH));
    } finally {
      this.writing = undefined;
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    const settled: { p: Pending; event: BerthEvent }[] = [];
    const fresh: BerthEvent[] = [];
    try {
      const keyed = batch.filter((p) => p.req.key !== undefined);
      const known = await this.db.getMany(keyed.map((p) => idemKey(p.req.key!)));
      const earlier = new Map<string, number>();
      keyed.forEach((p, i) => {
        const seq = known[i];
        if (seq !== undefined) earlier.set(p.req.key!, Number(seq));
      });
      const earlierEvents = new Map<number, BerthEvent>();
      for (const seq of new Set(earlier.values())) earlierEvents.set(seq, (await this.get(seq))!);
      const inBatch = new Map<string, BerthEvent>();
      const ops: { type: 'put'; key: string; value: string }[] = [];
      let { seq, hash } = this.head;
      const tree = this.tree.clone();
      const storeChunk = (height: number, index: number, subtree: string) => {
        if (height === CHUNK_HEIGHT) ops.push({ type: 'put', key: chunkKey(index), value: subtree });
      };
      for (const p of batch) {
        const key = p.req.key;
        const dup =
          key === undefined ? undefined : (inBatch.get(key) ?? earlierEvents.get(earlier.get(key) ?? -1));
        if (dup) {
          settled.push({ p, event: dup });
          continue;
        }
        this.lastTimeMs = Math.max(Date.now(), this.lastTimeMs);
        this.committingSinceMs ??= this.lastTimeMs;
        const base = {
          seq: seq + 1,
          id: randomUUID(),
          time: new Date(this.lastTimeMs).toISOString(),
          namespace: p.req.namespace,
          topic: p.req.topic,
          subject: p.req.subject,
          data: p.req.data,
          cause: p.req.cause,
          ...(key === undefined ? {} : { key }),
          prev: hash,
        };
        const event: BerthEvent = { ...base, hash: eventHash(base) };
        seq = event.seq;
        hash = event.hash;
        ops.push({ type: 'put', key: eventKey(seq), value: encodeEvent(event) });
        ops.push({ type: 'put', key: subjectKey(event.subject, seq), value: '' });
        ops.push({ type: 'put', key: topicKey(event.topic, seq), value: '' });
        if (key !== undefined) {
          ops.push({ type: 'put', key: idemKey(key), value: String(seq) });
          inBatch.set(key, event);
        }
        tree.appendEvent(event.hash, storeChunk);
        fresh.push(event);
        settled.push({ p, event });
      }
      if (fresh.length > 0) {
        ops.push({ type: 'put', key: HEAD_KEY, value: JSON.stringify({ seq, hash }) });
        ops.push({ type: 'put', key: TREE_KEY, value: treeRecord(tree) });
        await this.db.batch(ops, { sync: true });
        this.head = { seq, hash };
        this.tree = tree;
      }
    } catch (err) {
      this.committingSinceMs = undefined;
      this.logger.error({ err }, 'event batch write failed');
      const wrapped =
        err instanceof BerthError
          ? err
          : new FailedPreconditionError(`event log write failed: ${String(err)}`, { cause: err });
      for (const p of batch) p.reject(wrapped);
      return;
    }
    for (const { p, event } of settled) p.resolve(event);
    if (fresh.length > 0) {
      for (const l of this.listeners) {
        try {
          l(fresh);
        } catch (err) {
          this.logger.error({ err }, 'event listener failed');
        }
      }
    }
    this.committingSinceMs = undefined;
  }

  /**
   * A time (ms) before every event that listeners (the projections) have not seen yet: an event's
   * time is given when its batch is put together, before the write and the listeners. A reader
   * that stamps state it read from the projections with a time that is later compared with
   * events' times (kubelet's evented PLEG keeps whichever of a status and an event is newer)
   * must stamp it with this, not with now, or an event still being written would look older than
   * a status that does not show it yet. One millisecond before, as event times are milliseconds.
   */
  visibleBeforeMs(now = Date.now()): number {
    return Math.min(now, this.committingSinceMs ?? now) - 1;
  }

  /** The event at `seq`, upcast; undefined past the head. */
  async get(seq: number): Promise<BerthEvent | undefined> {
    const raw = await this.db.get(eventKey(seq));
    return raw === undefined ? undefined : decodeEvent(raw);
  }

  /** The event appended with an idempotency key, if any. */
  async getByKey(key: string): Promise<BerthEvent | undefined> {
    const seq = await this.db.get(idemKey(key));
    return seq === undefined ? undefined : this.get(Number(seq));
  }

  /** Events in seq order within `range` (inclusive), upcast. */
  async *read(range: SeqRange = {}): AsyncGenerator<BerthEvent> {
    for await (const [, value] of this.eventIterator(range)) yield decodeEvent(value);
  }

  /** Events exactly as stored (not upcast) with their canonical bytes, for publication and audit export. */
  async *readStored(range: SeqRange = {}): AsyncGenerator<{ event: BerthEvent; raw: string }> {
    for await (const [, raw] of this.eventIterator(range))
      yield { event: JSON.parse(raw) as BerthEvent, raw };
  }

  private eventIterator(range: SeqRange) {
    return this.db.iterator({
      gte: eventKey(Math.max(1, range.from ?? 1)),
      ...(range.to === undefined ? { lt: EVENT_UPPER } : { lte: eventKey(range.to) }),
      ...(range.limit === undefined ? {} : { limit: range.limit }),
    });
  }

  /** Events about one subject (entity id), in seq order. */
  async *readBySubject(subject: string, range: SeqRange = {}): AsyncGenerator<BerthEvent> {
    yield* this.readIndex(subjectRange(subject), range);
  }

  /** Events of one topic, in seq order. */
  async *readByTopic(topic: Topic, range: SeqRange = {}): AsyncGenerator<BerthEvent> {
    yield* this.readIndex(topicRange(topic), range);
  }

  private async *readIndex(bounds: { gt: string; lt: string }, range: SeqRange): AsyncGenerator<BerthEvent> {
    let n = 0;
    for await (const key of this.db.keys(bounds)) {
      const seq = seqOfIndexKey(key);
      if (range.from !== undefined && seq < range.from) continue;
      if (range.to !== undefined && seq > range.to) break;
      if (range.limit !== undefined && n++ >= range.limit) break;
      const e = await this.get(seq);
      if (e) yield e;
    }
  }

  /** The last seq whose event time is at or before `time` (0 if none): times never decrease along seq. */
  async seqAtTime(time: Date): Promise<number> {
    const t = time.getTime();
    if (Number.isNaN(t)) throw new InvalidArgumentError('not a valid time');
    let lo = 0;
    let hi = this.head.seq;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      const e = await this.get(mid);
      if (e && Date.parse(e.time) <= t) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Walks the whole chain (and the stored Merkle records); names the first bad seq and what is wrong
   * with it. `rootsAt` asks for the Merkle root recomputed from the events at those tree sizes.
   */
  async verify(rootsAt: readonly number[] = []): Promise<VerifyResult> {
    const stored = await this.db.get(HEAD_KEY);
    return verifyChain(
      this.db,
      stored === undefined ? { seq: -1, hash: '' } : (JSON.parse(stored) as Head),
      rootsAt,
    );
  }

  /** The Merkle root over events 1..size, from the stored chunk hashes and at most one chunk's events. */
  async rootAt(size: number): Promise<string> {
    if (size === 0) return EMPTY_ROOT.toString('hex');
    return (await this.fromTree(size, (mth) => [mth(0, size)]))[0]!;
  }

  /** The audit path of event `seq` in the tree of `size` events (RFC 6962 PATH), hex. */
  async inclusionProof(seq: number, size: number): Promise<string[]> {
    if (!(Number.isSafeInteger(seq) && seq >= 1 && seq <= size))
      throw new InvalidArgumentError(`seq ${seq} is not in the tree of ${size} events`);
    return this.fromTree(size, (mth) => inclusionProof(seq - 1, size, mth));
  }

  /** The consistency proof from the tree of `old` events to the tree of `size` (RFC 6962 PROOF), hex. */
  async consistencyProof(old: number, size: number): Promise<string[]> {
    if (!(Number.isSafeInteger(old) && old >= 1 && old <= size))
      throw new InvalidArgumentError(
        `no consistency proof from ${old} events to ${size}: need 1 <= old <= new`,
      );
    return this.fromTree(size, (mth) => consistencyProof(old, size, mth));
  }

  /** Hashes computed over the stored tree of `size` events, as hex. */
  private async fromTree(size: number, compute: (mth: SubtreeHasher) => Buffer[]): Promise<string[]> {
    if (!(Number.isSafeInteger(size) && size >= 0 && size <= this.head.seq))
      throw new InvalidArgumentError(`tree size ${size} is beyond the log (head seq ${this.head.seq})`);
    return (await withStoredTree(this.db, size, compute)).map((h) => h.toString('hex'));
  }

  /** Stores a projection checkpoint covering events up to `seq` (synced). */
  async putCheckpoint(seq: number, body: string): Promise<void> {
    await this.db.put(checkpointKey(seq), body, { sync: true });
  }

  /** Checkpoints, newest first. */
  async *checkpoints(): AsyncGenerator<{ seq: number; body: string }> {
    for await (const [key, body] of this.db.iterator({
      gte: CHECKPOINT_LOWER,
      lt: CHECKPOINT_UPPER,
      reverse: true,
    })) {
      yield { seq: parseSeqHex(key.slice(2)) ?? -1, body };
    }
  }

  async deleteCheckpoint(seq: number): Promise<void> {
    await this.db.del(checkpointKey(seq));
  }

  /** A relay's cursor: the last seq it has had acknowledged (0 when it has none). */
  async getCursor(name: string): Promise<number> {
    const v = await this.db.get(cursorKey(name));
    return v === undefined ? 0 : Number(v);
  }

  /** Not synced: level's write-ahead log survives a process crash, and publishing twice is deduplicated by msg id. */
  async putCursor(name: string, seq: number): Promise<void> {
    await this.db.put(cursorKey(name), String(seq));
  }

  /** Waits for queued appends, then closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.writing) await this.writing;
    this.listeners.clear();
    await this.db.close();
  }

  /** The raw level database, for tests and tools that must see stored bytes. */
  get rawDb(): Db {
    return this.db;
  }
}

/** Parses a stored event and upcasts its data to the topic's current version. */
export function decodeEvent(raw: string): BerthEvent {
  const e = JSON.parse(raw) as BerthEvent;
  e.data = upcast(e.topic, e.data);
  return e;
}

export { EVENT_LOWER };
