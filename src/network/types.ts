/** Types shared by the CNI layer and its callers (the sandbox manager). */

/** A hostPort mapping as CNI's `portMappings` capability takes it. */
export interface PortMapping {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  containerPort: number;
  /** 0 or absent: the port is not published on the host. */
  hostPort?: number;
  /** Host address to bind; empty or absent means every address. */
  hostIp?: string;
}

/** Who the attachment belongs to: becomes kubelet's CNI_ARGS. */
export interface PodIdentity {
  namespace: string;
  name: string;
  uid: string;
}

/**
 * One network attachment of one sandbox: the key of the on-disk cache is
 * (network name, containerId, ifName).
 */
export interface AttachmentRequest {
  /** The sandbox id; CNI_CONTAINERID and K8S_POD_INFRA_CONTAINER_ID. */
  containerId: string;
  /** Path of the pinned network namespace (CNI_NETNS). */
  netnsPath: string;
  /** Interface name inside the namespace; `eth0` by default. */
  ifName?: string;
  pod: PodIdentity;
  portMappings?: PortMapping[];
}

/** An IP address the network gave the sandbox. */
export interface AttachedIp {
  /** Address with prefix, as CNI reports it (e.g. `10.88.0.5/16`). */
  address: string;
  /** Address alone (e.g. `10.88.0.5`). */
  ip: string;
  gateway?: string;
  family: 4 | 6;
}

/** The outcome of a successful ADD. */
export interface AttachmentResult {
  networkName: string;
  ifName: string;
  ips: AttachedIp[];
  /** The final plugin's result, verbatim, as cached for DEL and CHECK. */
  raw: CniResult;
}

/** The subset of a CNI (0.4.0/1.0.0) result Berth reads. */
export interface CniResult {
  cniVersion?: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number; version?: string }[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
  [key: string]: unknown;
}
