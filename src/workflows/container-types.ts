/**
 * What the container transitions take and return. Pure types and constants: the workflow bundle,
 * the activities and the daemon all import them. Everything here travels through Temporal
 * payloads, so it carries ids, paths and small configs, never blobs.
 */
import type { IdMappings } from '../common/id-mappings.js';
import type {
  ContainerRequest,
  ImageRuntimeConfig,
  SandboxFiles,
  SandboxNamespaces,
} from '../runtime/spec-request.js';

/** The container's process and its isolation: everything the OCI spec is generated from besides the image. */
export type ContainerProcessConfig = Pick<
  ContainerRequest,
  | 'command'
  | 'args'
  | 'env'
  | 'workingDir'
  | 'user'
  | 'supplementalGroups'
  | 'supplementalGroupsPolicy'
  | 'hostname'
  | 'tty'
  | 'binds'
  | 'tmpfs'
  | 'readonlyRootfs'
  | 'capabilities'
  | 'noNewPrivileges'
  | 'seccomp'
  | 'maskedPaths'
  | 'readonlyPaths'
  | 'devices'
  | 'sysctls'
  | 'rlimits'
  | 'oomScoreAdj'
  | 'resources'
> & {
  /** Keep the container's stdin open (the runtime request has no stdin of its own). */
  stdin?: boolean;
  /** Close that stdin when the first attach session ends (CRI StdinOnce). */
  stdinOnce?: boolean;
  /**
   * The signal a stop sends first (KEP-4960): the request's, else the image's STOPSIGNAL, else
   * SIGTERM, in canonical form. The daemon resolves it; absent in workflows started before.
   */
  stopSignal?: string;
};

/** An image mounted read-only into the container (KEP-4639), resolved by the daemon. */
export interface ImageVolume {
  /** The reference as given, and the image it resolved to. */
  image: string;
  imageDigest: string;
  /** The committed snapshot the read-only view is made on. */
  chainId: string;
  containerPath: string;
  /** A folder or file of the image mounted instead of its root: relative, without `..`. */
  subPath?: string;
}

/** The createContainer workflow's input: the request with the image and sandbox already resolved. */
export interface CreateContainerArgs {
  namespace: string;
  name: string;
  /** CRI metadata attempt (kubelet's restart count): each attempt of a name is a container of its own. */
  attempt?: number;
  /** The image reference as the user gave it, and the image it resolved to. */
  image: string;
  imageDigest: string;
  /** Committed snapshot (top layer chain id) the rootfs is prepared on. */
  chainId: string;
  imageConfig: ImageRuntimeConfig;
  sandboxId?: string;
  namespaces: SandboxNamespaces;
  /** The pod user namespace's mappings (`namespaces.user`): rootfs layers and volumes are idmapped. */
  idMappings?: IdMappings;
  sandboxFiles?: SandboxFiles;
  cgroupParent: string;
  process: ContainerProcessConfig;
  /** Images mounted read-only (image volumes); absent in workflows started before they existed. */
  imageVolumes?: ImageVolume[];
  /**
   * Restore from this checkpoint archive (src/runtime/checkpoint-archive.ts): its writable layer
   * goes into the new rootfs, its CRIU images beside it, and start restores the process.
   */
  restore?: { archive: string };
  /** CRI log path; absent: `<state>/containers/<id>/container.log`. */
  logPath?: string;
  runtimeHandler?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface CreatedContainer {
  id: string;
  namespace: string;
  pid: number;
  logPath: string;
  rootfsPath: string;
}

export interface ContainerExit {
  exitCode: number;
  exitedAt: string;
  oomKilled: boolean;
}

export interface StopContainerArgs {
  namespace: string;
  id: string;
  /** Grace period before SIGKILL; 0 kills at once. */
  timeoutSeconds: number;
}

/**
 * Why a signal is sent, recorded before it (activities/containers.ts containerSignal): a stop's
 * first signal (`/tasks/stop-requested`, or `/tasks/kill-requested` without a grace period), a
 * remove's kill, or the SIGKILL sent when a stop's grace period ran out (`/tasks/kill-requested`).
 */
export type SignalRequest =
  | { kind: 'stop'; timeoutSeconds: number }
  | { kind: 'remove' }
  | { kind: 'grace-ended'; timeoutSeconds: number };

export interface RemoveContainerArgs {
  namespace: string;
  id: string;
  /** Kill a running task instead of refusing. */
  force: boolean;
}

/** The exit monitor signals this to a container's stop workflow (see container-signals.ts). */
export const TASK_EXITED_SIGNAL = 'taskExited';

export const containerWorkflowIds = {
  /** A sandbox id is the node's own; without one the node id keeps two nodes' creates apart. */
  create: (nodeId: string, namespace: string, sandboxId: string | undefined, name: string, attempt: number) =>
    `container:${sandboxId ?? `${nodeId}:${namespace}`}:${name}:${attempt}`,
  start: (id: string) => `container:${id}:start`,
  stop: (id: string) => `container:${id}:stop`,
  remove: (id: string) => `container:${id}:remove`,
};
