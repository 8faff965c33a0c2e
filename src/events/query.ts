/**
 * Audit queries and follow streams over the log. A point in the log is a seq (digits) or an
 * ISO-8601 time; filters combine with AND. Reads pick the cheapest index (subject, then a
 * single topic, then the seq range) and filter the rest in memory.
 */
import { InvalidArgumentError } from '../common/errors.js';
import type { EventLog } from './log.js';
import type { BerthEvent } from './model.js';
import { parseEntity } from './projections/explain.js';
import { TOPICS, familyOf, isTopic, type Topic } from './topics.js';

/** A seq or a time. */
export type LogPoint = { seq: number } | { time: Date };

/** Parses `123` as a seq and anything else as a time; throws naming the flag on nonsense. */
export function parsePoint(text: string, what = 'point'): LogPoint {
  if (/^\d+$/.test(text)) return { seq: Number(text) };
  const t = new Date(text);
  if (Number.isNaN(t.getTime()))
    throw new InvalidArgumentError(`${what} ${JSON.stringify(text)} is neither a seq nor an ISO-8601 time`);
  return { time: t };
}

export function parseTopics(list: string[]): Topic[] {
  const out: Topic[] = [];
  for (const item of list.flatMap((t) => t.split(',')).filter(Boolean)) {
    if (isTopic(item)) out.push(item);
    else {
      // A family prefix such as /tasks selects all its topics.
      const family = TOPICS.filter((t) => t.startsWith(item.endsWith('/') ? item : `${item}/`));
      if (family.length === 0)
        throw new InvalidArgumentError(`unknown topic ${JSON.stringify(item)} (known: ${TOPICS.join(', ')})`);
      out.push(...family);
    }
  }
  return out;
}

/** What to select from the log. Every field is optional. */
export interface EventFilter {
  /** `<kind>:<id>` or a bare subject id. */
  entity?: string;
  topics?: Topic[];
  namespace?: string;
  /** Matches a cause kind (`workflow`, `api`, `reconciler`), a workflow id, a run id, an API call or a reconciler reason. */
  cause?: string;
  since?: LogPoint;
  until?: LogPoint;
  limit?: number;
}

async function toSeq(
  log: EventLog,
  p: LogPoint | undefined,
  end: 'from' | 'to',
): Promise<number | undefined> {
  if (p === undefined) return undefined;
  if ('seq' in p) return p.seq;
  if (end === 'to') return log.seqAtTime(p.time);
  // `since` a time: the first event at or after it, just after the last one before it. (Not the
  // last one at it: several events often share a millisecond, and times never go back in the log.)
  return (await log.seqAtTime(new Date(p.time.getTime() - 1))) + 1;
}

export function matches(e: BerthEvent, f: EventFilter, entity = parseEntity(f.entity)): boolean {
  if (f.namespace !== undefined && e.namespace !== f.namespace) return false;
  if (f.topics && f.topics.length > 0 && !f.topics.includes(e.topic)) return false;
  if (
    entity &&
    (e.subject !== entity.id || (entity.families && !entity.families.includes(familyOf(e.topic))))
  )
    return false;
  if (f.cause !== undefined) {
    const c = e.cause as Record<string, unknown>;
    if (![c.kind, c.workflowId, c.runId, c.call, c.reason].includes(f.cause)) return false;
  }
  return true;
}

/** Events matching `filter`, in seq order. */
export async function* queryEvents(log: EventLog, filter: EventFilter): AsyncGenerator<BerthEvent> {
  const from = await toSeq(log, filter.since, 'from');
  const to = await toSeq(log, filter.until, 'to');
  const range = { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) };
  const entity = parseEntity(filter.entity);
  const source = entity
    ? log.readBySubject(entity.id, range)
    : filter.topics?.length === 1
      ? log.readByTopic(filter.topics[0]!, range)
      : log.read(range);
  let n = 0;
  for await (const e of source) {
    if (!matches(e, filter, entity)) continue;
    yield e;
    if (filter.limit !== undefined && ++n >= filter.limit) return;
  }
}

/**
 * Matching events from `filter.since` (default: only new ones), then each new matching event
 * as it is appended, until `signal` aborts. No event is skipped or repeated across the switch.
 */
export async function* followEvents(
  log: EventLog,
  filter: EventFilter,
  signal: AbortSignal,
): AsyncGenerator<BerthEvent> {
  let next = (await toSeq(log, filter.since, 'from')) ?? log.lastSeq + 1;
  let wake: (() => void) | undefined;
  const unsubscribe = log.onAppend(() => wake?.());
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort);
  const entity = parseEntity(filter.entity);
  try {
    while (!signal.aborted) {
      const waiting = new Promise<void>((r) => (wake = r));
      if (next <= log.lastSeq) {
        for await (const e of log.read({ from: next, limit: 1024 })) {
          next = e.seq + 1;
          if (matches(e, filter, entity)) yield e;
          if (signal.aborted) return;
        }
        continue;
      }
      await waiting;
    }
  } finally {
    unsubscribe();
    signal.removeEventListener('abort', onAbort);
  }
}
