/**
 * The event log's API: subscribe (GET /v1/events, NDJSON, optionally following), audit
 * queries and chain verification (with roots at given sizes for a witness), signed heads and
 * Merkle proofs, replay and its check, and explain.
 */
import { InvalidArgumentError } from '../../common/errors.js';
import { proveConsistency, proveInclusion, storedHeads } from '../../events/proofs.js';
import type { EventsService } from '../../events/service.js';
import { followEvents, parsePoint, parseTopics, queryEvents, type EventFilter } from '../../events/query.js';
import type { Route } from '../router.js';

function filterFrom(query: URLSearchParams): EventFilter {
  const f: EventFilter = {};
  const topics = query.getAll('topic');
  if (topics.length > 0) f.topics = parseTopics(topics);
  const entity = query.get('entity');
  if (entity) f.entity = entity;
  const ns = query.get('namespace');
  if (ns) f.namespace = ns;
  const cause = query.get('cause');
  if (cause) f.cause = cause;
  const since = query.get('since');
  if (since) f.since = parsePoint(since, 'since');
  const until = query.get('until');
  if (until) f.until = parsePoint(until, 'until');
  const limit = query.get('limit');
  if (limit) {
    if (!/^\d+$/.test(limit))
      throw new InvalidArgumentError(`limit ${JSON.stringify(limit)} is not a non-negative integer`);
    f.limit = Number(limit);
  }
  return f;
}

/** A required non-negative integer query parameter. */
function seqParam(query: URLSearchParams, name: string): number {
  const text = query.get(name);
  if (text === null) throw new InvalidArgumentError(`${name}=<seq> is required`);
  if (!/^\d{1,15}$/.test(text))
    throw new InvalidArgumentError(`${name} ${JSON.stringify(text)} is not a seq`);
  return Number(text);
}

/** The body of POST /v1/audit/verify: tree sizes to report the recomputed Merkle root at. */
function rootsAtFrom(body: unknown): number[] {
  const rootsAt = (body as { rootsAt?: unknown } | undefined)?.rootsAt ?? [];
  if (
    !Array.isArray(rootsAt) ||
    rootsAt.length > 1_000_000 ||
    !rootsAt.every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)
  )
    throw new InvalidArgumentError('"rootsAt" must be an array of non-negative integer tree sizes');
  return rootsAt as number[];
}

export function eventRoutes(service: EventsService): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/events',
      handler: async (req) => {
        const filter = filterFrom(req.query);
        const follow = req.query.get('follow') === 'true';
        return {
          stream: follow ? followEvents(service.log, filter, req.signal) : queryEvents(service.log, filter),
        };
      },
    },
    {
      method: 'GET',
      path: '/v1/audit',
      handler: async (req) => ({ stream: queryEvents(service.log, filterFrom(req.query)) }),
    },
    { method: 'GET', path: '/v1/audit/verify', handler: () => service.log.verify() },
    { method: 'POST', path: '/v1/audit/verify', handler: (req) => service.log.verify(rootsAtFrom(req.body)) },
    {
      method: 'GET',
      path: '/v1/audit/heads',
      handler: async () => ({
        node: service.nodeId,
        key: service.signer.publicKey,
        heads: await storedHeads(service.log),
      }),
    },
    {
      method: 'GET',
      path: '/v1/audit/prove',
      handler: (req) => proveInclusion(service.log, seqParam(req.query, 'seq')),
    },
    {
      method: 'GET',
      path: '/v1/audit/consistency',
      handler: (req) => proveConsistency(service.log, seqParam(req.query, 'old'), seqParam(req.query, 'new')),
    },
    {
      method: 'GET',
      path: '/v1/replay',
      handler: async (req) => {
        const at = req.query.get('at');
        if (!at) throw new InvalidArgumentError('replay needs at=<seq|time>');
        const point = parsePoint(at, 'at');
        return service.projections.replayAt(point);
      },
    },
    { method: 'GET', path: '/v1/replay/check', handler: () => service.projections.check() },
    {
      method: 'GET',
      path: '/v1/explain/:entity',
      handler: (req) =>
        service.projections.explain(req.params.entity ?? '', req.query.get('namespace') ?? undefined),
    },
  ];
}
