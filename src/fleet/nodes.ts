/**
 * `berth fleet nodes`: per node, its health from the registry, its last event from its stream,
 * and how far its relay is behind its log as the node last reported.
 */
import type { NatsConnection } from 'nats';
import { errorMessage } from '../common/errors.js';
import type { BerthEvent } from '../events/model.js';
import { nodeHealth, type NodeHealth } from './registry.js';
import { streamOf, type FleetNode } from './streams.js';

export interface NodeStatus {
  node: string;
  /** From the registry; 'unknown' when the node has a stream but no record. */
  health: NodeHealth | 'unknown';
  stream?: string;
  /** Messages the events stream holds. */
  messages: number;
  lastEvent?: { seq: number; time: string; namespace: string; topic: string; subject: string };
  /** Why the stream's last message could not be read as an event (see `berth fleet audit`). */
  lastEventProblem?: string;
  /** Events the node had logged and NATS did not hold yet, as of its last heartbeat (never negative). */
  relayLag?: number;
  /** The node's last appended seq at its last heartbeat. */
  logSeq?: number;
  seenAt?: string;
  /** Seconds since the node's record was last written. */
  seenSecondsAgo?: number;
  host?: string;
  version?: string;
  startedAt?: string;
  stoppedAt?: string;
  /** Running workflows of the node in Temporal's visibility (with --temporal-address). */
  running?: number;
  runningError?: string;
}

/** The stream's last message, read as an event. */
async function lastEvent(
  nc: NatsConnection,
  stream: string,
  lastSeq: number,
): Promise<Pick<NodeStatus, 'lastEvent' | 'lastEventProblem'>> {
  try {
    const jsm = await nc.jetstreamManager();
    const m = await jsm.streams.getMessage(stream, { seq: lastSeq });
    const e = JSON.parse(new TextDecoder().decode(m.data)) as Partial<BerthEvent>;
    if (typeof e.seq !== 'number' || typeof e.time !== 'string' || typeof e.topic !== 'string')
      return { lastEventProblem: `stream message ${lastSeq} is not an event` };
    return {
      lastEvent: {
        seq: e.seq,
        time: e.time,
        namespace: String(e.namespace),
        topic: e.topic,
        subject: String(e.subject),
      },
    };
  } catch (err) {
    return { lastEventProblem: `stream message ${lastSeq}: ${errorMessage(err)}` };
  }
}

export async function nodeStatus(nc: NatsConnection, n: FleetNode, now = Date.now()): Promise<NodeStatus> {
  const r = n.record;
  const stream = streamOf(n);
  const state = n.stream?.state;
  const last = state && state.messages > 0 ? await lastEvent(nc, n.stream!.config.name, state.last_seq) : {};
  const published = last.lastEvent?.seq ?? 0;
  return {
    node: n.nodeId,
    health: r ? nodeHealth(r, now) : 'unknown',
    ...(stream ? { stream } : {}),
    messages: state?.messages ?? 0,
    ...last,
    ...(r
      ? {
          relayLag: Math.max(0, r.logSeq - published),
          logSeq: r.logSeq,
          seenAt: r.seenAt,
          seenSecondsAgo: Math.max(0, Math.round((now - Date.parse(r.seenAt)) / 1000)),
          host: r.host,
          version: r.version,
          startedAt: r.startedAt,
          ...(r.stoppedAt ? { stoppedAt: r.stoppedAt } : {}),
        }
      : {}),
  };
}

export async function nodeStatuses(nc: NatsConnection, nodes: FleetNode[]): Promise<NodeStatus[]> {
  const now = Date.now();
  return Promise.all(nodes.map((n) => nodeStatus(nc, n, now)));
}
