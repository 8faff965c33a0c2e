/**
 * What a caller (the CRI gateway, the CLI) asks of a container, in runtime-neutral terms.
 * The spec generator turns an ImageRuntimeConfig plus a ContainerRequest into an OCI spec.
 */
import type { IdMappings } from '../common/id-mappings.js';
import type { OciSeccomp } from './oci-types.js';

/** The parts of an OCI image config that shape the container's process. */
export interface ImageRuntimeConfig {
  entrypoint?: string[];
  cmd?: string[];
  /** `KEY=value` entries. */
  env?: string[];
  workingDir?: string;
  /** `name`, `uid`, `name:group` or `uid:gid`, as in the image config's `User`. */
  user?: string;
  /** e.g. `SIGQUIT`; the signal `stop` sends first. */
  stopSignal?: string;
}

export type MountPropagation = 'private' | 'rslave' | 'rshared';

/** A bind mount from the host into the container. */
export interface BindMountRequest {
  hostPath: string;
  containerPath: string;
  readonly?: boolean;
  /** Default `private`; `rslave`/`rshared` make the rootfs propagation follow. */
  propagation?: MountPropagation;
}

export interface TmpfsMountRequest {
  containerPath: string;
  sizeBytes?: number;
  /** Octal mode of the tmpfs root, default 0o1777. */
  mode?: number;
}

/** A host device node exposed to the container. */
export interface DeviceRequest {
  hostPath: string;
  containerPath?: string;
  /** Any of r, w, m; default `rwm`. */
  permissions?: string;
}

export interface RlimitRequest {
  /** e.g. `RLIMIT_NOFILE` or `nofile`. */
  type: string;
  soft: number;
  hard: number;
}

/** Linux resource limits; every field is optional and means "not limited" when absent. */
export interface ResourceRequest {
  cpuShares?: number;
  /** Microseconds per period; -1 means unlimited. */
  cpuQuota?: number;
  cpuPeriod?: number;
  /** e.g. `0-1` or `0,2`. */
  cpusetCpus?: string;
  cpusetMems?: string;
  memoryLimitBytes?: number;
  /** Memory plus swap (the OCI meaning); -1 means unlimited swap. */
  memorySwapLimitBytes?: number;
  /** -1 means unlimited. */
  pidsLimit?: number;
  /** Page size as `2MB`/`1GB` and its limit in bytes. */
  hugepageLimits?: { pageSize: string; limitBytes: number }[];
}

/** Per namespace: a pinned namespace file to join, `host` to share the host's, or absent for a fresh one. */
export interface SandboxNamespaces {
  /** The pod's user namespace (KEP-127); `idMappings` must then be its mappings. */
  user?: string;
  network?: string;
  ipc?: string;
  uts?: string;
  /** Pod-level PID sharing; normally the container gets its own. */
  pid?: string;
}

/** Host files prepared by the sandbox, bind-mounted over the container's copies. */
export interface SandboxFiles {
  hostname?: string;
  resolvConf?: string;
  hosts?: string;
  /** A host directory to use as /dev/shm (shared within the pod). */
  shm?: string;
}

export type SeccompRequest =
  { kind: 'default' } | { kind: 'unconfined' } | { kind: 'custom'; profile: OciSeccomp };

export interface ContainerRequest {
  /** Container id: also the runtime's id and the cgroup's leaf name. */
  id: string;
  /** Absolute path of the prepared root filesystem (a mounted snapshot). */
  rootfsPath: string;
  image?: ImageRuntimeConfig;
  /** Overrides the image entrypoint (Kubernetes `command`). */
  command?: string[];
  /** Overrides the image cmd (Kubernetes `args`). */
  args?: string[];
  /** Merged over the image env; later entries win. */
  env?: { key: string; value: string }[];
  workingDir?: string;
  /** Overrides the image user: `name`, `uid`, `name:group` or `uid:gid`. */
  user?: string;
  supplementalGroups?: number[];
  /**
   * `strict`: the process gets exactly the primary gid and supplementalGroups; `merge` (default)
   * adds the groups the image's /etc/group lists the user in (KEP-3619).
   */
  supplementalGroupsPolicy?: 'merge' | 'strict';
  /** Only applied when the container gets its own UTS namespace. */
  hostname?: string;
  tty?: boolean;
  binds?: BindMountRequest[];
  tmpfs?: TmpfsMountRequest[];
  sandboxFiles?: SandboxFiles;
  readonlyRootfs?: boolean;
  /** Names with or without the `CAP_` prefix; `ALL` is accepted in both lists. */
  capabilities?: { add?: string[]; drop?: string[] };
  /** Default true. */
  noNewPrivileges?: boolean;
  /** Default: Berth's default profile. */
  seccomp?: SeccompRequest;
  /** Replace the default masked / read-only path lists when given. */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  devices?: DeviceRequest[];
  sysctls?: Record<string, string>;
  rlimits?: RlimitRequest[];
  oomScoreAdj?: number;
  namespaces?: SandboxNamespaces;
  /**
   * The mappings of the user namespace `namespaces.user` names, or of a new one when that is
   * absent; bind mounts of volumes are then idmapped with them. Absent: the host's ids.
   */
  idMappings?: IdMappings;
  /** Absolute cgroup parent (cgroupfs driver), e.g. `/kubepods/pod1234`; the container's cgroup is `<parent>/<id>`. */
  cgroupParent: string;
  resources?: ResourceRequest;
  annotations?: Record<string, string>;
}
