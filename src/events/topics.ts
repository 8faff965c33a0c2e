/**
 * Event topics (containerd's names) and the schema of each topic's `data`, versioned by its
 * `v` field. Data is validated at the edge (append) against the current version; events
 * stored under an older version are upcast on read, and the stored bytes never change.
 * Objects are loose: a producer may add fields, but the named ones must be right.
 */
import { z } from 'zod';

export const TOPICS = [
  '/namespaces/create',
  '/namespaces/delete',
  '/images/create',
  '/images/update',
  '/images/delete',
  '/content/create',
  '/content/delete',
  '/snapshot/prepare',
  '/snapshot/commit',
  '/snapshot/remove',
  '/sandboxes/create',
  '/sandboxes/start',
  '/sandboxes/stop',
  '/sandboxes/delete',
  '/containers/create',
  '/containers/update',
  '/containers/delete',
  '/tasks/create',
  '/tasks/start',
  '/tasks/exit',
  '/tasks/delete',
  '/tasks/oom',
  '/tasks/exec-added',
  '/tasks/exec-started',
  '/tasks/exec-exited',
  '/tasks/stop-requested',
  '/tasks/kill-requested',
  '/tasks/paused',
  '/tasks/resumed',
  '/tasks/checkpoint',
  '/network/attach',
  '/network/detach',
] as const;

export type Topic = (typeof TOPICS)[number];

export function isTopic(value: string): value is Topic {
  return (TOPICS as readonly string[]).includes(value);
}

const id = z.string().min(1);
const labels = z.record(z.string(), z.string()).optional();
/** A container's cgroup limits (ContainerResources in projections/state.ts). */
const resources = z
  .object({
    cpuShares: z.number().int().nonnegative().optional(),
    cpuQuota: z.number().int().min(-1).optional(),
    cpuPeriod: z.number().int().nonnegative().optional(),
    cpusetCpus: z.string().optional(),
    cpusetMems: z.string().optional(),
    memoryLimitBytes: z.number().int().nonnegative().optional(),
    memorySwapLimitBytes: z.number().int().min(-1).optional(),
    pidsLimit: z.number().int().min(-1).optional(),
  })
  .optional();
const digest = z.string().regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/, 'not a digest');
const time = z.iso.datetime({ offset: true });

const target = z.looseObject({
  digest,
  mediaType: z.string().min(1),
  size: z.number().int().nonnegative().optional(),
});
const imageV2 = z.looseObject({
  v: z.literal(2),
  name: id,
  target,
  labels,
  configDigest: digest.optional(),
  chainId: digest.optional(),
  size: z.number().int().nonnegative().optional(),
});
const nameOnly = z.looseObject({ v: z.literal(1), name: id });
const snapshotter = z.string().min(1);
const sandboxId = z.looseObject({ v: z.literal(1), id });
const containerRef = z.looseObject({ v: z.literal(1), containerId: id });
const pid = z.number().int().positive();

/** The current schema of each topic's data. */
export const DATA_SCHEMAS = {
  '/namespaces/create': z.looseObject({ v: z.literal(1), name: id, labels }),
  '/namespaces/delete': nameOnly,
  '/images/create': imageV2,
  '/images/update': imageV2,
  '/images/delete': nameOnly,
  '/content/create': z.looseObject({ v: z.literal(1), digest, size: z.number().int().nonnegative(), labels }),
  '/content/delete': z.looseObject({ v: z.literal(1), digest }),
  '/snapshot/prepare': z.looseObject({
    v: z.literal(1),
    key: id,
    parent: z.string().optional(),
    snapshotter,
  }),
  '/snapshot/commit': z.looseObject({ v: z.literal(1), key: id, name: id, snapshotter }),
  '/snapshot/remove': z.looseObject({ v: z.literal(1), key: id, snapshotter }),
  '/sandboxes/create': z.looseObject({ v: z.literal(1), id, name: z.string().optional(), labels }),
  '/sandboxes/start': sandboxId,
  '/sandboxes/stop': sandboxId,
  '/sandboxes/delete': sandboxId,
  '/containers/create': z.looseObject({
    v: z.literal(1),
    id,
    attempt: z.number().int().nonnegative().optional(),
    user: z
      .object({
        uid: z.number().int().nonnegative(),
        gid: z.number().int().nonnegative(),
        additionalGids: z.array(z.number().int().nonnegative()),
      })
      .optional(),
    stopSignal: z.string().optional(),
    /** Manifest digests of the images mounted as image volumes. */
    imageVolumes: z.array(z.string()).optional(),
    resources,
    image: id,
    sandboxId: z.string().optional(),
    runtime: z.string().optional(),
    snapshotKey: z.string().optional(),
    labels,
  }),
  '/containers/update': z.looseObject({
    v: z.literal(1),
    id,
    image: z.string().optional(),
    labels,
    resources,
  }),
  '/containers/delete': z.looseObject({ v: z.literal(1), id }),
  '/tasks/create': z.looseObject({ v: z.literal(1), containerId: id, pid: pid.optional() }),
  // pid: absent when unknown (a start or exit seen only after the fact), never a placeholder.
  '/tasks/start': z.looseObject({ v: z.literal(1), containerId: id, pid: pid.optional() }),
  '/tasks/exit': z.looseObject({
    v: z.literal(2),
    containerId: id,
    execId: z.string().optional(),
    pid: pid.optional(),
    exitCode: z.number().int(),
    exitedAt: time,
    oomKilled: z.boolean().optional(),
    /** The seq of the stop or kill request outstanding when the task exited: the request it answers. */
    request: z.number().int().positive().optional(),
    /** The signal Berth sent that the exit status says ended the task (status 128 + its number). */
    signal: z.string().min(1).optional(),
    /** Set when that signal was the SIGKILL sent as the request's grace period ran out. */
    afterGraceSeconds: z.number().nonnegative().optional(),
  }),
  '/tasks/delete': z.looseObject({ v: z.literal(1), containerId: id, exitCode: z.number().int().optional() }),
  '/tasks/oom': containerRef,
  /** A process was asked to run in the task (ExecSync, Exec, `berth exec`); `args` its command. */
  '/tasks/exec-added': z.looseObject({
    v: z.literal(1),
    containerId: id,
    execId: id,
    args: z.array(z.string()).optional(),
  }),
  '/tasks/exec-started': z.looseObject({ v: z.literal(1), containerId: id, execId: id, pid }),
  /**
   * An exec ended: its exit code (`timedOut`: killed at its timeout), or `error` when it could not
   * run. Its entry leaves the projection (kubelet's exec probes must not grow it).
   */
  '/tasks/exec-exited': z.looseObject({
    v: z.literal(1),
    containerId: id,
    execId: id,
    exitCode: z.number().int().optional(),
    timedOut: z.boolean().optional(),
    error: z.string().min(1).optional(),
  }),
  /** A stop was asked: `signal` first, SIGKILL after `timeoutSeconds` (0: SIGKILL at once). Before its effect. */
  '/tasks/stop-requested': z.looseObject({
    v: z.literal(1),
    containerId: id,
    signal: z.string().min(1),
    timeoutSeconds: z.number().nonnegative(),
  }),
  /**
   * A SIGKILL was asked without a grace period (`reason`: `remove`), or is sent because a stop's
   * grace period ran out (`afterGraceSeconds`, `request`: that stop's seq). Before its effect.
   */
  '/tasks/kill-requested': z.looseObject({
    v: z.literal(1),
    containerId: id,
    signal: z.string().min(1),
    reason: z.string().min(1).optional(),
    afterGraceSeconds: z.number().nonnegative().optional(),
    request: z.number().int().positive().optional(),
  }),
  '/tasks/paused': containerRef,
  '/tasks/resumed': containerRef,
  /** A checkpoint archive was written; the task kept running. */
  '/tasks/checkpoint': z.looseObject({
    v: z.literal(1),
    containerId: id,
    location: z.string().min(1),
    bytes: z.number().int().nonnegative(),
  }),
  '/network/attach': z.looseObject({
    v: z.literal(1),
    sandboxId: id,
    netns: z.string().optional(),
    ips: z.array(z.string()).optional(),
  }),
  '/network/detach': z.looseObject({ v: z.literal(1), sandboxId: id }),
} satisfies Record<Topic, z.ZodType>;

export type EventData<T extends Topic = Topic> = z.infer<(typeof DATA_SCHEMAS)[T]>;

/** The current `v` of each topic's data. */
export function currentVersion(topic: Topic): number {
  const shape = (DATA_SCHEMAS[topic] as z.ZodObject).shape as { v: z.ZodLiteral<number> };
  return shape.v.value;
}

type Upcaster = (data: Record<string, unknown>) => Record<string, unknown>;

/**
 * Upcasters keyed by topic then by the version they read: each turns version n into n+1.
 * Only pure field mapping here: an upcaster must not look anything up.
 */
const UPCASTERS: Partial<Record<Topic, Record<number, Upcaster>>> = {
  // v1 images carried a bare manifest digest; v2 names the target descriptor.
  '/images/create': { 1: imageV1ToV2 },
  '/images/update': { 1: imageV1ToV2 },
  // v1 exits called the code `exitStatus` and had no OOM flag.
  '/tasks/exit': {
    1: ({ exitStatus, ...rest }) => ({ ...rest, v: 2, exitCode: exitStatus, oomKilled: false }),
  },
};

function imageV1ToV2({ digest: d, mediaType, ...rest }: Record<string, unknown>): Record<string, unknown> {
  return {
    ...rest,
    v: 2,
    target: {
      digest: d,
      mediaType: typeof mediaType === 'string' ? mediaType : 'application/vnd.oci.image.manifest.v1+json',
    },
  };
}

/** Brings stored data to the topic's current version; data already current is returned as is. */
export function upcast(topic: Topic, data: Record<string, unknown>): Record<string, unknown> {
  const target = currentVersion(topic);
  let out = data;
  let v = typeof out.v === 'number' ? out.v : 1;
  while (v < target) {
    const step = UPCASTERS[topic]?.[v];
    if (!step) throw new Error(`no upcaster for ${topic} data v${v}`);
    out = step(out);
    v = out.v as number;
  }
  return out;
}

/** The entity an event is about, derived from its data so producers cannot get it wrong. */
export function subjectOf(topic: Topic, data: Record<string, unknown>): string {
  const field = SUBJECT_FIELD[topic.split('/')[1] as Family];
  return String(data[field]);
}

export type Family =
  'namespaces' | 'images' | 'content' | 'snapshot' | 'sandboxes' | 'containers' | 'tasks' | 'network';

const SUBJECT_FIELD: Record<Family, string> = {
  namespaces: 'name',
  images: 'name',
  content: 'digest',
  snapshot: 'key',
  sandboxes: 'id',
  containers: 'id',
  tasks: 'containerId',
  network: 'sandboxId',
};

export function familyOf(topic: Topic): Family {
  return topic.split('/')[1] as Family;
}
