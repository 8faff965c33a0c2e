/**
 * User namespace id mappings (KEP-127): what a pod's user namespace, its rootfs and its volumes are
 * mapped with. Shared by the sandbox (which pins the namespace), the snapshots (idmapped layers)
 * and the runtime (the OCI spec), so it lives here with its validation.
 */
import { InvalidArgumentError } from './errors.js';

/** One contiguous range: `size` ids from `containerId` inside map to `hostId` on the host. */
export interface IdMapping {
  containerId: number;
  hostId: number;
  size: number;
}

export interface IdMappings {
  uids: IdMapping[];
  gids: IdMapping[];
}

/** Ids are 32-bit; the last one (4294967295) means "no id" and is never mapped. */
const ID_LIMIT = 2 ** 32 - 1;

/**
 * Refuses mappings a user namespace cannot have, naming the field: empty lists, empty or
 * non-integer ranges, ranges past the 32-bit id space, ranges that overlap inside or on the host,
 * more than 340 ranges (the kernel's limit), and a namespace whose root (id 0) is not mapped.
 */
export function checkIdMappings(field: string, mappings: IdMappings): IdMappings {
  for (const kind of ['uids', 'gids'] as const) {
    const list = mappings[kind];
    const at = `${field}.${kind}`;
    if (!Array.isArray(list) || list.length === 0)
      throw new InvalidArgumentError(`${at}: at least one mapping is required`);
    if (list.length > 340)
      throw new InvalidArgumentError(`${at}: ${list.length} mappings, the kernel allows 340`);
    for (const [i, m] of list.entries()) {
      for (const key of ['containerId', 'hostId', 'size'] as const) {
        const v = m[key];
        if (!Number.isInteger(v) || v < 0)
          throw new InvalidArgumentError(`${at}[${i}].${key}: ${String(v)} is not a non-negative integer`);
      }
      if (m.size === 0) throw new InvalidArgumentError(`${at}[${i}].size: a mapping of 0 ids maps nothing`);
      if (m.containerId + m.size > ID_LIMIT || m.hostId + m.size > ID_LIMIT)
        throw new InvalidArgumentError(
          `${at}[${i}]: ${m.size} ids from ${m.containerId} (inside) or ${m.hostId} (host) exceed the 32-bit id range`,
        );
    }
    for (const side of ['containerId', 'hostId'] as const) {
      const sorted = list.map((m, i) => ({ m, i })).sort((a, b) => a.m[side] - b.m[side]);
      for (let k = 1; k < sorted.length; k++) {
        const prev = sorted[k - 1]!;
        const cur = sorted[k]!;
        if (prev.m[side] + prev.m.size > cur.m[side])
          throw new InvalidArgumentError(
            `${at}[${cur.i}] overlaps ${at}[${prev.i}] on the ${side === 'hostId' ? 'host' : 'container'} side`,
          );
      }
    }
    if (hostIdOf(list, 0) === undefined)
      throw new InvalidArgumentError(`${at}: id 0 (the container's root) is not mapped`);
  }
  return mappings;
}

/** The host id a container id maps to, or undefined when the mapping leaves it out. */
export function hostIdOf(mappings: readonly IdMapping[], containerId: number): number | undefined {
  const m = mappings.find((r) => containerId >= r.containerId && containerId < r.containerId + r.size);
  return m && m.hostId + (containerId - m.containerId);
}

/** The `/proc/<pid>/uid_map` (or gid_map) text of a list. */
export function procMapText(mappings: readonly IdMapping[]): string {
  return mappings.map((m) => `${m.containerId} ${m.hostId} ${m.size}\n`).join('');
}
