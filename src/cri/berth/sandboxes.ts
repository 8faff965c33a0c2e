/**
 * Pod sandboxes: CRI's PodSandboxConfig as Berth's SandboxConfig, and Berth's sandbox view
 * as CRI's PodSandbox / PodSandboxStatus. The sandbox id is SandboxService's (derived from the
 * pod's namespace, uid and attempt), so a retried RunPodSandbox joins or returns the same one.
 */
import { hostname } from 'node:os';
import { InvalidArgumentError } from '../../common/errors.js';
import type { SandboxView } from '../../daemon/sandboxes.js';
import type { NamespaceMode as BerthNamespaceMode, SandboxConfig } from '../../sandbox/config.js';
import type { LinuxResources } from '../types/container.js';
import type {
  NamespaceMode,
  NamespaceOptions,
  PodSandboxDetails,
  PodSandboxMetadata,
  PodSandboxSpec,
  PodSandboxSummary,
} from '../types/sandbox.js';
import { isoToNanos } from './deps.js';

function namespaceMode(field: string, mode: NamespaceMode): BerthNamespaceMode {
  if (mode === 'target')
    throw new InvalidArgumentError(`${field}: TARGET is only meaningful for a container, not a pod sandbox`);
  return mode;
}

function podResources(r: LinuxResources | undefined): NonNullable<SandboxConfig['linux']>['resources'] {
  if (!r) return undefined;
  const out = {
    ...(r.cpuShares > 0 ? { cpuShares: r.cpuShares } : {}),
    ...(r.cpuQuota !== 0 ? { cpuQuota: r.cpuQuota } : {}),
    ...(r.cpuPeriod > 0 ? { cpuPeriod: r.cpuPeriod } : {}),
    ...(r.memoryLimitBytes > 0 ? { memoryLimitBytes: r.memoryLimitBytes } : {}),
  };
  return Object.keys(out).length > 0 ? out : undefined;
}

export function sandboxConfigOf(spec: PodSandboxSpec): SandboxConfig {
  const ns = spec.linux.securityContext.namespaces;
  const dns = spec.dns;
  const hasDns = dns.servers.length + dns.searches.length + dns.options.length > 0;
  const resources = podResources(spec.linux.resources);
  return {
    metadata: { ...spec.metadata },
    // An empty hostname means the node's, as containerd does (kubelet always sends one for pods
    // with their own network; critest does not).
    hostname: spec.hostname || hostname(),
    ...(spec.logDirectory ? { logDirectory: spec.logDirectory } : {}),
    ...(hasDns ? { dnsConfig: { servers: dns.servers, searches: dns.searches, options: dns.options } } : {}),
    portMappings: spec.portMappings.map((p) => ({
      protocol: p.protocol.toUpperCase() as 'TCP' | 'UDP' | 'SCTP',
      containerPort: p.containerPort,
      ...(p.hostPort > 0 ? { hostPort: p.hostPort } : {}),
      ...(p.hostIp ? { hostIp: p.hostIp } : {}),
    })),
    labels: spec.labels,
    annotations: spec.annotations,
    linux: {
      ...(spec.linux.cgroupParent ? { cgroupParent: spec.linux.cgroupParent } : {}),
      ...(resources ? { resources } : {}),
      namespaceOptions: {
        network: namespaceMode('config.linux.security_context.namespace_options.network', ns.network),
        ipc: namespaceMode('config.linux.security_context.namespace_options.ipc', ns.ipc),
        pid: namespaceMode('config.linux.security_context.namespace_options.pid', ns.pid),
        ...(ns.userns ? { userns: ns.userns } : {}),
      },
    },
  };
}

function metadataOf(view: SandboxView): PodSandboxMetadata {
  const m = view.config?.metadata ?? view.metadata;
  return m
    ? { name: m.name, uid: m.uid, namespace: m.namespace, attempt: m.attempt }
    : { name: view.name ?? view.id, uid: '', namespace: '', attempt: 0 };
}

export function sandboxSummaryOf(view: SandboxView): PodSandboxSummary {
  return {
    id: view.id,
    metadata: metadataOf(view),
    state: view.state === 'ready' ? 'ready' : 'notready',
    createdAt: isoToNanos(view.createdAt),
    labels: view.config?.labels ?? view.labels,
    annotations: view.config?.annotations ?? {},
    runtimeHandler: view.runtimeHandler ?? '',
  };
}

export function sandboxNamespacesOf(view: SandboxView): NamespaceOptions {
  const c = view.config;
  return {
    network: c?.hostNetwork ? 'node' : 'pod',
    ipc: c?.hostIpc ? 'node' : 'pod',
    pid: c?.hostPid ? 'node' : (c?.linux?.namespaceOptions?.pid ?? 'container'),
    targetId: '',
    ...(c?.linux?.namespaceOptions?.userns ? { userns: c.linux.namespaceOptions.userns } : {}),
  };
}

export function sandboxDetailsOf(view: SandboxView): PodSandboxDetails {
  // kubelet takes the first address as the pod IP: IPv4 first, as containerd orders them.
  const ips = [...view.ips].sort((a, b) => a.family - b.family).map((i) => i.ip);
  return {
    ...sandboxSummaryOf(view),
    network: { ip: ips[0] ?? '', additionalIps: ips.slice(1) },
    namespaces: sandboxNamespacesOf(view),
  };
}
