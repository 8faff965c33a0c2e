/**
 * The event envelope, causes and append requests, with their validation and the hash chain rule:
 * hash = sha256(prev + canonical JSON of every other field). The first event's prev is 64 zeros.
 */
import { z } from 'zod';
import { InvalidArgumentError } from '../common/errors.js';
import { canonicalJson, sha256Hex } from './canonical.js';
import { DATA_SCHEMAS, TOPICS, isTopic, subjectOf, type Topic } from './topics.js';

export const GENESIS_HASH = '0'.repeat(64);

/** The peer's kernel credentials (SO_PEERCRED) and process name; each absent when unknown. */
const peer = {
  pid: z.number().int().positive().optional(),
  uid: z.number().int().nonnegative().optional(),
  gid: z.number().int().nonnegative().optional(),
  comm: z.string().min(1).max(64).optional(),
};

/** Who asked (src/common/caller.ts): a CRI RPC's or an API request's caller. */
export const callerSchema = z.discriminatedUnion('via', [
  z.looseObject({ via: z.literal('cri'), rpc: z.string().min(1), ...peer }),
  z.looseObject({
    via: z.literal('api'),
    method: z.string().min(1),
    route: z.string().min(1),
    command: z.string().min(1).optional(),
    ...peer,
  }),
]);

const caller = callerSchema.optional();

const causeSchema = z.discriminatedUnion('kind', [
  z.looseObject({
    kind: z.literal('workflow'),
    workflowId: z.string().min(1),
    runId: z.string().min(1),
    step: z.string().min(1),
    caller,
  }),
  z.looseObject({ kind: z.literal('api'), call: z.string().min(1), caller }),
  z.looseObject({ kind: z.literal('reconciler'), reason: z.string().min(1), caller }),
]);

/**
 * Why an event happened: a workflow step (which workflow, which run, which step), a direct
 * API call (e.g. the CRI call name), or the restart reconciler (what it found); with the caller
 * of the request behind it (`caller`, absent when unknown: the exit monitor, a workflow started
 * before callers were recorded).
 */
export type Cause = z.infer<typeof causeSchema>;

/** One stored event. Immutable once appended; `seq` is gap-free per node from 1. */
export interface BerthEvent {
  seq: number;
  id: string;
  /** ISO-8601 UTC; non-decreasing along seq (the writer clamps clock steps backwards). */
  time: string;
  namespace: string;
  topic: Topic;
  /** The entity id the event is about (image name, digest, snapshot key, sandbox/container id). */
  subject: string;
  /** Topic-specific payload with a `v` version field, upcast to the current version on read. */
  data: Record<string, unknown>;
  cause: Cause;
  /** The idempotency key it was appended with, if any. */
  key?: string;
  prev: string;
  hash: string;
}

/** What a producer hands to `EventLog.append`; the log assigns seq, id, time, subject, prev and hash. */
export interface AppendRequest {
  namespace: string;
  topic: Topic | string;
  data: Record<string, unknown>;
  cause: Cause;
  /**
   * Idempotency key: a second append with the same key returns the first event and writes nothing.
   * Defaults to `<workflowId>/<step>` for workflow causes; give one explicitly when a step appends more than one event.
   */
  key?: string;
}

const namespaceSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,75}$/, 'must be 1-76 of [A-Za-z0-9._-], not starting with a symbol');

/** A request that passed validation, with data exactly as it will be stored. */
export interface ValidRequest {
  namespace: string;
  topic: Topic;
  subject: string;
  data: Record<string, unknown>;
  cause: Cause;
  key?: string;
}

/** Validates an append request; throws InvalidArgumentError naming the topic and the offending field. */
export function validateRequest(req: AppendRequest): ValidRequest {
  const topic = req?.topic;
  if (typeof topic !== 'string' || !isTopic(topic)) {
    throw new InvalidArgumentError(
      `event rejected: unknown topic ${JSON.stringify(topic)} (known: ${TOPICS.join(', ')})`,
    );
  }
  const ns = namespaceSchema.safeParse(req.namespace);
  if (!ns.success)
    throw new InvalidArgumentError(`event ${topic} rejected: field "namespace" ${describe(ns.error)}`);
  const cause = causeSchema.safeParse(req.cause);
  if (!cause.success)
    throw new InvalidArgumentError(
      `event ${topic} rejected: field "cause${path(cause.error)}" ${describe(cause.error)}`,
    );
  const data = DATA_SCHEMAS[topic].safeParse(req.data);
  if (!data.success)
    throw new InvalidArgumentError(
      `event ${topic} rejected: field "data${path(data.error)}" ${describe(data.error)}`,
    );
  try {
    canonicalJson(req.data);
  } catch (err) {
    throw new InvalidArgumentError(`event ${topic} rejected: field "data" ${(err as Error).message}`);
  }
  if (
    req.key !== undefined &&
    (typeof req.key !== 'string' || req.key.length === 0 || req.key.length > 512)
  ) {
    throw new InvalidArgumentError(
      `event ${topic} rejected: field "key" must be a string of 1-512 characters`,
    );
  }
  const c = cause.data;
  const key = req.key ?? (c.kind === 'workflow' ? `${c.workflowId}/${c.step}` : undefined);
  // Store the producer's data as given (loose schemas keep extra fields; nothing is coerced).
  return { namespace: ns.data, topic, subject: subjectOf(topic, req.data), data: req.data, cause: c, key };
}

function path(err: z.ZodError): string {
  const p = err.issues[0]?.path ?? [];
  return p.map((s) => (typeof s === 'number' ? `[${s}]` : `.${String(s)}`)).join('');
}

function describe(err: z.ZodError): string {
  return err.issues[0]?.message ?? 'is invalid';
}

/** The hash of an event: sha256(prev + canonical JSON of all fields but prev and hash). */
export function eventHash(e: Omit<BerthEvent, 'hash'>): string {
  const { prev, ...rest } = e;
  return sha256Hex(prev + canonicalJson(rest));
}

/** Canonical stored form of an event: the exact bytes kept in the log. */
export function encodeEvent(e: BerthEvent): string {
  return canonicalJson(e);
}
