/** Runtime-wide types: status conditions, handlers, configuration and container events. */
import type { ContainerDetails } from './container.js';
import type { PodSandboxDetails, UnixNanos } from './sandbox.js';

/** A CRI RuntimeCondition; kubelet requires `RuntimeReady` and `NetworkReady`. */
export interface RuntimeCondition {
  type: string;
  status: boolean;
  /** CamelCase, machine-readable; set whenever status is false. */
  reason: string;
  message: string;
}

/** A RuntimeClass handler (runc, crun, …) and what it supports. */
export interface RuntimeHandlerInfo {
  /** Empty name is the default handler. */
  name: string;
  recursiveReadOnlyMounts: boolean;
  userNamespaces: boolean;
}

export interface RuntimeStatus {
  /** Must contain `RuntimeReady` and `NetworkReady` (the gateway reports a missing one as not ready). */
  conditions: RuntimeCondition[];
  handlers: RuntimeHandlerInfo[];
  features: { supplementalGroupsPolicy: boolean; userNamespacesHostNetwork: boolean };
  /** Free-form details for `verbose` (crictl info); values starting with `{` are read as JSON. */
  info: Record<string, string>;
}

export type CgroupDriver = 'cgroupfs' | 'systemd';

export type ContainerEventType = 'created' | 'started' | 'stopped' | 'deleted';

/** A container lifecycle event for kubelet's evented PLEG. */
export interface ContainerEvent {
  containerId: string;
  type: ContainerEventType;
  createdAt: UnixNanos;
  /** The pod's status at the time of the event, when the sandbox still exists. */
  podSandboxStatus?: PodSandboxDetails;
  /** Statuses of every container in the pod (kubelet reads the whole pod from one event). */
  containersStatuses: ContainerDetails[];
}
