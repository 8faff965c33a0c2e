/** Pod sandbox messages: the RunPodSandbox config in, statuses and list rows out. */
import type {
  PodSandboxDetails,
  PodSandboxFilter,
  PodSandboxMetadata,
  PodSandboxSpec,
  PodSandboxState,
  PodSandboxSummary,
  PortMapping,
  PortProtocol,
} from '../types/sandbox.js';
import {
  invalid,
  requireAbsolutePath,
  requireMessage,
  requireNonEmpty,
  validateStringList,
  validateStringMap,
} from '../validate.js';
import type {
  OutPodSandbox,
  OutPodSandboxMetadata,
  OutPodSandboxStatus,
  WirePodSandboxConfig,
  WirePodSandboxFilter,
  WirePodSandboxMetadata,
  WirePortMapping,
} from '../wire.js';
import { enumFromWire, enumToWire, nanosOut, optionalMap, optionalString } from './common.js';
import { resourcesFromWire } from './resources.js';
import { namespacesFromWire, namespacesToWire, securityProfileFromWire } from './security.js';

export const SANDBOX_STATES: Record<'SANDBOX_READY' | 'SANDBOX_NOTREADY', PodSandboxState> = {
  SANDBOX_READY: 'ready',
  SANDBOX_NOTREADY: 'notready',
};

// A handler name selects a configured runtime (runc, crun, runsc): a name, never a path.
const RUNTIME_HANDLER = /^[A-Za-z0-9._-]*$/;

const PROTOCOLS: Record<'TCP' | 'UDP' | 'SCTP', PortProtocol> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

export function sandboxMetadataFromWire(
  field: string,
  wire: WirePodSandboxMetadata | null,
): PodSandboxMetadata {
  const m = requireMessage(field, wire);
  return {
    name: requireNonEmpty(`${field}.name`, m.name),
    uid: requireNonEmpty(`${field}.uid`, m.uid),
    namespace: requireNonEmpty(`${field}.namespace`, m.namespace),
    attempt: m.attempt,
  };
}

function portFromWire(field: string, p: WirePortMapping): PortMapping {
  if (p.container_port < 1 || p.container_port > 65535) {
    throw invalid(`${field}.container_port`, `${p.container_port} is outside 1..65535`);
  }
  if (p.host_port < 0 || p.host_port > 65535) {
    throw invalid(`${field}.host_port`, `${p.host_port} is outside 0..65535`);
  }
  return {
    protocol: enumFromWire(`${field}.protocol`, p.protocol, PROTOCOLS),
    containerPort: p.container_port,
    hostPort: p.host_port,
    hostIp: p.host_ip,
  };
}

/** Validates and converts a PodSandboxConfig; `field` is its path in the request (e.g. `config`). */
export function sandboxSpecFromWire(
  field: string,
  wire: WirePodSandboxConfig | null,
  runtimeHandler: string,
): PodSandboxSpec {
  const config = requireMessage(field, wire);
  const metadata = sandboxMetadataFromWire(`${field}.metadata`, config.metadata);
  if (!RUNTIME_HANDLER.test(runtimeHandler)) {
    throw invalid('runtime_handler', `${JSON.stringify(runtimeHandler)} is not a runtime handler name`);
  }
  if (config.log_directory !== '') requireAbsolutePath(`${field}.log_directory`, config.log_directory);
  const linux = config.linux;
  const sc = linux?.security_context ?? null;
  const scField = `${field}.linux.security_context`;
  return {
    metadata,
    hostname: config.hostname,
    logDirectory: config.log_directory,
    dns: {
      servers: validateStringList(`${field}.dns_config.servers`, config.dns_config?.servers ?? []),
      searches: validateStringList(`${field}.dns_config.searches`, config.dns_config?.searches ?? []),
      options: validateStringList(`${field}.dns_config.options`, config.dns_config?.options ?? []),
    },
    portMappings: config.port_mappings.map((p, i) => portFromWire(`${field}.port_mappings[${i}]`, p)),
    labels: validateStringMap(`${field}.labels`, config.labels),
    annotations: validateStringMap(`${field}.annotations`, config.annotations),
    runtimeHandler,
    linux: {
      cgroupParent: linux?.cgroup_parent ?? '',
      sysctls: validateStringMap(`${field}.linux.sysctls`, linux?.sysctls ?? {}),
      securityContext: {
        namespaces: namespacesFromWire(`${scField}.namespace_options`, sc?.namespace_options ?? null),
        ...(sc?.run_as_user ? { runAsUser: sc.run_as_user.value } : {}),
        ...(sc?.run_as_group ? { runAsGroup: sc.run_as_group.value } : {}),
        readonlyRootfs: sc?.readonly_rootfs ?? false,
        supplementalGroups: [...(sc?.supplemental_groups ?? [])],
        privileged: sc?.privileged ?? false,
        seccomp: securityProfileFromWire(`${scField}.seccomp`, sc?.seccomp ?? null, {
          field: `${scField}.seccomp_profile_path`,
          value: sc?.seccomp_profile_path ?? '',
        }),
      },
      overhead: resourcesFromWire(`${field}.linux.overhead`, linux?.overhead ?? null),
      resources: resourcesFromWire(`${field}.linux.resources`, linux?.resources ?? null),
    },
  };
}

export function sandboxMetadataToWire(m: PodSandboxMetadata): OutPodSandboxMetadata {
  return { name: m.name, uid: m.uid, namespace: m.namespace, attempt: m.attempt };
}

export function sandboxToWire(s: PodSandboxSummary): OutPodSandbox {
  return {
    id: s.id,
    metadata: sandboxMetadataToWire(s.metadata),
    state: enumToWire(s.state, SANDBOX_STATES),
    created_at: nanosOut(s.createdAt),
    labels: { ...s.labels },
    annotations: { ...s.annotations },
    runtime_handler: s.runtimeHandler,
  };
}

export function sandboxStatusToWire(s: PodSandboxDetails): OutPodSandboxStatus {
  return {
    id: s.id,
    metadata: sandboxMetadataToWire(s.metadata),
    state: enumToWire(s.state, SANDBOX_STATES),
    created_at: nanosOut(s.createdAt),
    network: { ip: s.network.ip, additional_ips: s.network.additionalIps.map((ip) => ({ ip })) },
    linux: { namespaces: { options: namespacesToWire(s.namespaces) } },
    labels: { ...s.labels },
    annotations: { ...s.annotations },
    runtime_handler: s.runtimeHandler,
  };
}

export function sandboxFilterFromWire(wire: WirePodSandboxFilter | null): PodSandboxFilter {
  if (!wire) return {};
  const filter: PodSandboxFilter = {};
  const id = optionalString(wire.id);
  if (id !== undefined) filter.id = id;
  if (wire.state) filter.state = enumFromWire('filter.state.state', wire.state.state, SANDBOX_STATES);
  const labels = optionalMap(wire.label_selector);
  if (labels) filter.labelSelector = labels;
  return filter;
}
