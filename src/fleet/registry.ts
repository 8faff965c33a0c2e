/**
 * The fleet's node registry: which berthd holds each node id on a NATS cluster.
 *
 * A JetStream key-value bucket `BERTH_NODES` (one key per node id, history 1) holds a NodeRecord
 * per node. A berthd claims its id before it starts anything: the first claim creates the key
 * (atomic: of two nodes racing for one id, one wins); a later start of the same node (the same
 * host and root, e.g. after a crash) takes the record over; any other holder is refused with its
 * name, because two logs publishing under one id would interleave on one stream. The holder then
 * beats every HEARTBEAT_MS with its log and relay positions, and marks the record stopped on a
 * clean stop. The fleet tools read the bucket for `berth fleet nodes`; nothing else does.
 */
import { hostname } from 'node:os';
import type { KV, NatsConnection } from 'nats';
import { AlreadyExistsError, errorMessage } from '../common/errors.js';

export const NODES_BUCKET = 'BERTH_NODES';
/** How often a node rewrites its record. */
export const HEARTBEAT_MS = 5_000;
/** A running node whose record is older than this is reported unresponsive. */
export const STALE_MS = 20_000;

export interface NodeRecord {
  v: 1;
  nodeId: string;
  /** The machine and root that hold the id: a restart from the same pair takes it over. */
  host: string;
  root: string;
  pid: number;
  /** A random id per berthd start. */
  instance: string;
  version: string;
  taskQueue: string;
  /** The JetStream stream its events go to. */
  eventsStream: string;
  startedAt: string;
  seenAt: string;
  /** Set by a clean stop. */
  stoppedAt?: string;
  /** The node's last appended event seq, and the last one its relay saw acknowledged. */
  logSeq: number;
  relayedSeq: number;
}

export type NodeHealth = 'up' | 'unresponsive' | 'stopped';

export function nodeHealth(record: NodeRecord, now = Date.now()): NodeHealth {
  if (record.stoppedAt) return 'stopped';
  return now - Date.parse(record.seenAt) > STALE_MS ? 'unresponsive' : 'up';
}

/** Opens (creating if missing) the bucket; `replicas` only applies when it is created. */
export async function nodesBucket(nc: NatsConnection, replicas = 1): Promise<KV> {
  return nc.jetstream().views.kv(NODES_BUCKET, { history: 1, replicas });
}

/** Every node record in the bucket, by node id. An absent bucket is an empty fleet. */
export async function listNodes(nc: NatsConnection): Promise<NodeRecord[]> {
  const jsm = await nc.jetstreamManager();
  try {
    await jsm.streams.info(`KV_${NODES_BUCKET}`);
  } catch (err) {
    if (/stream not found/i.test(errorMessage(err))) return [];
    throw err;
  }
  // Bound to as it is: a reader must not change the bucket's settings.
  const kv = await nc.jetstream().views.kv(NODES_BUCKET, { bindOnly: true });
  // The keys first: a get issued while the key lister runs ends the listing early.
  const keys: string[] = [];
  for await (const key of await kv.keys()) keys.push(key);
  const out: NodeRecord[] = [];
  for (const key of keys) {
    const entry = await kv.get(key);
    if (entry && entry.operation === 'PUT') out.push(entry.json<NodeRecord>());
  }
  return out.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
}

function describeHolder(r: NodeRecord, now = Date.now()): string {
  const seen = Math.round((now - Date.parse(r.seenAt)) / 1000);
  const state = r.stoppedAt ? `stopped at ${r.stoppedAt}` : `last seen ${seen} s ago`;
  return `berthd pid ${r.pid} on ${r.host} with --root ${r.root} (${state})`;
}

/** The holder is another live berthd on this host: its pid runs and its record is fresh. */
function stillRunning(holder: NodeRecord): boolean {
  if (holder.stoppedAt || holder.pid === process.pid || nodeHealth(holder) !== 'up') return false;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The claim a berthd holds on its node id: it beats, and releases on a clean stop. */
export class NodeClaim {
  private timer: NodeJS.Timeout | undefined;
  private record: NodeRecord;

  private constructor(
    private readonly kv: KV,
    record: NodeRecord,
    private readonly positions: () => { logSeq: number; relayedSeq: number },
    private readonly onBeatError: (err: unknown) => void,
  ) {
    this.record = record;
  }

  /**
   * Claims `nodeId` for this host and root. Throws AlreadyExistsError naming the holder when
   * another host or root holds it (running or not: its events are on the stream under that id).
   */
  static async claim(
    nc: NatsConnection,
    opts: Omit<NodeRecord, 'v' | 'host' | 'pid' | 'seenAt' | 'startedAt' | 'logSeq' | 'relayedSeq'> & {
      replicas?: number;
      positions: () => { logSeq: number; relayedSeq: number };
      onBeatError?: (err: unknown) => void;
    },
  ): Promise<NodeClaim> {
    const kv = await nodesBucket(nc, opts.replicas);
    const now = new Date().toISOString();
    const record: NodeRecord = {
      v: 1,
      nodeId: opts.nodeId,
      host: hostname(),
      root: opts.root,
      pid: process.pid,
      instance: opts.instance,
      version: opts.version,
      taskQueue: opts.taskQueue,
      eventsStream: opts.eventsStream,
      startedAt: now,
      seenAt: now,
      ...opts.positions(),
    };
    for (;;) {
      const held = await kv.get(opts.nodeId);
      if (!held || held.operation !== 'PUT') {
        try {
          await kv.create(opts.nodeId, JSON.stringify(record));
          break;
        } catch (err) {
          if (/wrong last sequence|key exists/i.test(errorMessage(err))) continue; // lost a race: read the winner
          throw err;
        }
      }
      const holder = held.json<NodeRecord>();
      if (holder.host !== record.host || holder.root !== record.root || stillRunning(holder)) {
        throw new AlreadyExistsError(
          `node id "${opts.nodeId}" is already in use on this NATS cluster by ${describeHolder(holder)}: ` +
            'give this berthd another --node-id',
        );
      }
      try {
        await kv.update(opts.nodeId, JSON.stringify(record), held.revision);
        break;
      } catch (err) {
        if (!/wrong last sequence/i.test(errorMessage(err))) throw err;
      }
    }
    return new NodeClaim(kv, record, opts.positions, opts.onBeatError ?? (() => undefined));
  }

  /** Rewrites the record every HEARTBEAT_MS; a failed beat (NATS away) is reported and retried next time. */
  startBeating(intervalMs = HEARTBEAT_MS): void {
    this.timer = setInterval(() => {
      this.beat().catch(this.onBeatError);
    }, intervalMs);
    this.timer.unref();
  }

  async beat(extra: Partial<NodeRecord> = {}): Promise<void> {
    this.record = { ...this.record, ...this.positions(), seenAt: new Date().toISOString(), ...extra };
    await this.kv.put(this.record.nodeId, JSON.stringify(this.record));
  }

  /** Stops beating and marks the record stopped (best effort: NATS may be gone). */
  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.beat({ stoppedAt: new Date().toISOString() });
  }
}
