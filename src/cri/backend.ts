/**
 * CriBackend: what the CRI gateway needs from the rest of Berth. The gateway validates and
 * converts every request before calling it, so a backend only ever sees well-formed input
 * (non-empty ids made of `[A-Za-z0-9._-]`, present metadata, sane resources).
 *
 * Error contract (the gateway maps these to gRPC codes; see status.ts):
 * - NotFoundError for an id, prefix or image the backend does not know; an id prefix that
 *   matches several objects is an InvalidArgumentError naming the candidates.
 * - InvalidArgumentError for a request the backend cannot honour as given (unknown runtime
 *   handler, a sysctl it refuses, a port already published), AlreadyExistsError for a name
 *   already taken by another object, FailedPreconditionError for a call in the wrong state
 *   (starting an exited container), UnavailableError while a dependency is down.
 * - UnimplementedError, with a reason, for anything the backend does not support: the
 *   gateway answers UNIMPLEMENTED with that reason, never a success that did nothing.
 * The gateway itself turns NotFound into success where CRI wants idempotence
 * (StopPodSandbox, RemovePodSandbox, RemoveContainer, RemoveImage), so the backend may throw
 * NotFoundError for those freely.
 *
 * Mutating calls are expected to start or join the transition's workflow (its id derived from
 * the request's identity, see identity.ts) and return when it has finished; kubelet retries
 * timed-out calls with the same request, so a repeated call must join, not duplicate. Every method receives the
 * call's AbortSignal, aborted when the client cancels or its deadline passes.
 */
import type {
  AttachStreamRequest,
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
import type { CgroupDriver, ContainerEvent, RuntimeStatus } from './types/runtime.js';
import type {
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

/** Per-call context handed to every backend method. */
export interface CallContext {
  /** Aborted when the client cancels the call or its deadline passes. */
  signal: AbortSignal;
}

export interface CriBackend {
  // ---- runtime ---------------------------------------------------------------------

  /**
   * The runtime's health for kubelet: `RuntimeReady` (can run containers) and `NetworkReady`
   * (CNI configured), each with a reason when false. `verbose` asks for the `info` map too.
   */
  status(verbose: boolean, ctx: CallContext): Promise<RuntimeStatus>;

  /** The cgroup driver kubelet must match; static for the daemon's lifetime. */
  cgroupDriver(ctx: CallContext): Promise<CgroupDriver>;

  /** Kubelet hands over the node's pod CIDR (it may be empty: nothing to change). */
  updateRuntimeConfig(config: { podCidr: string }, ctx: CallContext): Promise<void>;

  // ---- sandboxes -------------------------------------------------------------------

  /** Creates and starts a sandbox; on success it is ready. Returns its id. */
  runPodSandbox(spec: PodSandboxSpec, ctx: CallContext): Promise<string>;

  /**
   * Stops every container of the sandbox (forcibly) and releases its network. Idempotent:
   * stopping a stopped sandbox succeeds; an unknown id is NotFoundError (the gateway answers OK).
   */
  stopPodSandbox(id: string, ctx: CallContext): Promise<void>;

  /** Removes the sandbox and its containers (stopping them first). Unknown id: NotFoundError. */
  removePodSandbox(id: string, ctx: CallContext): Promise<void>;

  /** The sandbox's status; NotFoundError when it does not exist. */
  podSandboxStatus(id: string, verbose: boolean, ctx: CallContext): Promise<PodSandboxStatusResult>;

  /** Sandboxes matching every present field of the filter. */
  listPodSandboxes(filter: PodSandboxFilter, ctx: CallContext): Promise<PodSandboxSummary[]>;

  /**
   * Best-effort update of the pod-level resources after kubelet resized the pod cgroup;
   * optional: absent means UNIMPLEMENTED (kubelet tolerates that).
   */
  updatePodSandboxResources?(
    id: string,
    resources: { overhead?: LinuxResources; resources?: LinuxResources },
    ctx: CallContext,
  ): Promise<void>;

  // ---- containers ------------------------------------------------------------------

  /**
   * Creates (does not start) a container in a ready sandbox. `sandbox` is the pod's config
   * as kubelet sends it again with the request. Returns the container id.
   */
  createContainer(
    podSandboxId: string,
    spec: ContainerSpec,
    sandbox: PodSandboxSpec | undefined,
    ctx: CallContext,
  ): Promise<string>;

  /** Starts a created container; FailedPreconditionError when it is not in `created` state. */
  startContainer(id: string, ctx: CallContext): Promise<void>;

  /**
   * Sends the stop signal, waits up to `timeoutSeconds`, then SIGKILL (0: kill at once).
   * Idempotent for a stopped container; NotFoundError for an unknown id (as containerd answers).
   */
  stopContainer(id: string, timeoutSeconds: number, ctx: CallContext): Promise<void>;

  /** Removes the container, killing it first if it runs. Unknown id: NotFoundError. */
  removeContainer(id: string, ctx: CallContext): Promise<void>;

  /** Containers matching every present field of the filter. */
  listContainers(filter: ContainerFilter, ctx: CallContext): Promise<ContainerSummary[]>;

  /** The container's status; NotFoundError when it does not exist. */
  containerStatus(id: string, verbose: boolean, ctx: CallContext): Promise<ContainerStatusResult>;

  /** Applies new resource limits to a created or running container, all or nothing. */
  updateContainerResources(
    id: string,
    update: { linux?: LinuxResources; annotations: Record<string, string> },
    ctx: CallContext,
  ): Promise<void>;

  /** Makes the container's log writer reopen its log file (after rotation). */
  reopenContainerLog(id: string, ctx: CallContext): Promise<void>;

  /** Runs a command in the container to completion; `timeoutSeconds` 0 means no timeout. */
  execSync(id: string, cmd: string[], timeoutSeconds: number, ctx: CallContext): Promise<ExecSyncResult>;

  /** Prepares an exec session on the streaming server and returns its one-time URL. */
  exec(request: ExecStreamRequest, ctx: CallContext): Promise<string>;

  /** Prepares an attach session on the streaming server and returns its one-time URL. */
  attach(request: AttachStreamRequest, ctx: CallContext): Promise<string>;

  /** Prepares a port-forward session into the sandbox's network namespace; returns its URL. */
  portForward(podSandboxId: string, ports: number[], ctx: CallContext): Promise<string>;

  /** Optional: checkpoints a container to `location`; absent means UNIMPLEMENTED. */
  checkpointContainer?(id: string, location: string, timeoutSeconds: number, ctx: CallContext): Promise<void>;

  // ---- stats and events ------------------------------------------------------------

  /** Stats of one container; NotFoundError when it does not exist. */
  containerStats(id: string, ctx: CallContext): Promise<ContainerStats>;

  /** Stats of the running containers matching the filter. */
  listContainerStats(filter: ContainerStatsFilter, ctx: CallContext): Promise<ContainerStats[]>;

  /** Stats of one sandbox and its containers; NotFoundError when it does not exist. */
  podSandboxStats(id: string, ctx: CallContext): Promise<PodSandboxStats>;

  /** Stats of the sandboxes matching the filter. */
  listPodSandboxStats(filter: PodSandboxStatsFilter, ctx: CallContext): Promise<PodSandboxStats[]>;

  /**
   * A live feed of container lifecycle events for one subscriber, starting now. Called once per
   * GetContainerEvents call, so any number of subscribers each get every event. The iterable
   * must end (return) once `ctx.signal` aborts; the gateway also stops iterating then.
   */
  containerEvents(ctx: CallContext): AsyncIterable<ContainerEvent>;

  // ---- images ----------------------------------------------------------------------

  /** Images, all of them or those matching `filter` (a reference or id). */
  listImages(filter: ImageSpec | undefined, ctx: CallContext): Promise<ImageRecord[]>;

  /** The image's record, or no image (not an error) when it is not present. */
  imageStatus(image: ImageSpec, verbose: boolean, ctx: CallContext): Promise<ImageStatusResult>;

  /**
   * Pulls an image (joining a pull of the same reference already in flight) and returns its
   * image reference (id or digested reference). `auth` is undefined when the request had none.
   */
  pullImage(
    image: ImageSpec,
    auth: PullAuth | undefined,
    sandbox: PodSandboxSpec | undefined,
    ctx: CallContext,
  ): Promise<string>;

  /** Removes the image and all its tags. Unknown image: NotFoundError (the gateway answers OK). */
  removeImage(image: ImageSpec, ctx: CallContext): Promise<void>;

  /** Usage of the filesystems holding images and containers' writable layers. */
  imageFsInfo(ctx: CallContext): Promise<ImageFsInfoResult>;
}
