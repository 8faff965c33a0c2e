/**
 * An in-memory CriBackend for testing the gateway's own logic (validation, conversion, error
 * mapping, streaming) through a real gRPC client. It keeps sandboxes, containers and images
 * in maps, records every call, and lets a test replace any method to make it fail.
 * Nothing here runs a container: the real backend is the daemon's.
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, NotFoundError } from '../../src/common/errors.js';
import type { CallContext, CriBackend } from '../../src/cri/backend.js';
import type {
  ContainerDetails,
  ContainerFilter,
  ContainerSpec,
  ContainerSummary,
  ExecStreamRequest,
} from '../../src/cri/types/container.js';
import type { ImageRecord, ImageSpec, ImageStatusResult, PullAuth } from '../../src/cri/types/image.js';
import type { ContainerEvent, RuntimeStatus } from '../../src/cri/types/runtime.js';
import type { PodSandboxDetails, PodSandboxFilter, PodSandboxSpec } from '../../src/cri/types/sandbox.js';
import type { ContainerStats } from '../../src/cri/types/stats.js';

export interface RecordedCall {
  method: string;
  args: unknown[];
}

const now = (): bigint => BigInt(Date.now()) * 1_000_000n;
const newId = (): string => randomBytes(32).toString('hex');

function resolve<T>(kind: string, map: Map<string, T>, idOrPrefix: string): [string, T] {
  const matches = [...map.entries()].filter(([id]) => id.startsWith(idOrPrefix));
  if (matches.length === 0) throw new NotFoundError(`${kind} ${idOrPrefix} not found`);
  if (matches.length > 1) throw new InvalidArgumentError(`${kind} id prefix ${idOrPrefix} is ambiguous`);
  return matches[0]!;
}

function labelsMatch(labels: Record<string, string>, selector: Record<string, string> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

/** A queue per GetContainerEvents subscriber. */
class Subscription {
  private readonly queue: ContainerEvent[] = [];
  private wake: (() => void) | undefined;
  push(event: ContainerEvent): void {
    this.queue.push(event);
    this.wake?.();
  }
  async *drain(signal: AbortSignal): AsyncGenerator<ContainerEvent> {
    const onAbort = () => this.wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      while (!signal.aborted) {
        const next = this.queue.shift();
        if (next) {
          yield next;
          continue;
        }
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}

export class FakeBackend implements CriBackend {
  readonly calls: RecordedCall[] = [];
  readonly sandboxes = new Map<string, PodSandboxDetails & { spec: PodSandboxSpec }>();
  readonly containers = new Map<string, ContainerDetails>();
  readonly images = new Map<string, ImageRecord>();
  podCidr = '';
  runtimeStatus: RuntimeStatus = {
    conditions: [
      { type: 'RuntimeReady', status: true, reason: '', message: '' },
      { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: 'no CNI config yet' },
    ],
    handlers: [{ name: 'runc', recursiveReadOnlyMounts: true, userNamespaces: false }],
    features: { supplementalGroupsPolicy: true, userNamespacesHostNetwork: false },
    info: { config: '{"root":"/tmp/fake"}', note: 'fake backend' },
  };
  private readonly subscribers = new Set<Subscription>();
  private readonly subscriberWaiters: (() => void)[] = [];

  private record(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
  }

  callsTo(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Replaces one method, e.g. to make it throw a typed error. */
  override<K extends keyof CriBackend>(method: K, impl: NonNullable<CriBackend[K]>): void {
    (this as unknown as Record<string, unknown>)[method] = impl;
  }

  /** Resolves once `count` GetContainerEvents subscriptions are open. */
  async waitForSubscribers(count: number): Promise<void> {
    while (this.subscribers.size < count) await new Promise<void>((r) => this.subscriberWaiters.push(r));
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  emit(event: ContainerEvent): void {
    for (const s of this.subscribers) s.push(event);
  }

  async status(verbose: boolean): Promise<RuntimeStatus> {
    this.record('status', verbose);
    return structuredClone(this.runtimeStatus);
  }

  async cgroupDriver(): Promise<'cgroupfs'> {
    return 'cgroupfs';
  }

  async updateRuntimeConfig(config: { podCidr: string }): Promise<void> {
    this.record('updateRuntimeConfig', config);
    this.podCidr = config.podCidr;
  }

  async runPodSandbox(spec: PodSandboxSpec): Promise<string> {
    this.record('runPodSandbox', spec);
    const id = newId();
    this.sandboxes.set(id, {
      id,
      spec,
      metadata: spec.metadata,
      state: 'ready',
      createdAt: now(),
      labels: spec.labels,
      annotations: spec.annotations,
      runtimeHandler: spec.runtimeHandler,
      network: { ip: '10.88.0.2', additionalIps: [] },
      namespaces: spec.linux.securityContext.namespaces,
    });
    return id;
  }

  async stopPodSandbox(id: string): Promise<void> {
    this.record('stopPodSandbox', id);
    const [, sandbox] = resolve('sandbox', this.sandboxes, id);
    sandbox.state = 'notready';
  }

  async removePodSandbox(id: string): Promise<void> {
    this.record('removePodSandbox', id);
    const [full] = resolve('sandbox', this.sandboxes, id);
    this.sandboxes.delete(full);
    for (const [cid, c] of this.containers) if (c.podSandboxId === full) this.containers.delete(cid);
  }

  async podSandboxStatus(id: string, verbose: boolean) {
    this.record('podSandboxStatus', id, verbose);
    const [full, sandbox] = resolve('sandbox', this.sandboxes, id);
    const { spec: _spec, ...status } = sandbox;
    const containers = [...this.containers.values()].filter((c) => c.podSandboxId === full);
    return { status, info: { info: '{"pid":0}' }, containers };
  }

  async listPodSandboxes(filter: PodSandboxFilter) {
    this.record('listPodSandboxes', filter);
    return [...this.sandboxes.values()]
      .filter((s) => !filter.id || s.id.startsWith(filter.id))
      .filter((s) => !filter.state || s.state === filter.state)
      .filter((s) => labelsMatch(s.labels, filter.labelSelector))
      .map(({ spec: _spec, network: _n, namespaces: _ns, ...summary }) => summary);
  }

  async createContainer(podSandboxId: string, spec: ContainerSpec, sandbox: PodSandboxSpec | undefined) {
    this.record('createContainer', podSandboxId, spec, sandbox);
    const [podId] = resolve('sandbox', this.sandboxes, podSandboxId);
    const id = newId();
    this.containers.set(id, {
      id,
      podSandboxId: podId,
      metadata: spec.metadata,
      image: spec.image,
      imageRef: `sha256:${'ab'.repeat(32)}`,
      imageId: `sha256:${'ab'.repeat(32)}`,
      state: 'created',
      createdAt: now(),
      startedAt: 0n,
      finishedAt: 0n,
      exitCode: 0,
      reason: '',
      message: '',
      labels: spec.labels,
      annotations: spec.annotations,
      mounts: spec.mounts,
      logPath: spec.logPath,
      stopSignal: spec.stopSignal,
    });
    return id;
  }

  async startContainer(id: string): Promise<void> {
    this.record('startContainer', id);
    const [, c] = resolve('container', this.containers, id);
    c.state = 'running';
    c.startedAt = now();
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    this.record('stopContainer', id, timeoutSeconds);
    const [, c] = resolve('container', this.containers, id);
    if (c.state === 'running') Object.assign(c, { state: 'exited', finishedAt: now(), reason: 'Completed' });
  }

  async removeContainer(id: string): Promise<void> {
    this.record('removeContainer', id);
    const [full] = resolve('container', this.containers, id);
    this.containers.delete(full);
  }

  async listContainers(filter: ContainerFilter): Promise<ContainerSummary[]> {
    this.record('listContainers', filter);
    return [...this.containers.values()]
      .filter((c) => !filter.id || c.id.startsWith(filter.id))
      .filter((c) => !filter.state || c.state === filter.state)
      .filter((c) => !filter.podSandboxId || c.podSandboxId.startsWith(filter.podSandboxId))
      .filter((c) => labelsMatch(c.labels, filter.labelSelector));
  }

  async containerStatus(id: string, verbose: boolean) {
    this.record('containerStatus', id, verbose);
    const [, status] = resolve('container', this.containers, id);
    return { status, info: { info: '{"pid":42}' } };
  }

  async updateContainerResources(id: string, update: unknown): Promise<void> {
    this.record('updateContainerResources', id, update);
    resolve('container', this.containers, id);
  }

  async reopenContainerLog(id: string): Promise<void> {
    this.record('reopenContainerLog', id);
    resolve('container', this.containers, id);
  }

  async execSync(id: string, cmd: string[], timeoutSeconds: number) {
    this.record('execSync', id, cmd, timeoutSeconds);
    resolve('container', this.containers, id);
    return { stdout: Buffer.from(cmd.join(' ')), stderr: Buffer.from('err'), exitCode: 3 };
  }

  async exec(request: ExecStreamRequest): Promise<string> {
    this.record('exec', request);
    resolve('container', this.containers, request.containerId);
    return 'http://127.0.0.1:10010/exec/token1';
  }

  async attach(request: unknown): Promise<string> {
    this.record('attach', request);
    return 'http://127.0.0.1:10010/attach/token2';
  }

  async portForward(id: string, ports: number[]): Promise<string> {
    this.record('portForward', id, ports);
    resolve('sandbox', this.sandboxes, id);
    return 'http://127.0.0.1:10010/portforward/token3';
  }

  async containerStats(id: string): Promise<ContainerStats> {
    this.record('containerStats', id);
    const [, c] = resolve('container', this.containers, id);
    return this.statsOf(c);
  }

  async listContainerStats(): Promise<ContainerStats[]> {
    return [...this.containers.values()].filter((c) => c.state === 'running').map((c) => this.statsOf(c));
  }

  async podSandboxStats(id: string) {
    const [full, s] = resolve('sandbox', this.sandboxes, id);
    return {
      attributes: { id: full, metadata: s.metadata, labels: s.labels, annotations: s.annotations },
      cpu: { timestamp: now(), usageCoreNanoSeconds: 1000 },
      memory: { timestamp: now(), workingSetBytes: 4096 },
      containers: [...this.containers.values()]
        .filter((c) => c.podSandboxId === full)
        .map((c) => this.statsOf(c)),
    };
  }

  async listPodSandboxStats() {
    return Promise.all([...this.sandboxes.keys()].map((id) => this.podSandboxStats(id)));
  }

  private statsOf(c: ContainerDetails): ContainerStats {
    return {
      attributes: { id: c.id, metadata: c.metadata, labels: c.labels, annotations: c.annotations },
      cpu: { timestamp: now(), usageCoreNanoSeconds: 5_000_000, usageNanoCores: 1000 },
      memory: { timestamp: now(), workingSetBytes: 1 << 20 },
      writableLayer: {
        timestamp: now(),
        mountpoint: '/var/lib/berth/snapshots',
        usedBytes: 8192,
        inodesUsed: 3,
      },
    };
  }

  containerEvents(ctx: CallContext): AsyncIterable<ContainerEvent> {
    const subscription = new Subscription();
    this.subscribers.add(subscription);
    for (const wake of this.subscriberWaiters.splice(0)) wake();
    const subscribers = this.subscribers;
    return (async function* () {
      try {
        yield* subscription.drain(ctx.signal);
      } finally {
        subscribers.delete(subscription);
      }
    })();
  }

  async listImages(filter: ImageSpec | undefined): Promise<ImageRecord[]> {
    this.record('listImages', filter);
    const all = [...this.images.values()];
    return filter ? all.filter((i) => i.id === filter.image || i.repoTags.includes(filter.image)) : all;
  }

  async imageStatus(image: ImageSpec, verbose: boolean): Promise<ImageStatusResult> {
    this.record('imageStatus', image, verbose);
    const found = [...this.images.values()].find(
      (i) => i.id === image.image || i.repoTags.includes(image.image),
    );
    return found ? { image: found, info: { info: '{"chainID":"x"}' } } : { info: {} };
  }

  async pullImage(image: ImageSpec, auth: PullAuth | undefined, sandbox: PodSandboxSpec | undefined) {
    this.record('pullImage', image, auth, sandbox);
    const id = `sha256:${randomBytes(32).toString('hex')}`;
    const tag = image.image.includes(':') ? image.image : `${image.image}:latest`;
    this.images.set(id, { id, repoTags: [tag], repoDigests: [], size: 1234567, username: '', pinned: false });
    return id;
  }

  async removeImage(image: ImageSpec): Promise<void> {
    this.record('removeImage', image);
    const found = [...this.images.values()].find(
      (i) => i.id === image.image || i.repoTags.includes(image.image),
    );
    if (!found) throw new NotFoundError(`image ${image.image} not found`);
    this.images.delete(found.id);
  }

  async imageFsInfo() {
    return {
      imageFilesystems: [
        { timestamp: now(), mountpoint: '/var/lib/berth/content', usedBytes: 1000, inodesUsed: 10 },
      ],
      containerFilesystems: [],
    };
  }
}
