/**
 * Pod sandbox types in Berth's own terms: what the gateway hands the backend after
 * validating a CRI request, and what the backend answers for status and list calls.
 * Timestamps are nanoseconds since the Unix epoch as bigint (CRI's int64), so nothing
 * is lost to floating point.
 */
import type { IdMappings } from '../../common/id-mappings.js';
import type { ContainerDetails, LinuxResources } from './container.js';

export type UnixNanos = bigint;

/** CRI PodSandboxMetadata: the pod's identity as kubelet knows it. */
export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

/** CRI NamespaceMode, lower-cased: `pod` shared in the pod, `container` private, `node` the host's, `target` another container's. */
export type NamespaceMode = 'pod' | 'container' | 'node' | 'target';

export interface NamespaceOptions {
  network: NamespaceMode;
  pid: NamespaceMode;
  ipc: NamespaceMode;
  /** Container id whose namespaces `target` mode joins; empty otherwise. */
  targetId: string;
  /** A user namespace of the pod's own with these mappings (mode POD, KEP-127); absent: the node's. */
  userns?: IdMappings;
}

export type PortProtocol = 'tcp' | 'udp' | 'sctp';

export interface PortMapping {
  protocol: PortProtocol;
  containerPort: number;
  /** 0 when the port is not published on the host. */
  hostPort: number;
  /** Empty means all host addresses. */
  hostIp: string;
}

export interface DnsConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

/** CRI SecurityProfile (seccomp or AppArmor). */
export type SecurityProfile =
  { kind: 'runtime-default' } | { kind: 'unconfined' } | { kind: 'localhost'; ref: string };

export interface SandboxSecurityContext {
  namespaces: NamespaceOptions;
  runAsUser?: number;
  runAsGroup?: number;
  readonlyRootfs: boolean;
  supplementalGroups: number[];
  privileged: boolean;
  seccomp: SecurityProfile;
}

/** The validated RunPodSandbox request (CRI PodSandboxConfig plus the runtime handler). */
export interface PodSandboxSpec {
  metadata: PodSandboxMetadata;
  /** Empty when the request leaves it empty: the backend uses the node's hostname, as containerd does. */
  hostname: string;
  /** Directory under which kubelet asks container logs to be written; may be empty. */
  logDirectory: string;
  dns: DnsConfig;
  portMappings: PortMapping[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** RuntimeClass handler name; empty means the default handler. */
  runtimeHandler: string;
  linux: {
    cgroupParent: string;
    sysctls: Record<string, string>;
    securityContext: SandboxSecurityContext;
    overhead?: LinuxResources;
    resources?: LinuxResources;
  };
}

export type PodSandboxState = 'ready' | 'notready';

/** One row of ListPodSandbox. */
export interface PodSandboxSummary {
  id: string;
  metadata: PodSandboxMetadata;
  state: PodSandboxState;
  createdAt: UnixNanos;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler: string;
}

/** PodSandboxStatus: the summary plus network and namespaces. */
export interface PodSandboxDetails extends PodSandboxSummary {
  network: { ip: string; additionalIps: string[] };
  namespaces: NamespaceOptions;
}

/** PodSandboxStatus's answer: `info` is only filled when the caller asked for verbose output. */
export interface PodSandboxStatusResult {
  status: PodSandboxDetails;
  /** Free-form, values are strings (kubelet and crictl treat values starting with `{` as JSON). */
  info: Record<string, string>;
  /** Statuses of the pod's containers, which kubelet's evented PLEG reads from this call. */
  containers: ContainerDetails[];
  /**
   * When the status was read, in ms (default: when the call answers). Evented PLEG keeps the newer
   * of this and a container event's time, so it must not be later than an event it misses.
   */
  readAtMs?: number;
}

/** ListPodSandbox's filter: every present field must match (AND); absent fields match everything. */
export interface PodSandboxFilter {
  /** A full id or a unique prefix of one. */
  id?: string;
  state?: PodSandboxState;
  /** Every pair must be among the sandbox's labels. */
  labelSelector?: Record<string, string>;
}
