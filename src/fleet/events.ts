/**
 * `berth fleet events`: the events of many nodes' streams, merged. History comes out ordered by
 * event time, then node, then seq (a k-way merge: each node's events are already in time order,
 * its log never goes back in time). `follow` then prints each node's new events as they arrive.
 *
 * Each node is read by one ordered consumer, filtered on the server by subject where one filter
 * (or, on nats-server 2.10+, a list) can express the request; what it cannot express is filtered
 * here, so the subject filter only ever saves traffic. The consumer's pending count when it is
 * made tells where the history ends, even when nothing matches.
 */
import { DeliverPolicy, type ConsumerMessages, type JsMsg, type NatsConnection } from 'nats';
import { InvalidArgumentError, errorMessage } from '../common/errors.js';
import { decodeEvent } from '../events/log.js';
import type { BerthEvent } from '../events/model.js';
import { matches, parsePoint, parseTopics, type LogPoint } from '../events/query.js';
import { TOPICS, familyOf, type Topic } from '../events/topics.js';
import { eventStreams, type FleetNode } from './streams.js';

export interface FleetEventFilter {
  topics?: Topic[];
  namespace?: string;
  since?: Date;
  until?: Date;
}

export interface FleetEvent {
  node: string;
  streamSeq: number;
  event: BerthEvent;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since`/`--until`: an ISO-8601 time (as `berth events` takes it) or a duration back from now (`10m`). */
export function parseFleetTime(text: string, flag: string, now = Date.now()): Date {
  const d = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (d) return new Date(now - Number(d[1]) * UNIT_MS[d[2]!]!);
  let p: LogPoint;
  try {
    p = parsePoint(text, flag);
  } catch {
    throw new InvalidArgumentError(
      `${flag} ${JSON.stringify(text)} is neither an ISO-8601 time nor a duration such as 30s, 10m, 2h or 1d`,
    );
  }
  if ('seq' in p)
    throw new InvalidArgumentError(
      `${flag} ${text}: a seq counts one node's events only; give an ISO-8601 time or a duration such as 10m`,
    );
  return p.time;
}

/** `--topic`: topics, families (`/tasks`), and families written as `/tasks/*`. */
export function parseFleetTopics(list: readonly string[]): Topic[] {
  return parseTopics(list.flatMap((t) => t.split(',')).map((t) => (t.endsWith('/*') ? t.slice(0, -1) : t)));
}

export function matchesFleet(e: BerthEvent, f: FleetEventFilter): boolean {
  if (
    !matches(e, { ...(f.namespace !== undefined ? { namespace: f.namespace } : {}), topics: f.topics ?? [] })
  )
    return false;
  const t = Date.parse(e.time);
  return !(f.since && t < f.since.getTime()) && !(f.until && t > f.until.getTime());
}

/** The subjects that hold what `f` selects on a node's stream: a whole family as one wildcard. */
export function subjectFilters(nodeId: string, f: FleetEventFilter): string[] {
  const base = `berth.events.${nodeId}.${f.namespace === undefined ? '*' : f.namespace.replace(/\./g, '_')}`;
  if (!f.topics?.length) return [`${base}.>`];
  const byFamily = new Map<string, Set<Topic>>();
  for (const t of f.topics) byFamily.set(familyOf(t), (byFamily.get(familyOf(t)) ?? new Set()).add(t));
  const out: string[] = [];
  for (const [family, chosen] of byFamily) {
    const whole = TOPICS.filter((t) => familyOf(t) === family).every((t) => chosen.has(t));
    if (whole) out.push(`${base}.${family}.>`);
    else for (const t of chosen) out.push(`${base}${t.replace(/\//g, '.')}`);
  }
  return out;
}

/** True when the server takes several filter subjects on one consumer (nats-server 2.10+). */
function multiFilter(nc: NatsConnection): boolean {
  const m = /^(\d+)\.(\d+)/.exec(nc.info?.version ?? '');
  return !!m && (Number(m[1]) > 2 || (Number(m[1]) === 2 && Number(m[2]) >= 10));
}

function consumerFilter(nc: NatsConnection, nodeId: string, f: FleetEventFilter): string | string[] {
  const subjects = subjectFilters(nodeId, f);
  if (subjects.length === 1 || multiFilter(nc)) return subjects.length === 1 ? subjects[0]! : subjects;
  return subjectFilters(nodeId, { ...f, topics: [] })[0]!;
}

/** One node's stream, read by an ordered consumer; `backlog` messages were there when it opened. */
interface Reader {
  node: string;
  backlog: number;
  next(): Promise<JsMsg | undefined>;
  close(): Promise<void>;
}

async function openReader(
  nc: NatsConnection,
  node: string,
  stream: string,
  f: FleetEventFilter,
  start: 'new' | 'all' | Date,
): Promise<Reader> {
  const consumer = await nc.jetstream().consumers.get(stream, {
    filterSubjects: consumerFilter(nc, node, f),
    ...(start === 'new'
      ? { deliver_policy: DeliverPolicy.New }
      : start === 'all'
        ? {}
        : // The stream's time is the publish time, never before the event's: nothing asked for is skipped.
          { opt_start_time: start.toISOString() }),
  });
  // Made now (not at the first pull), so its pending count is the history's length.
  const { num_pending: backlog } = await consumer.info();
  let messages: ConsumerMessages | undefined;
  let iterator: AsyncIterator<JsMsg> | undefined;
  let closed = false;
  return {
    node,
    backlog,
    async next() {
      if (closed) return undefined;
      if (!iterator) {
        messages = await consumer.consume();
        iterator = messages[Symbol.asyncIterator]();
      }
      const r = await iterator.next();
      return r.done ? undefined : r.value;
    },
    async close() {
      closed = true;
      messages?.stop();
      await consumer.delete().catch(() => false);
    },
  };
}

/** A message as an event, or why it is not one (forged or damaged: `berth fleet audit` says more). */
function toEvent(node: string, m: JsMsg): FleetEvent | string {
  try {
    const event = decodeEvent(new TextDecoder().decode(m.data));
    if (typeof event.seq !== 'number' || typeof event.time !== 'string') return 'not an event';
    return { node, streamSeq: m.seq, event };
  } catch (err) {
    return `not an event (${errorMessage(err)})`;
  }
}

export interface FleetEventsOptions {
  /** The nodes to read; those without a stream yet are joined when it appears (follow). */
  nodes: FleetNode[];
  /** True when --node named them: then no other node is joined while following. */
  named: boolean;
  filter: FleetEventFilter;
  follow: boolean;
  signal?: AbortSignal;
  /** A message skipped (not an event) or a node's stream that could not be read. */
  onProblem?: (node: string, why: string) => void;
  /** While following, how often to look for new node streams (default 5 s). */
  discoverEveryMs?: number;
}

export async function* fleetEvents(nc: NatsConnection, o: FleetEventsOptions): AsyncGenerator<FleetEvent> {
  const problem = o.onProblem ?? (() => undefined);
  const readers = new Map<string, Reader>();
  const start = o.follow && !o.filter.since ? 'new' : (o.filter.since ?? 'all');
  try {
    for (const n of o.nodes)
      if (n.stream)
        readers.set(n.nodeId, await openReader(nc, n.nodeId, n.stream.config.name, o.filter, start));
    const history = [...readers.values()].map((r) => historyOf(r, o.filter, problem));
    yield* merge(history);
    if (o.follow) yield* live(nc, o, readers, problem);
  } finally {
    await Promise.all([...readers.values()].map((r) => r.close()));
  }
}

async function* historyOf(
  r: Reader,
  f: FleetEventFilter,
  problem: (node: string, why: string) => void,
): AsyncGenerator<FleetEvent> {
  for (let i = 0; i < r.backlog; i++) {
    const m = await r.next();
    if (!m) return;
    const e = toEvent(r.node, m);
    if (typeof e === 'string') {
      problem(r.node, `stream message ${m.seq} skipped: ${e}`);
      continue;
    }
    // Times never go back along a node's log: past --until, nothing later can match.
    if (f.until && Date.parse(e.event.time) > f.until.getTime()) return;
    if (matchesFleet(e.event, f)) yield e;
  }
}

function before(a: FleetEvent, b: FleetEvent): boolean {
  const ta = Date.parse(a.event.time);
  const tb = Date.parse(b.event.time);
  if (ta !== tb) return ta < tb;
  if (a.node !== b.node) return a.node < b.node;
  return a.event.seq < b.event.seq;
}

/** Merges sources each in order into one in order. */
async function* merge(sources: AsyncGenerator<FleetEvent>[]): AsyncGenerator<FleetEvent> {
  const heads = await Promise.all(sources.map((s) => s.next()));
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i]!;
      if (!h.done && (best < 0 || before(h.value, (heads[best] as IteratorYieldResult<FleetEvent>).value)))
        best = i;
    }
    if (best < 0) return;
    yield (heads[best] as IteratorYieldResult<FleetEvent>).value;
    heads[best] = await sources[best]!.next();
  }
}

/** Each node's new events as they arrive (one pump per node into one inbox), until the signal aborts. */
async function* live(
  nc: NatsConnection,
  o: FleetEventsOptions,
  readers: Map<string, Reader>,
  problem: (node: string, why: string) => void,
): AsyncGenerator<FleetEvent> {
  const inbox: FleetEvent[] = [];
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const pump = async (r: Reader) => {
    try {
      for (let m = await r.next(); m; m = await r.next()) {
        const e = toEvent(r.node, m);
        if (typeof e === 'string') problem(r.node, `stream message ${m.seq} skipped: ${e}`);
        else if (matchesFleet(e.event, { ...o.filter, since: undefined })) {
          inbox.push(e);
          poke();
        }
      }
    } catch (err) {
      if (!o.signal?.aborted) problem(r.node, `stopped following: ${errorMessage(err)}`);
    }
  };
  for (const r of readers.values()) void pump(r);
  let discovering = false;
  let stopped = false;
  const discover = async () => {
    if (discovering) return;
    discovering = true;
    try {
      for (const s of await eventStreams(nc)) {
        if (readers.has(s.nodeId) || (o.named && !o.nodes.some((n) => n.nodeId === s.nodeId))) continue;
        // A stream that appeared after we started: all of it is new.
        const r = await openReader(nc, s.nodeId, s.info.config.name, o.filter, 'all');
        if (stopped) {
          await r.close();
          return;
        }
        readers.set(s.nodeId, r);
        void pump(r);
      }
    } catch (err) {
      problem('*', `looking for new nodes failed: ${errorMessage(err)}`);
    } finally {
      discovering = false;
    }
  };
  const timer = setInterval(() => void discover(), o.discoverEveryMs ?? 5_000);
  o.signal?.addEventListener('abort', poke);
  try {
    while (!o.signal?.aborted) {
      const item = inbox.shift();
      if (item) {
        yield item;
        continue;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    stopped = true;
    clearInterval(timer);
    o.signal?.removeEventListener('abort', poke);
  }
}
