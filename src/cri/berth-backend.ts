/**
 * BerthCriBackend: the CriBackend berthd serves on its CRI socket. Mutating calls go through
 * the daemon's services, which start or join the transition's workflow (ids from the request's
 * identity: pod namespace/uid/attempt, sandbox + container name + attempt, image reference), so
 * a kubelet retry joins the run in flight. Reads answer from the event projections. Exec,
 * Attach and PortForward return URLs of the streaming server.
 */
import { FailedPreconditionError, errorMessage } from '../common/errors.js';
import type { ContainerStatus } from '../daemon/containers.js';
import type { SandboxView } from '../daemon/sandboxes.js';
import type { CallContext, CriBackend } from './backend.js';
import {
  containerDetailsOf,
  containerSummaryOf,
  createRequestOf,
  logReopened,
  resourceRequestOf,
} from './berth/containers.js';
import { CRI_NAMESPACE, nowNanos, type BerthCriDeps } from './berth/deps.js';
import { containerEventFeed, type PodView } from './berth/events.js';
import { CriImages } from './berth/images.js';
import { sandboxConfigOf, sandboxDetailsOf, sandboxSummaryOf } from './berth/sandboxes.js';
import { containerStatsOf, podStatsOf, statsOfEach } from './berth/stats.js';
import type {
  AttachStreamRequest,
  ContainerDetails,
  ContainerFilter,
  ContainerSpec,
  ContainerStatusResult,
  ContainerSummary,
  ExecStreamRequest,
  ExecSyncResult,
  LinuxResources,
} from './types/container.js';
import type {
  ImageFsInfoResult,
  ImageRecord,
  ImageSpec,
  ImageStatusResult,
  PullAuth,
} from './types/image.js';
import type { CgroupDriver, ContainerEvent, RuntimeCondition, RuntimeStatus } from './types/runtime.js';
import type {
  PodSandboxDetails,
  PodSandboxFilter,
  PodSandboxSpec,
  PodSandboxStatusResult,
  PodSandboxSummary,
} from './types/sandbox.js';
import type {
  ContainerStats,
  ContainerStatsFilter,
  PodSandboxStats,
  PodSandboxStatsFilter,
} from './types/stats.js';

function labelsMatch(labels: Record<string, string>, selector: Record<string, string> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

export class BerthCriBackend implements CriBackend, PodView {
  private readonly images: CriImages;

  constructor(private readonly deps: BerthCriDeps) {
    this.images = new CriImages(deps);
  }

  // ---- runtime ---------------------------------------------------------------------

  async status(verbose: boolean): Promise<RuntimeStatus> {
    const node = this.deps.node();
    const runtime: RuntimeCondition = await node.handlers
      .get(undefined)
      .ensureUsable()
      .then(
        () => ({ type: 'RuntimeReady', status: true, reason: '', message: '' }),
        (err: unknown) => ({
          type: 'RuntimeReady',
          status: false,
          reason: 'RuntimeNotUsable',
          message: errorMessage(err),
        }),
      );
    const network: RuntimeCondition = await node.network.network().then(
      () => ({ type: 'NetworkReady', status: true, reason: '', message: '' }),
      (err: unknown) => ({
        type: 'NetworkReady',
        status: false,
        reason: 'NetworkPluginNotReady',
        message: `no usable CNI network: ${errorMessage(err)}`,
      }),
    );
    // "" is the default handler (a pod without a RuntimeClass): kubelet looks its features up by
    // that name before it runs a pod with hostUsers: false, as it does with containerd's list.
    const handlers = await Promise.all(
      ['', ...this.deps.runtimeHandlers]
        .flatMap((name) => {
          try {
            return [{ name, handler: node.handlers.get(name) }];
          } catch {
            return [];
          }
        })
        .map(async ({ name, handler }) => ({
          name,
          recursiveReadOnlyMounts: false,
          userNamespaces: await handler.userNamespaces(),
        })),
    );
    const info: Record<string, string> = verbose
      ? {
          config: JSON.stringify({
            root: node.config.root,
            state: node.config.state,
            cgroupDriver: 'cgroupfs',
            defaultRuntimeHandler: node.handlers.defaultName,
            streamingServer: this.deps.streaming.baseUrl,
            cniConfDir: node.network.confDir,
          }),
        }
      : {};
    return {
      conditions: [runtime, network],
      handlers,
      features: { supplementalGroupsPolicy: true, userNamespacesHostNetwork: false },
      info,
    };
  }

  async cgroupDriver(): Promise<CgroupDriver> {
    // No systemd on Berth's nodes: cgroupfs is the only driver (see machine notes).
    return 'cgroupfs';
  }

  async updateRuntimeConfig(): Promise<void> {
    // The pod CIDR lives in the CNI configuration, which Berth reads from its files.
  }

  // ---- sandboxes -------------------------------------------------------------------

  async runPodSandbox(spec: PodSandboxSpec): Promise<string> {
    const config = sandboxConfigOf(spec);
    const view = await this.deps.sandboxes.run(config, {
      namespace: CRI_NAMESPACE,
      ...(spec.runtimeHandler ? { runtimeHandler: spec.runtimeHandler } : {}),
    });
    return view.id;
  }

  async stopPodSandbox(id: string): Promise<void> {
    const sandbox = await this.deps.sandboxes.get(id);
    // CRI: stopping a pod kills its containers and releases its network, all at once (CNI DEL
    // needs nothing from the kills and takes longer); it fails if any part did, once all settled.
    const live = this.podContainers(sandbox.id).filter((c) => c.state === 'running' || c.state === 'paused');
    const outcomes = await Promise.allSettled([
      ...live.map((c) => this.deps.containers.stop(c.id, 0)),
      this.deps.sandboxes.stop(sandbox.id),
    ]);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async removePodSandbox(id: string): Promise<void> {
    const sandbox = await this.deps.sandboxes.get(id);
    // Containers still alive need a kill and a wait first; exited ones go with the sandbox.
    const live = this.podContainers(sandbox.id).filter((c) => c.state !== 'exited');
    await Promise.all(live.map((c) => this.deps.containers.remove(c.id, { force: true })));
    await this.deps.sandboxes.remove(sandbox.id);
  }

  async podSandboxStatus(id: string, verbose: boolean): Promise<PodSandboxStatusResult> {
    // Stamped before anything is read: whatever the reads see is at least as new as this.
    const readAtMs = this.deps.node().events.log.visibleBeforeMs();
    // The live CNI CHECK (a run of the plugin chain, about 35 ms here) only for the verbose info
    // that shows it: kubelet asks without verbose on every pod sync and PLEG relist.
    const checked = verbose ? await this.deps.sandboxes.status(id) : undefined;
    const view = checked ?? (await this.deps.sandboxes.get(id));
    const info: Record<string, string> = checked
      ? {
          info: JSON.stringify({
            netns: checked.netns ?? '',
            ips: checked.ips,
            cgroupParent: checked.cgroupParent ?? '',
            namespaces: checked.namespaces,
            network: checked.networkCheck,
            config: checked.config ?? {},
          }),
        }
      : {};
    return { status: sandboxDetailsOf(view), info, containers: this.containerDetails(view.id), readAtMs };
  }

  async listPodSandboxes(filter: PodSandboxFilter): Promise<PodSandboxSummary[]> {
    const views = await this.deps.sandboxes.list({
      namespace: CRI_NAMESPACE,
      ...(filter.id ? { id: filter.id } : {}),
      ...(filter.labelSelector ? { labels: filter.labelSelector } : {}),
    });
    return views.map(sandboxSummaryOf).filter((s) => !filter.state || s.state === filter.state);
  }

  // ---- containers ------------------------------------------------------------------

  async createContainer(
    podSandboxId: string,
    spec: ContainerSpec,
    sandbox: PodSandboxSpec | undefined,
  ): Promise<string> {
    const view = await this.deps.sandboxes.get(podSandboxId);
    if (view.state !== 'ready')
      throw new FailedPreconditionError(
        `pod sandbox ${view.id} is ${view.state}, not ready: cannot create containers in it`,
      );
    const created = await this.deps.containers.create(await createRequestOf(view, spec, sandbox));
    return created.id;
  }

  async startContainer(id: string): Promise<void> {
    const c = this.deps.containers.get(id);
    if (c.state !== 'created' && c.state !== 'running')
      throw new FailedPreconditionError(
        `container ${c.id} is ${c.state}: only a created container can be started`,
      );
    await this.deps.containers.start(c.id);
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    await this.deps.containers.stop(id, timeoutSeconds);
  }

  async removeContainer(id: string): Promise<void> {
    await this.deps.containers.remove(id, { force: true });
  }

  async listContainers(filter: ContainerFilter): Promise<ContainerSummary[]> {
    return this.deps.containers
      .list({ namespace: CRI_NAMESPACE, ...(filter.labelSelector ? { labels: filter.labelSelector } : {}) })
      .filter(
        (c) =>
          (!filter.id || c.id.startsWith(filter.id)) &&
          (!filter.podSandboxId || (c.sandboxId ?? '').startsWith(filter.podSandboxId)),
      )
      .map((c) => containerSummaryOf(c, this.images.ofManifest(c.imageDigest)))
      .filter((c) => !filter.state || c.state === filter.state);
  }

  async containerStatus(id: string, verbose: boolean): Promise<ContainerStatusResult> {
    const c = this.deps.containers.status(id);
    const info: Record<string, string> = verbose
      ? {
          info: JSON.stringify({
            pid: c.pid ?? 0,
            sandboxID: c.sandboxId ?? '',
            runtimeType: c.runtime ?? '',
            image: c.image,
            imageDigest: c.imageDigest ?? '',
          }),
        }
      : {};
    return { status: containerDetailsOf(c, this.images.ofManifest(c.imageDigest)), info };
  }

  async updateContainerResources(id: string, update: { linux?: LinuxResources }): Promise<void> {
    await this.deps.containers.update(id, resourceRequestOf(update.linux) ?? {});
  }

  async checkpointContainer(id: string, location: string, timeoutSeconds: number): Promise<void> {
    await this.deps.containers.checkpoint(
      id,
      location,
      timeoutSeconds > 0 ? timeoutSeconds * 1000 : undefined,
    );
  }

  async reopenContainerLog(id: string): Promise<void> {
    await this.deps.containers.reopenLog(id);
    await logReopened(this.deps.containers.get(id).logPath);
  }

  async execSync(id: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResult> {
    const r = await this.deps.containers.execSync(id, cmd, timeoutSeconds);
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
  }

  async exec(request: ExecStreamRequest): Promise<string> {
    const c = this.running(request.containerId);
    return this.deps.streaming.execUrl({ ...request, containerId: c.id });
  }

  async attach(request: AttachStreamRequest): Promise<string> {
    const c = this.running(request.containerId);
    return this.deps.streaming.attachUrl({ ...request, containerId: c.id });
  }

  async portForward(podSandboxId: string, ports: number[]): Promise<string> {
    const sandbox = await this.deps.sandboxes.get(podSandboxId);
    if (sandbox.state !== 'ready')
      throw new FailedPreconditionError(
        `pod sandbox ${sandbox.id} is ${sandbox.state}, not ready: nothing to forward to`,
      );
    return this.deps.streaming.portForwardUrl(sandbox.id, ports);
  }

  // ---- stats and events ------------------------------------------------------------

  async containerStats(id: string): Promise<ContainerStats> {
    const c = this.deps.containers.get(id);
    return containerStatsOf(c, await this.deps.containers.stats(c.id));
  }

  async listContainerStats(filter: ContainerStatsFilter): Promise<ContainerStats[]> {
    const running = this.deps.containers
      .list({ namespace: CRI_NAMESPACE, state: 'running' })
      .filter(
        (c) =>
          (!filter.id || c.id.startsWith(filter.id)) &&
          (!filter.podSandboxId || (c.sandboxId ?? '').startsWith(filter.podSandboxId)) &&
          labelsMatch(c.labels, filter.labelSelector),
      );
    return statsOfEach(running, (id) => this.deps.containers.stats(id));
  }

  async podSandboxStats(id: string): Promise<PodSandboxStats> {
    const view = await this.deps.sandboxes.get(id);
    return this.podStats(view);
  }

  async listPodSandboxStats(filter: PodSandboxStatsFilter): Promise<PodSandboxStats[]> {
    const views = await this.deps.sandboxes.list({
      namespace: CRI_NAMESPACE,
      ...(filter.id ? { id: filter.id } : {}),
      ...(filter.labelSelector ? { labels: filter.labelSelector } : {}),
    });
    return Promise.all(views.map((v) => this.podStats(v)));
  }

  containerEvents(ctx: CallContext): AsyncIterable<ContainerEvent> {
    return containerEventFeed(this.deps, this, ctx);
  }

  /** PodView: the pod's status and its containers', for the events feed. */
  async podOf(
    _containerId: string,
    sandboxId: string | undefined,
  ): Promise<{ sandbox?: PodSandboxDetails; containers: ContainerDetails[] }> {
    if (!sandboxId) return { containers: [] };
    const view = await this.deps.sandboxes.get(sandboxId).catch(() => undefined);
    return {
      ...(view ? { sandbox: sandboxDetailsOf(view) } : {}),
      containers: this.containerDetails(sandboxId),
    };
  }

  // ---- images ----------------------------------------------------------------------

  async listImages(filter: ImageSpec | undefined): Promise<ImageRecord[]> {
    return this.images.list(filter);
  }

  async imageStatus(image: ImageSpec, verbose: boolean): Promise<ImageStatusResult> {
    return this.images.status(image, verbose);
  }

  async pullImage(image: ImageSpec, auth: PullAuth | undefined): Promise<string> {
    return this.images.pull(image, auth);
  }

  async removeImage(image: ImageSpec): Promise<void> {
    return this.images.remove(image);
  }

  async imageFsInfo(): Promise<ImageFsInfoResult> {
    return this.images.fsInfo();
  }

  // ---- helpers ---------------------------------------------------------------------

  private podContainers(sandboxId: string): ContainerStatus[] {
    return this.deps.containers.list({ namespace: CRI_NAMESPACE, sandboxId });
  }

  /**
   * The pod's containers, newest first (by creation, then attempt). kubelet takes the first status
   * of a name as that container's latest attempt and does not sort PodSandboxStatus's list (its
   * EventedPLEG reads it): oldest first made it restart an old attempt.
   */
  private containerDetails(sandboxId: string): ContainerDetails[] {
    return this.podContainers(sandboxId)
      .map((c) => containerDetailsOf(c, this.images.ofManifest(c.imageDigest)))
      .sort((a, b) => Number(b.createdAt - a.createdAt) || b.metadata.attempt - a.metadata.attempt);
  }

  private running(id: string): ContainerStatus {
    const c = this.deps.containers.get(id);
    if (c.state !== 'running')
      throw new FailedPreconditionError(
        `container ${c.id} is ${c.state === 'exited' ? 'CONTAINER_EXITED' : c.state}: it must be running`,
      );
    return c;
  }

  private async podStats(view: SandboxView): Promise<PodSandboxStats> {
    const running = this.podContainers(view.id).filter((c) => c.state === 'running');
    return podStatsOf(
      sandboxSummaryOf(view),
      await statsOfEach(running, (id) => this.deps.containers.stats(id)),
      nowNanos(),
    );
  }
}
