/**
 * The sandbox request (the fields of CRI's PodSandboxConfig that Berth acts on) and its
 * validation. Every rejection is an InvalidArgumentError naming the offending field, raised
 * before anything is created.
 */
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../common/errors.js';
import { checkIdMappings, type IdMappings } from '../common/id-mappings.js';
import type { PortMapping } from '../network/types.js';
import { validatePodResources, type PodResources } from './cgroup-layout.js';

/** CRI's DNSConfig: rendered into the sandbox's resolv.conf. */
export interface DnsConfig {
  servers?: string[];
  searches?: string[];
  options?: string[];
}

/** CRI NamespaceMode, lower-cased: `pod` shares the sandbox's, `node` the host's, `container` a private one. */
export type NamespaceMode = 'pod' | 'container' | 'node';

export interface SandboxConfig {
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  /** Defaults to metadata.name when absent. */
  hostname?: string;
  logDirectory?: string;
  dnsConfig?: DnsConfig;
  portMappings?: PortMapping[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: {
    /**
     * The pod cgroup the caller manages (kubelet's, cgroupfs driver: an absolute cgroup path);
     * absent: Berth makes `/<root>/pod-<id>`.
     */
    cgroupParent?: string;
    resources?: PodResources;
    namespaceOptions?: {
      network?: NamespaceMode;
      ipc?: NamespaceMode;
      pid?: NamespaceMode;
      /** A user namespace for the pod with these mappings (KEP-127); absent: the host's. */
      userns?: IdMappings;
    };
  };
}

/** The validated request with defaults filled in. */
export interface NormalizedSandboxConfig extends SandboxConfig {
  hostname: string;
  portMappings: PortMapping[];
  hostNetwork: boolean;
  hostIpc: boolean;
  hostPid: boolean;
  /** One PID namespace for the whole pod (shareProcessNamespace), kept by a holder process. */
  podPid?: boolean;
}

const MAX_DNS_SERVERS = 3;
const MAX_DNS_SEARCHES = 32;
const MAX_DNS_SEARCH_CHARS = 2048;
const HOSTNAME_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const DNS_SEARCH_LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
const CGROUP_PATH = /^(\/(?!\.\.?(\/|$))[A-Za-z0-9_.:@+-]+)+$/;
const DNS_OPTION = /^[A-Za-z0-9_-]+(:[A-Za-z0-9_.-]+)?$/;
// Kubelet's CNI_ARGS are `;`-separated `K=V` pairs: identity fields must not contain either.
const IDENTITY = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,252})$/;

function bad(field: string, value: unknown, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`${field} ${JSON.stringify(value)} is invalid: ${why}`);
}

/** RFC 1123 host name as the kernel can hold it (at most 64 bytes, the UTS limit). */
export function validateHostname(hostname: string, field = 'hostname'): void {
  if (typeof hostname !== 'string' || hostname.length === 0 || hostname.length > 64) {
    throw bad(field, hostname, 'must be 1-64 characters');
  }
  for (const label of hostname.split('.')) {
    if (!HOSTNAME_LABEL.test(label)) {
      throw bad(
        field,
        hostname,
        `label ${JSON.stringify(label)} is not an RFC 1123 label (letters, digits, inner hyphens)`,
      );
    }
  }
}

/** Servers are IP addresses, searches domain names, options `name` or `name:value`: nothing that could add lines. */
export function validateDnsConfig(dns: DnsConfig): void {
  const servers = dns.servers ?? [];
  const searches = dns.searches ?? [];
  const options = dns.options ?? [];
  if (servers.length > MAX_DNS_SERVERS) {
    throw bad('dnsConfig.servers', servers, `at most ${MAX_DNS_SERVERS} name servers are used by resolvers`);
  }
  servers.forEach((s, i) => {
    if (typeof s !== 'string' || isIP(s) === 0)
      throw bad(`dnsConfig.servers[${i}]`, s, 'must be an IPv4 or IPv6 address');
  });
  if (searches.length > MAX_DNS_SEARCHES)
    throw bad('dnsConfig.searches', searches, `at most ${MAX_DNS_SEARCHES} entries`);
  if (searches.join(' ').length > MAX_DNS_SEARCH_CHARS) {
    throw bad('dnsConfig.searches', searches, `at most ${MAX_DNS_SEARCH_CHARS} characters in total`);
  }
  searches.forEach((s, i) => {
    const name = typeof s === 'string' && s.endsWith('.') ? s.slice(0, -1) : s;
    if (typeof name !== 'string' || name === '' || !name.split('.').every((l) => DNS_SEARCH_LABEL.test(l))) {
      throw bad(`dnsConfig.searches[${i}]`, s, 'must be a domain name');
    }
  });
  options.forEach((o, i) => {
    if (typeof o !== 'string' || !DNS_OPTION.test(o)) {
      throw bad(`dnsConfig.options[${i}]`, o, 'must be `name` or `name:value` (letters, digits, _ . -)');
    }
  });
}

/** Protocol, port ranges (container 1-65535, host 0-65535 with 0 = unpublished), host IP, duplicates. */
export function validatePortMappings(mappings: readonly PortMapping[]): PortMapping[] {
  const seen = new Set<string>();
  return mappings.map((m, i) => {
    const field = `portMappings[${i}]`;
    const protocol = (
      typeof m.protocol === 'string' ? m.protocol.toUpperCase() : m.protocol
    ) as PortMapping['protocol'];
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') {
      throw bad(`${field}.protocol`, m.protocol, 'must be TCP, UDP or SCTP');
    }
    if (!Number.isInteger(m.containerPort) || m.containerPort < 1 || m.containerPort > 65535) {
      throw bad(`${field}.containerPort`, m.containerPort, 'must be an integer from 1 to 65535');
    }
    const hostPort = m.hostPort ?? 0;
    if (!Number.isInteger(hostPort) || hostPort < 0 || hostPort > 65535) {
      throw bad(`${field}.hostPort`, m.hostPort, 'must be an integer from 1 to 65535 (or 0 for none)');
    }
    const hostIp = m.hostIp ?? '';
    if (hostIp !== '' && isIP(hostIp) === 0)
      throw bad(`${field}.hostIp`, hostIp, 'must be an IP address or empty');
    if (hostPort !== 0) {
      const key = `${protocol}/${hostIp}/${hostPort}`;
      if (seen.has(key))
        throw bad(`${field}.hostPort`, hostPort, `${protocol} host port ${hostPort} is mapped twice`);
      seen.add(key);
    }
    return { protocol, containerPort: m.containerPort, hostPort, hostIp };
  });
}

function namespaceMode(field: string, v: NamespaceMode | undefined, fallback: NamespaceMode): NamespaceMode {
  const mode = v ?? fallback;
  if (mode !== 'pod' && mode !== 'container' && mode !== 'node')
    throw bad(field, v, 'must be pod, container or node');
  return mode;
}

/** Validates a sandbox request and fills in defaults; throws before anything is created. */
export function normalizeSandboxConfig(config: SandboxConfig): NormalizedSandboxConfig {
  const md = config.metadata as SandboxConfig['metadata'] | undefined;
  if (md === undefined || md === null) throw new InvalidArgumentError('metadata is required');
  for (const key of ['name', 'namespace', 'uid'] as const) {
    if (typeof md[key] !== 'string' || !IDENTITY.test(md[key])) {
      throw bad(
        `metadata.${key}`,
        md[key],
        'must be 1-253 letters, digits, `.`, `_` or `-`, starting with a letter or digit',
      );
    }
  }
  if (!Number.isSafeInteger(md.attempt) || md.attempt < 0) {
    throw bad('metadata.attempt', md.attempt, 'must be a non-negative integer');
  }
  if (config.logDirectory !== undefined && config.logDirectory !== '') {
    const dir = config.logDirectory;
    if (
      typeof dir !== 'string' ||
      !dir.startsWith('/') ||
      dir.split('/').includes('..') ||
      dir.includes('\0')
    ) {
      throw bad('logDirectory', dir, 'must be an absolute path without ".." components');
    }
  }
  const hostname = config.hostname === undefined || config.hostname === '' ? md.name : config.hostname;
  validateHostname(hostname, config.hostname ? 'hostname' : 'hostname (from metadata.name)');
  if (config.dnsConfig) validateDnsConfig(config.dnsConfig);
  const portMappings = validatePortMappings(config.portMappings ?? []);
  validatePodResources(config.linux?.resources ?? {});
  const parent = config.linux?.cgroupParent;
  if (parent !== undefined && !CGROUP_PATH.test(parent))
    throw bad(
      'linux.cgroupParent',
      parent,
      parent.startsWith('/')
        ? 'must be an absolute cgroup path of letters, digits and ._:@+- without ".."'
        : 'is not a cgroupfs path: Berth drives cgroups with the cgroupfs driver (RuntimeConfig says so), not systemd slices',
    );
  const ns = config.linux?.namespaceOptions ?? {};
  const network = namespaceMode('linux.namespaceOptions.network', ns.network, 'pod');
  const ipc = namespaceMode('linux.namespaceOptions.ipc', ns.ipc, 'pod');
  const pid = namespaceMode('linux.namespaceOptions.pid', ns.pid, 'container');
  if (network === 'container') throw bad('linux.namespaceOptions.network', network, 'must be pod or node');
  if (ipc === 'container') throw bad('linux.namespaceOptions.ipc', ipc, 'must be pod or node');
  const hostNetwork = network === 'node';
  if (hostNetwork && portMappings.some((p) => p.hostPort !== 0 && p.hostPort !== p.containerPort)) {
    throw bad('portMappings', config.portMappings, 'with host networking, hostPort must equal containerPort');
  }
  if (ns.userns) {
    checkIdMappings('linux.namespaceOptions.userns', ns.userns);
    const shared = hostNetwork ? 'network' : ipc === 'node' ? 'ipc' : pid === 'node' ? 'pid' : undefined;
    if (shared)
      throw bad(
        'linux.namespaceOptions.userns',
        'pod',
        `a pod with its own user namespace cannot share the host's ${shared} namespace`,
      );
  }
  return {
    ...config,
    hostname,
    portMappings,
    hostNetwork,
    hostIpc: ipc === 'node',
    hostPid: pid === 'node',
    podPid: pid === 'pod',
  };
}
