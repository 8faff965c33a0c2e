/**
 * The node's metadata as folded from events. `applyEvent` is the fold: deterministic, no I/O,
 * no clock (times come from the events), so a rebuild from seq 0, a checkpoint plus its tail
 * and the live incremental state are always equal. It updates the state it is given in place
 * (a copy per event would make a million-event rebuild quadratic in allocation).
 * Records are keyed `<namespace>/<id>`; namespaces by name.
 */
import type { BerthEvent } from '../model.js';
import { applyTaskEvent, type TaskRecord } from './tasks.js';

export type { ExecRecord, TaskRecord, TaskRequest } from './tasks.js';

export interface Times {
  createdAt: string;
  updatedAt: string;
  /** The seq of the last event that changed this record. */
  lastSeq: number;
}

export interface NamespaceRecord extends Times {
  name: string;
  labels: Record<string, string>;
}

export interface ImageRecord extends Times {
  namespace: string;
  name: string;
  target: { digest: string; mediaType: string; size?: number };
  labels: Record<string, string>;
  /** The platform manifest's config blob (the image config: entrypoint, env, user, diff_ids). */
  configDigest?: string;
  /** The chain id of the top layer: the committed snapshot a container's rootfs is prepared on. */
  chainId?: string;
  /** Total compressed size of the platform manifest's layers plus config. */
  size?: number;
}

export interface ContentRecord extends Times {
  namespace: string;
  digest: string;
  size: number;
  labels: Record<string, string>;
}

export interface SnapshotRecord extends Times {
  namespace: string;
  /** The active key, or the committed name. */
  key: string;
  kind: 'active' | 'committed';
  parent?: string;
  snapshotter: string;
}

export interface SandboxRecord extends Times {
  namespace: string;
  id: string;
  name?: string;
  state: 'created' | 'ready' | 'notready';
  labels: Record<string, string>;
  network?: { netns?: string; ips: string[] };
  /** The pod's CRI metadata (namespace, name, uid, attempt), when the create event carried it. */
  metadata?: { namespace: string; name: string; uid: string; attempt: number };
  hostname?: string;
  runtimeHandler?: string;
}

export interface ContainerRecord extends Times {
  namespace: string;
  id: string;
  image: string;
  sandboxId?: string;
  runtime?: string;
  snapshotKey?: string;
  labels: Record<string, string>;
  /** The name it was created with (CRI metadata name, `berth run --name`). */
  name?: string;
  /** The CRI metadata attempt, when above 0: kubelet's restart count for this name. */
  attempt?: number;
  /** The process user the image and the request resolved to (absent in events before it was recorded). */
  user?: { uid: number; gid: number; additionalGids: number[] };
  /** The signal a stop sends first (absent in events before it was recorded). */
  stopSignal?: string;
  /** The cgroup limits in force: the create's, then each update's over them. */
  resources?: ContainerResources;
  /** Manifest digests of the images mounted as its image volumes. */
  imageVolumes?: string[];
  imageDigest?: string;
  logPath?: string;
  annotations?: Record<string, string>;
}

/** A container's CPU and memory limits as recorded (absent fields: none set). */
export interface ContainerResources {
  cpuShares?: number;
  /** Microseconds per period; -1 unlimited. */
  cpuQuota?: number;
  cpuPeriod?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  memoryLimitBytes?: number;
  memorySwapLimitBytes?: number;
  pidsLimit?: number;
}

/** Everything the projections hold, plus the seq they cover. */
export interface NodeState {
  seq: number;
  namespaces: Record<string, NamespaceRecord>;
  images: Record<string, ImageRecord>;
  content: Record<string, ContentRecord>;
  snapshots: Record<string, SnapshotRecord>;
  sandboxes: Record<string, SandboxRecord>;
  containers: Record<string, ContainerRecord>;
  tasks: Record<string, TaskRecord>;
}

export type EntityKind = Exclude<keyof NodeState, 'seq'>;
export const ENTITY_KINDS: readonly EntityKind[] = [
  'namespaces',
  'images',
  'content',
  'snapshots',
  'sandboxes',
  'containers',
  'tasks',
];

export function emptyState(): NodeState {
  return {
    seq: 0,
    namespaces: {},
    images: {},
    content: {},
    snapshots: {},
    sandboxes: {},
    containers: {},
    tasks: {},
  };
}

/** Folds events into `state` (in place) and returns it. */
export function foldEvents(events: Iterable<BerthEvent>, state: NodeState = emptyState()): NodeState {
  for (const e of events) applyEvent(state, e);
  return state;
}

type Data = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const labelsOf = (d: Data): Record<string, string> => ({
  ...((d.labels as Record<string, string> | undefined) ?? {}),
});
/** A container's recorded process user; validated at append (topics.ts). */
const userOf = (v: unknown): ContainerRecord['user'] => {
  const u = v as ContainerRecord['user'];
  return u && typeof u.uid === 'number' && typeof u.gid === 'number'
    ? { uid: u.uid, gid: u.gid, additionalGids: [...(u.additionalGids ?? [])] }
    : undefined;
};

const RESOURCE_NUMBERS = [
  'cpuShares',
  'cpuQuota',
  'cpuPeriod',
  'memoryLimitBytes',
  'memorySwapLimitBytes',
  'pidsLimit',
] as const;
/** The recordable part of a resource request (or of recorded event data): limits, no hugepages. */
export const containerResourcesOf = (v: unknown): ContainerResources => {
  const r = (v ?? {}) as Record<string, unknown>;
  const out: ContainerResources = {};
  for (const k of RESOURCE_NUMBERS) if (typeof r[k] === 'number') out[k] = r[k];
  if (typeof r.cpusetCpus === 'string') out.cpusetCpus = r.cpusetCpus;
  if (typeof r.cpusetMems === 'string') out.cpusetMems = r.cpusetMems;
  return out;
};

/** Applies one event to `state`. Events that name a missing entity change nothing but `seq`. */
export function applyEvent(state: NodeState, e: BerthEvent): NodeState {
  const d = e.data as Data;
  const ns = e.namespace;
  const k = `${ns}/${e.subject}`;
  const fresh = (): Times => ({ createdAt: e.time, updatedAt: e.time, lastSeq: e.seq });
  const touch = (r: Times | undefined): void => {
    if (r) {
      r.updatedAt = e.time;
      r.lastSeq = e.seq;
    }
  };
  switch (e.topic) {
    case '/namespaces/create':
      state.namespaces[e.subject] = { name: e.subject, labels: labelsOf(d), ...fresh() };
      break;
    case '/namespaces/delete':
      delete state.namespaces[e.subject];
      break;
    case '/images/create':
    case '/images/update': {
      const prior = state.images[k];
      state.images[k] = {
        namespace: ns,
        name: e.subject,
        target: { ...(d.target as ImageRecord['target']) },
        labels: labelsOf(d),
        ...(typeof d.configDigest === 'string' ? { configDigest: d.configDigest } : {}),
        ...(typeof d.chainId === 'string' ? { chainId: d.chainId } : {}),
        ...(num(d.size) === undefined ? {} : { size: num(d.size) }),
        ...fresh(),
        ...(prior && e.topic === '/images/update' ? { createdAt: prior.createdAt } : {}),
      };
      break;
    }
    case '/images/delete':
      delete state.images[k];
      break;
    case '/content/create':
      state.content[k] = {
        namespace: ns,
        digest: e.subject,
        size: num(d.size) ?? 0,
        labels: labelsOf(d),
        ...fresh(),
      };
      break;
    case '/content/delete':
      delete state.content[k];
      break;
    case '/snapshot/prepare':
      state.snapshots[k] = {
        namespace: ns,
        key: e.subject,
        kind: 'active',
        ...(str(d.parent) ? { parent: str(d.parent) } : {}),
        snapshotter: String(d.snapshotter),
        ...fresh(),
      };
      break;
    case '/snapshot/commit': {
      const active = state.snapshots[k];
      const name = String(d.name);
      delete state.snapshots[k];
      state.snapshots[`${ns}/${name}`] = {
        namespace: ns,
        key: name,
        kind: 'committed',
        ...(active?.parent ? { parent: active.parent } : {}),
        snapshotter: String(d.snapshotter),
        ...fresh(),
        ...(active ? { createdAt: active.createdAt } : {}),
      };
      break;
    }
    case '/snapshot/remove':
      delete state.snapshots[k];
      break;
    case '/sandboxes/create':
      state.sandboxes[k] = {
        namespace: ns,
        id: e.subject,
        ...(str(d.name) ? { name: str(d.name) } : {}),
        state: 'created',
        labels: labelsOf(d),
        ...(d.metadata && typeof d.metadata === 'object'
          ? { metadata: { ...(d.metadata as NonNullable<SandboxRecord['metadata']>) } }
          : {}),
        ...(str(d.hostname) ? { hostname: str(d.hostname) } : {}),
        ...(str(d.runtimeHandler) ? { runtimeHandler: str(d.runtimeHandler) } : {}),
        ...fresh(),
      };
      break;
    case '/sandboxes/start':
    case '/sandboxes/stop': {
      const sb = state.sandboxes[k];
      if (sb) sb.state = e.topic === '/sandboxes/start' ? 'ready' : 'notready';
      touch(sb);
      break;
    }
    case '/sandboxes/delete':
      delete state.sandboxes[k];
      break;
    case '/network/attach': {
      const sb = state.sandboxes[k];
      if (sb)
        sb.network = {
          ...(str(d.netns) ? { netns: str(d.netns) } : {}),
          ips: [...((d.ips as string[] | undefined) ?? [])],
        };
      touch(sb);
      break;
    }
    case '/network/detach': {
      const sb = state.sandboxes[k];
      if (sb) delete sb.network;
      touch(sb);
      break;
    }
    case '/containers/create':
      state.containers[k] = {
        namespace: ns,
        id: e.subject,
        image: String(d.image),
        ...(str(d.sandboxId) ? { sandboxId: str(d.sandboxId) } : {}),
        ...(str(d.runtime) ? { runtime: str(d.runtime) } : {}),
        ...(str(d.snapshotKey) ? { snapshotKey: str(d.snapshotKey) } : {}),
        labels: labelsOf(d),
        ...(str(d.name) ? { name: str(d.name) } : {}),
        ...(typeof d.attempt === 'number' && d.attempt > 0 ? { attempt: d.attempt } : {}),
        ...(d.user !== undefined && userOf(d.user) ? { user: userOf(d.user) } : {}),
        ...(str(d.stopSignal) ? { stopSignal: str(d.stopSignal) } : {}),
        ...(d.resources !== undefined ? { resources: containerResourcesOf(d.resources) } : {}),
        ...(Array.isArray(d.imageVolumes) ? { imageVolumes: d.imageVolumes.map(String) } : {}),
        ...(str(d.imageDigest) ? { imageDigest: str(d.imageDigest) } : {}),
        ...(str(d.logPath) ? { logPath: str(d.logPath) } : {}),
        ...(d.annotations !== undefined ? { annotations: labelsOf({ labels: d.annotations }) } : {}),
        ...fresh(),
      };
      break;
    case '/containers/update': {
      const c = state.containers[k];
      if (c) {
        if (str(d.image)) c.image = String(d.image);
        if (d.labels !== undefined) c.labels = labelsOf(d);
        if (d.resources !== undefined) c.resources = { ...c.resources, ...containerResourcesOf(d.resources) };
      }
      touch(c);
      break;
    }
    case '/containers/delete':
      delete state.containers[k];
      break;
    default:
      applyTaskEvent(state, e, k, fresh(), touch);
  }
  state.seq = e.seq;
  return state;
}
