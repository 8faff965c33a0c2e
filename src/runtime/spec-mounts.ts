/** Mounts of a container: the kernel filesystems every container needs, the sandbox's files, binds and tmpfs. */
import { posix } from 'node:path';
import { InvalidArgumentError } from '../common/errors.js';
import type { IdMapping } from '../common/id-mappings.js';
import type { OciIdMapping, OciMount } from './oci-types.js';
import type { BindMountRequest, ContainerRequest, MountPropagation } from './spec-request.js';

/** Paths hidden from the container (bind of /dev/null or an empty tmpfs), as containerd does. */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Paths the container may read but not change. */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

function defaultMounts(): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
    },
  ];
}

/** An absolute, normalised path without `..` components; `field` names it in the error. */
export function checkContainerPath(path: string, field: string): string {
  if (!path.startsWith('/')) throw new InvalidArgumentError(`${field}: "${path}" is not an absolute path`);
  if (path.split('/').includes('..')) throw new InvalidArgumentError(`${field}: "${path}" contains ".."`);
  return posix.normalize(path);
}

function propagationOption(p: MountPropagation | undefined, field: string): string {
  switch (p ?? 'private') {
    case 'private':
      return 'rprivate';
    case 'rslave':
      return 'rslave';
    case 'rshared':
      return 'rshared';
    default:
      throw new InvalidArgumentError(
        `${field}: unknown propagation "${String(p)}" (private, rslave, rshared)`,
      );
  }
}

function bindMount(b: BindMountRequest, i: number): OciMount {
  const field = `binds[${i}]`;
  if (!b.hostPath.startsWith('/')) {
    throw new InvalidArgumentError(`${field}.hostPath: "${b.hostPath}" is not an absolute path`);
  }
  return {
    destination: checkContainerPath(b.containerPath, `${field}.containerPath`),
    type: 'bind',
    source: posix.normalize(b.hostPath),
    options: ['rbind', propagationOption(b.propagation, `${field}.propagation`), b.readonly ? 'ro' : 'rw'],
  };
}

/**
 * The full mount list: defaults, then sandbox files, then tmpfs, then binds. A later mount at the same
 * destination replaces an earlier one (a bind at /dev/shm replaces the default tmpfs). Mounts are sorted
 * by path depth so a parent is always mounted before what lies under it.
 */
export function buildMounts(req: ContainerRequest): { mounts: OciMount[]; rootfsPropagation?: string } {
  const byDest = new Map<string, OciMount>();
  for (const m of defaultMounts()) byDest.set(m.destination, m);

  const files = req.sandboxFiles ?? {};
  const fileMode = req.readonlyRootfs ? 'ro' : 'rw';
  const sandboxBinds: [string | undefined, string, string][] = [
    [files.hostname, '/etc/hostname', 'sandboxFiles.hostname'],
    [files.resolvConf, '/etc/resolv.conf', 'sandboxFiles.resolvConf'],
    [files.hosts, '/etc/hosts', 'sandboxFiles.hosts'],
    [files.shm, '/dev/shm', 'sandboxFiles.shm'],
  ];
  for (const [source, destination, field] of sandboxBinds) {
    if (source === undefined) continue;
    if (!source.startsWith('/'))
      throw new InvalidArgumentError(`${field}: "${source}" is not an absolute path`);
    const mode = destination === '/dev/shm' ? 'rw' : fileMode;
    byDest.set(destination, { destination, type: 'bind', source, options: ['rbind', 'rprivate', mode] });
  }

  (req.tmpfs ?? []).forEach((t, i) => {
    const destination = checkContainerPath(t.containerPath, `tmpfs[${i}].containerPath`);
    const options = ['nosuid', 'nodev', `mode=${(t.mode ?? 0o1777).toString(8)}`];
    if (t.sizeBytes !== undefined) {
      if (!Number.isSafeInteger(t.sizeBytes) || t.sizeBytes <= 0) {
        throw new InvalidArgumentError(`tmpfs[${i}].sizeBytes: ${t.sizeBytes} is not a positive byte count`);
      }
      options.push(`size=${t.sizeBytes}`);
    }
    byDest.set(destination, { destination, type: 'tmpfs', source: 'tmpfs', options });
  });

  let rootfsPropagation: string | undefined;
  (req.binds ?? []).forEach((b, i) => {
    const m = bindMount(b, i);
    if (req.idMappings && !/^\/(proc|sys|dev)(\/|$)/.test(m.source)) {
      // A volume is seen through the pod's mapping: what root inside writes is root's on disk.
      m.uidMappings = ociIdMappings(req.idMappings.uids);
      m.gidMappings = ociIdMappings(req.idMappings.gids);
    }
    if (m.options.includes('rshared')) rootfsPropagation = 'rshared';
    else if (m.options.includes('rslave') && rootfsPropagation !== 'rshared') rootfsPropagation = 'rslave';
    byDest.set(m.destination, m);
  });

  const depth = (p: string): number => (p === '/' ? 0 : p.split('/').length);
  const mounts = [...byDest.values()]
    .map((m, order) => ({ m, order }))
    .sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.order - b.order)
    .map((x) => x.m);
  return rootfsPropagation ? { mounts, rootfsPropagation } : { mounts };
}

/** The OCI spelling of id mappings (the process's user namespace and idmapped binds). */
export function ociIdMappings(list: readonly IdMapping[]): OciIdMapping[] {
  return list.map((m) => ({ containerID: m.containerId, hostID: m.hostId, size: m.size }));
}
