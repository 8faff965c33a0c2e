/**
 * Container types in Berth's own terms: the validated CreateContainer request, the
 * status and list answers, and the inputs of exec/attach/port-forward.
 */
import type { ImageSpec } from './image.js';
import type { NamespaceOptions, SecurityProfile, UnixNanos } from './sandbox.js';

/** CRI LinuxContainerResources; a zero (or absent) numeric field means "not set". */
export interface LinuxResources {
  cpuPeriod: number;
  /** -1 or 0 means unlimited. */
  cpuQuota: number;
  cpuShares: number;
  memoryLimitBytes: number;
  /** Memory plus swap; -1 unlimited, 0 unset. */
  memorySwapLimitBytes: number;
  oomScoreAdj: number;
  cpusetCpus: string;
  cpusetMems: string;
  hugepageLimits: { pageSize: string; limit: number }[];
  /** cgroup v2 file name → value, e.g. `memory.high`. */
  unified: Record<string, string>;
}

export type MountPropagation = 'private' | 'host-to-container' | 'bidirectional';

export interface IdMapping {
  hostId: number;
  containerId: number;
  length: number;
}

export interface Mount {
  containerPath: string;
  /** Empty when `image` names an image volume instead. */
  hostPath: string;
  readonly: boolean;
  recursiveReadOnly: boolean;
  selinuxRelabel: boolean;
  propagation: MountPropagation;
  uidMappings: IdMapping[];
  gidMappings: IdMapping[];
  /** An image mounted as a volume (CRI's image volume); undefined for bind mounts. */
  image?: ImageSpec;
  imageSubPath: string;
}

export interface Device {
  containerPath: string;
  hostPath: string;
  /** Any of r, w, m. */
  permissions: string;
}

export type SupplementalGroupsPolicy = 'merge' | 'strict';

export interface ContainerSecurityContext {
  capabilities: { add: string[]; drop: string[]; addAmbient: string[] };
  privileged: boolean;
  namespaces: NamespaceOptions;
  runAsUser?: number;
  runAsGroup?: number;
  runAsUsername: string;
  readonlyRootfs: boolean;
  supplementalGroups: number[];
  /**
   * `merge` (default): the image's /etc/group memberships of the user plus supplementalGroups;
   * `strict`: supplementalGroups only (KEP-3619).
   */
  supplementalGroupsPolicy: SupplementalGroupsPolicy;
  noNewPrivs: boolean;
  maskedPaths: string[];
  readonlyPaths: string[];
  seccomp: SecurityProfile;
  apparmor: SecurityProfile;
}

export interface ContainerMetadata {
  name: string;
  attempt: number;
}

/** The validated CreateContainer request (CRI ContainerConfig). */
export interface ContainerSpec {
  metadata: ContainerMetadata;
  image: ImageSpec;
  command: string[];
  args: string[];
  workingDir: string;
  envs: { key: string; value: string }[];
  mounts: Mount[];
  devices: Device[];
  cdiDevices: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Relative to the sandbox's log directory; may be empty (no log file). */
  logPath: string;
  stdin: boolean;
  stdinOnce: boolean;
  tty: boolean;
  linux: { resources?: LinuxResources; securityContext: ContainerSecurityContext };
  /** Signal name such as `SIGTERM`; empty means the image's or the runtime default. */
  stopSignal: string;
}

export type ContainerState = 'created' | 'running' | 'exited' | 'unknown';

/** One row of ListContainers. */
export interface ContainerSummary {
  id: string;
  podSandboxId: string;
  metadata: ContainerMetadata;
  image: ImageSpec;
  /** Digested reference (`repo@sha256:…`) or image id the container runs. */
  imageRef: string;
  /** The image's id (config digest). */
  imageId: string;
  state: ContainerState;
  createdAt: UnixNanos;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** ContainerStatus: the summary plus the lifecycle details. Zero timestamps mean "not yet". */
export interface ContainerDetails extends ContainerSummary {
  startedAt: UnixNanos;
  finishedAt: UnixNanos;
  exitCode: number;
  /** Machine-readable, e.g. `Completed`, `Error`, `OOMKilled`. */
  reason: string;
  message: string;
  mounts: Mount[];
  /** Absolute path of the container's CRI log file; empty when it has none. */
  logPath: string;
  resources?: LinuxResources;
  user?: { uid: number; gid: number; supplementalGroups: number[] };
  stopSignal: string;
}

export interface ContainerStatusResult {
  status: ContainerDetails;
  /** Only filled when the caller asked for verbose output. */
  info: Record<string, string>;
}

/** ListContainers' filter: every present field must match (AND). */
export interface ContainerFilter {
  /** A full id or a unique prefix of one. */
  id?: string;
  state?: ContainerState;
  podSandboxId?: string;
  labelSelector?: Record<string, string>;
}

export interface ExecSyncResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

/** Exec: a streaming session to prepare; at least one of stdin/stdout/stderr is set. */
export interface ExecStreamRequest {
  containerId: string;
  cmd: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** Attach: a streaming session to the container's main process. */
export interface AttachStreamRequest {
  containerId: string;
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}
