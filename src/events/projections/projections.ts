/**
 * Projections: the in-memory node state folded from the log, kept current as events are
 * appended, with checkpoints so startup replays only the tail.
 *
 * Semantics: `state` always reflects every durable event up to `state.seq`; subscribers are
 * called after each event is applied, in seq order. Checkpoints are written every
 * `checkpointEvery` events (in the background) and at `close()`; `open()` uses the newest
 * checkpoint that validates and ignores (and logs) any that do not.
 */
import { InvalidArgumentError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { silentLogger } from '../../common/logger.js';
import type { EventLog } from '../log.js';
import type { BerthEvent } from '../model.js';
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint.js';
import { diffValues } from './diff.js';
import { explainEntity, type Explanation } from './explain.js';
import { applyEvent, emptyState, type EntityKind, type NodeState } from './state.js';

export type ProjectionListener = (event: BerthEvent, state: NodeState) => void;

export interface ProjectionsOptions {
  /** Write a checkpoint after this many applied events (default 10,000; 0 disables periodic ones). */
  checkpointEvery?: number;
  /** Checkpoints kept (default 2). */
  keepCheckpoints?: number;
  logger?: Logger;
}

/** How the state was loaded at open: which checkpoint, how many tail events, what was ignored. */
export interface LoadReport {
  checkpointSeq: number;
  tailEvents: number;
  ignored: { seq: number; problem: string }[];
}

/** The result of `check()`: the rebuilt state compared with the live one. */
export interface CheckResult {
  equal: boolean;
  seq: number;
  differences: string[];
}

export class Projections {
  private listeners = new Set<ProjectionListener>();
  private sinceCheckpoint = 0;
  private checkpointing: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  private loadReport: LoadReport = { checkpointSeq: 0, tailEvents: 0, ignored: [] };

  private constructor(
    private readonly log: EventLog,
    private live: NodeState,
    private readonly opts: Required<Omit<ProjectionsOptions, 'logger'>> & { logger: Logger },
  ) {}

  static async open(log: EventLog, options: ProjectionsOptions = {}): Promise<Projections> {
    const opts = { checkpointEvery: 10_000, keepCheckpoints: 2, logger: silentLogger, ...options };
    const p = new Projections(log, emptyState(), opts);
    // Subscribe first and buffer, so events appended while the tail replays are not missed.
    const buffered: BerthEvent[] = [];
    let catchingUp = true;
    p.unsubscribe = log.onAppend((events) => {
      if (catchingUp) buffered.push(...events);
      else for (const e of events) p.apply(e);
    });
    const { state, report } = await p.loadAt(log.lastSeq);
    p.live = state;
    p.loadReport = report;
    for (const e of buffered) if (e.seq > p.live.seq) p.apply(e);
    catchingUp = false;
    for (const ignored of report.ignored)
      opts.logger.warn(ignored, 'ignoring an invalid projection checkpoint');
    return p;
  }

  /** The live state. Callers must not modify it. */
  get state(): NodeState {
    return this.live;
  }

  /** Records of one kind, optionally in one namespace (namespaces themselves are not namespaced). */
  list<K extends EntityKind>(kind: K, namespace?: string): NodeState[K][string][] {
    const records = Object.values(this.live[kind]) as NodeState[K][string][];
    if (namespace === undefined || kind === 'namespaces') return records;
    return records.filter((r) => (r as { namespace?: string }).namespace === namespace);
  }

  /** One record by namespace and id (for namespaces, the name alone), or undefined. */
  get<K extends EntityKind>(kind: K, namespace: string, id?: string): NodeState[K][string] | undefined {
    const key = kind === 'namespaces' ? namespace : `${namespace}/${id ?? ''}`;
    return (this.live[kind] as Record<string, NodeState[K][string]>)[key];
  }

  get loaded(): LoadReport {
    return this.loadReport;
  }

  /** Calls `listener` after each event is applied; returns the unsubscribe function. */
  subscribe(listener: ProjectionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private apply(e: BerthEvent): void {
    if (e.seq !== this.live.seq + 1) {
      this.opts.logger.error(
        { seq: e.seq, covered: this.live.seq },
        'projection received an out-of-order event',
      );
      return;
    }
    applyEvent(this.live, e);
    for (const l of this.listeners) l(e, this.live);
    if (this.opts.checkpointEvery > 0 && ++this.sinceCheckpoint >= this.opts.checkpointEvery) {
      this.sinceCheckpoint = 0;
      this.checkpointing ??= this.checkpoint()
        .catch((err: unknown) => this.opts.logger.error({ err }, 'projection checkpoint failed'))
        .finally(() => (this.checkpointing = undefined));
    }
  }

  /** Writes a checkpoint of the live state now and prunes old ones. */
  async checkpoint(): Promise<void> {
    const seq = this.live.seq;
    const hash = seq === 0 ? '' : (await this.log.get(seq))?.hash;
    if (hash === undefined) return;
    // Encoding is synchronous, so the state cannot move under it.
    const body = encodeCheckpoint(this.live, hash);
    await this.log.putCheckpoint(seq, body);
    let kept = 0;
    for await (const cp of this.log.checkpoints()) {
      if (++kept > this.opts.keepCheckpoints) await this.log.deleteCheckpoint(cp.seq);
    }
  }

  /** The state as of `seq` (events 1..seq), from the newest valid checkpoint at or before it plus the events after. */
  private async loadAt(seq: number): Promise<{ state: NodeState; report: LoadReport }> {
    const ignored: LoadReport['ignored'] = [];
    let state: NodeState | undefined;
    for await (const cp of this.log.checkpoints()) {
      if (cp.seq > seq) continue;
      const decoded = await decodeCheckpoint(cp.body, cp.seq, async (s) => (await this.log.get(s))?.hash);
      if ('state' in decoded) {
        state = decoded.state;
        break;
      }
      ignored.push({ seq: cp.seq, problem: decoded.problem });
    }
    state ??= emptyState();
    const checkpointSeq = state.seq;
    for await (const e of this.log.read({ from: state.seq + 1, to: seq })) applyEvent(state, e);
    return { state, report: { checkpointSeq, tailEvents: state.seq - checkpointSeq, ignored } };
  }

  /** The node state as of a seq or a time (the last event at or before it), in the live state's shape. */
  async replayAt(at: { seq: number } | { time: Date }): Promise<NodeState> {
    const seq = 'seq' in at ? at.seq : await this.log.seqAtTime(at.time);
    if (!Number.isSafeInteger(seq) || seq < 0)
      throw new InvalidArgumentError(`replay: seq ${seq} is not a non-negative integer`);
    if (seq > this.log.lastSeq)
      throw new InvalidArgumentError(
        `replay: seq ${seq} is past the end of the log (last seq ${this.log.lastSeq})`,
      );
    return (await this.loadAt(seq)).state;
  }

  /** Rebuilds from seq 0 (no checkpoint) up to the live seq and lists every difference from the live state. */
  async check(): Promise<CheckResult> {
    // Copy the live state first: appends keep changing it while the rebuild reads the log.
    const live = JSON.parse(JSON.stringify(this.live)) as NodeState;
    const seq = live.seq;
    const rebuilt = emptyState();
    for await (const e of this.log.read({ to: seq })) applyEvent(rebuilt, e);
    const differences = diffValues(live, rebuilt);
    return { equal: differences.length === 0, seq, differences };
  }

  /** The events that made an entity what it is, oldest first, with their causes. */
  explain(entity: string, namespace?: string): Promise<Explanation> {
    return explainEntity(this.log, this.live, entity, namespace);
  }

  /** Stops following the log and writes a final checkpoint. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    while (this.checkpointing) await this.checkpointing;
    await this.checkpoint();
    this.listeners.clear();
  }
}
