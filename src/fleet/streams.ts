/**
 * Which nodes the fleet has, as NATS knows them: the union of the node registry's records and
 * the `BERTH_EVENTS_*` streams. A node may have a record and no stream (it never published) or
 * a stream and no record (it ran before the registry, or its record was deleted); both count.
 */
import { connect, type NatsConnection, type StreamInfo } from 'nats';
import { NotFoundError, UnavailableError, errorMessage } from '../common/errors.js';
import { listNodes, type NodeRecord } from './registry.js';
import { commaList } from '../common/nats-servers.js';

export const EVENTS_STREAM_PREFIX = 'BERTH_EVENTS_';

export interface FleetNode {
  nodeId: string;
  record?: NodeRecord;
  /** The node's events stream as listed when the fleet was read. */
  stream?: StreamInfo;
}

/** A comma list (`--nats-url a,b`, `--node x,y`), blanks dropped. */
export const splitList = commaList;

/**
 * Connects for reading. `follow` keeps reconnecting (a follow outlives a NATS restart); a
 * one-shot read fails at once, naming the servers, so the user can fix the address.
 */
export async function connectFleet(servers: string[], follow = false): Promise<NatsConnection> {
  try {
    return await connect({
      servers,
      name: 'berth-fleet',
      timeout: 5_000,
      ...(follow ? { maxReconnectAttempts: -1, reconnectTimeWait: 500 } : { maxReconnectAttempts: 0 }),
    });
  } catch (err) {
    throw new UnavailableError(
      `cannot reach NATS at ${servers.join(',')}: ${errorMessage(err)} (set it with --nats-url or BERTH_NATS_URL)`,
    );
  }
}

/** The node a stream belongs to: its subjects name it (`berth.events.<node>.>`); else its name. */
function nodeOfStream(info: StreamInfo): string {
  for (const subject of info.config.subjects ?? []) {
    const m = /^berth\.events\.([^.*>]+)\.>$/.exec(subject);
    if (m) return m[1]!;
  }
  return info.config.name.slice(EVENTS_STREAM_PREFIX.length);
}

/** Every node events stream on the cluster. */
export async function eventStreams(nc: NatsConnection): Promise<{ nodeId: string; info: StreamInfo }[]> {
  const jsm = await nc.jetstreamManager();
  const out: { nodeId: string; info: StreamInfo }[] = [];
  for await (const info of jsm.streams.list('berth.events.>')) {
    if (info.config.name.startsWith(EVENTS_STREAM_PREFIX)) out.push({ nodeId: nodeOfStream(info), info });
  }
  return out;
}

/** Every node: registry records and events streams, joined by node id, sorted by it. */
export async function fleetNodes(nc: NatsConnection): Promise<FleetNode[]> {
  const [records, streams] = await Promise.all([listNodes(nc), eventStreams(nc)]);
  const byId = new Map<string, FleetNode>();
  for (const record of records) byId.set(record.nodeId, { nodeId: record.nodeId, record });
  for (const s of streams) byId.set(s.nodeId, { ...byId.get(s.nodeId), nodeId: s.nodeId, stream: s.info });
  return [...byId.values()].sort((a, b) => a.nodeId.localeCompare(b.nodeId));
}

/** The nodes named by --node (all when none is); an unknown one is an error naming the known ones. */
export function selectNodes(all: FleetNode[], wanted: readonly string[] = []): FleetNode[] {
  const names = wanted.flatMap((w) => splitList(w));
  if (names.length === 0) return all;
  const unknown = names.filter((w) => !all.some((n) => n.nodeId === w));
  if (unknown.length > 0)
    throw new NotFoundError(
      `unknown node ${unknown.map((u) => JSON.stringify(u)).join(', ')}: ` +
        (all.length > 0
          ? `the fleet has ${all.map((n) => n.nodeId).join(', ')}`
          : `NATS holds no node (no ${EVENTS_STREAM_PREFIX}* stream, no node record)`),
    );
  return all.filter((n) => names.includes(n.nodeId));
}

/** The events stream a node publishes to (its record's, else the one found, else the default name). */
export function streamOf(n: FleetNode): string | undefined {
  return n.stream?.config.name ?? n.record?.eventsStream;
}
