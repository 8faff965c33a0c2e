/** Linux capabilities: names by bit, the default container set, and add/drop resolution. */
import { FailedPreconditionError, InvalidArgumentError } from '../common/errors.js';
import type { OciCapabilities } from './oci-types.js';

/** Every capability, indexed by its bit number (linux/capability.h). */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** The set a container gets unless told otherwise: the same list containerd and Docker grant. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

const KNOWN = new Set(ALL_CAPABILITIES);

/** `sys_admin`, `SYS_ADMIN` and `CAP_SYS_ADMIN` all name CAP_SYS_ADMIN; `ALL` stays `ALL`. */
export function normalizeCapability(name: string, field: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!KNOWN.has(full)) throw new InvalidArgumentError(`${field}: unknown capability "${name}"`);
  return full;
}

/**
 * The container's capability list after add/drop, in Docker's order of precedence: start from the
 * default set (or every capability the host allows when add has ALL), add, then drop (drop ALL empties
 * the list before adds are applied, so `drop: [ALL], add: [X]` yields exactly X).
 * A requested capability outside the host's bounding set is an error: the kernel would refuse it.
 */
export function resolveCapabilities(
  request: { add?: string[]; drop?: string[] } | undefined,
  bounding: ReadonlySet<string>,
): string[] {
  const add = (request?.add ?? []).map((c, i) => normalizeCapability(c, `capabilities.add[${i}]`));
  const drop = (request?.drop ?? []).map((c, i) => normalizeCapability(c, `capabilities.drop[${i}]`));
  let caps: Set<string>;
  if (add.includes('ALL')) {
    caps = new Set(ALL_CAPABILITIES.filter((c) => bounding.has(c)));
  } else if (drop.includes('ALL')) {
    caps = new Set();
  } else {
    caps = new Set(DEFAULT_CAPABILITIES.filter((c) => bounding.has(c)));
  }
  for (const c of add) {
    if (c === 'ALL') continue;
    if (!bounding.has(c)) {
      throw new FailedPreconditionError(
        `capabilities.add: ${c} is not in this host's capability bounding set, so no container here can hold it`,
      );
    }
    caps.add(c);
  }
  if (!add.includes('ALL') || !drop.includes('ALL')) {
    for (const c of drop) {
      if (c !== 'ALL' && !add.includes(c)) caps.delete(c);
    }
  }
  return ALL_CAPABILITIES.filter((c) => caps.has(c));
}

/** The OCI capability sets for a process that should hold `caps` (ambient left empty, as runc expects for non-root). */
export function ociCapabilities(caps: string[]): OciCapabilities {
  return { bounding: [...caps], effective: [...caps], permitted: [...caps], inheritable: [], ambient: [] };
}
