/**
 * Request validation shared by the RPC handlers. Every failure is an InvalidArgumentError
 * whose message starts with the offending field's path in the request (e.g.
 * `config.metadata.name`), so a user can fix the request without reading Berth's code.
 * Validation runs before the backend is called: a rejected request creates nothing.
 */
import { isAbsolute } from 'node:path';
import { InvalidArgumentError } from '../common/errors.js';

// Ids travel into paths, cgroup names and workflow ids: no separators, no leading dot or dash.
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

export function invalid(field: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`${field} ${why}`);
}

/** A container, sandbox or image id (or a unique prefix of one, as crictl users type them). */
export function requireId(field: string, value: string): string {
  if (value === '') throw invalid(field, 'is empty: an id is required');
  if (!ID.test(value)) {
    throw invalid(field, `${JSON.stringify(value)} is not a valid id (letters, digits, '.', '_', '-')`);
  }
  return value;
}

/** A sub-message the RPC cannot do without. */
export function requireMessage<T>(field: string, value: T | null | undefined): T {
  if (value === null || value === undefined) throw invalid(field, 'is missing');
  return value;
}

export function requireNonEmpty(field: string, value: string): string {
  if (value.trim() === '') throw invalid(field, 'is empty');
  if (value.includes('\0')) throw invalid(field, 'contains a NUL byte');
  return value;
}

export function requireAbsolutePath(field: string, value: string): string {
  requireNonEmpty(field, value);
  if (!isAbsolute(value)) throw invalid(field, `${JSON.stringify(value)} is not an absolute path`);
  return value;
}

/** A non-negative whole number of seconds (timeouts). */
export function requireSeconds(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0)
    throw invalid(field, `${value} is not a number of seconds >= 0`);
  return value;
}

/** Map keys must be non-empty and free of NUL; values free of NUL. */
export function validateStringMap(field: string, map: Record<string, string>): Record<string, string> {
  for (const [key, value] of Object.entries(map)) {
    if (key === '') throw invalid(field, 'has an empty key');
    if (key.includes('\0') || value.includes('\0')) throw invalid(`${field}[${key}]`, 'contains a NUL byte');
  }
  return { ...map };
}

export function validateStringList(field: string, list: string[]): string[] {
  list.forEach((item, i) => {
    if (item.includes('\0')) throw invalid(`${field}[${i}]`, 'contains a NUL byte');
  });
  return [...list];
}

const CPU_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** `0-3,5`: ranges ascending. Empty is "not set". */
export function validateCpuList(field: string, value: string): string {
  if (value === '') return value;
  if (!CPU_LIST.test(value))
    throw invalid(field, `${JSON.stringify(value)} is not a CPU/node list like "0-3,5"`);
  for (const part of value.split(',')) {
    const [lo, hi] = part.split('-').map(Number);
    if (hi !== undefined && lo !== undefined && hi < lo) {
      throw invalid(field, `${JSON.stringify(value)} has a descending range ${part}`);
    }
  }
  return value;
}

// The kernel's bounds for CFS bandwidth (cpu.cfs_period_us / cpu.cfs_quota_us) and shares.
const CFS_PERIOD_MIN_US = 1_000;
const CFS_PERIOD_MAX_US = 1_000_000;
const CFS_QUOTA_MIN_US = 1_000;
const CPU_SHARES_MIN = 2;
const CPU_SHARES_MAX = 262_144;
const HUGEPAGE_SIZE = /^\d+(KB|MB|GB|TB|PB)$/;
// A unified key names a file in the container's cgroup directory: never a path.
const UNIFIED_KEY = /^[a-z][a-z0-9_]*\.[a-z0-9_.]+$/;

/** Raw LinuxContainerResources fields as they arrive on the wire. */
export interface WireResources {
  cpu_period: number;
  cpu_quota: number;
  cpu_shares: number;
  memory_limit_in_bytes: number;
  oom_score_adj: number;
  cpuset_cpus: string;
  cpuset_mems: string;
  hugepage_limits: { page_size: string; limit: number }[];
  unified: Record<string, string>;
  memory_swap_limit_in_bytes: number;
}

/** Rejects resources no kernel can apply; zero means "not set" for every numeric field. */
export function validateResources(field: string, r: WireResources): void {
  if (r.cpu_period !== 0 && (r.cpu_period < CFS_PERIOD_MIN_US || r.cpu_period > CFS_PERIOD_MAX_US)) {
    throw invalid(
      `${field}.cpu_period`,
      `${r.cpu_period} is outside ${CFS_PERIOD_MIN_US}..${CFS_PERIOD_MAX_US} microseconds`,
    );
  }
  if (r.cpu_quota !== 0 && r.cpu_quota !== -1 && r.cpu_quota < CFS_QUOTA_MIN_US) {
    throw invalid(
      `${field}.cpu_quota`,
      `${r.cpu_quota} is below ${CFS_QUOTA_MIN_US} microseconds (use -1 or 0 for unlimited)`,
    );
  }
  if (r.cpu_shares !== 0 && (r.cpu_shares < CPU_SHARES_MIN || r.cpu_shares > CPU_SHARES_MAX)) {
    throw invalid(`${field}.cpu_shares`, `${r.cpu_shares} is outside ${CPU_SHARES_MIN}..${CPU_SHARES_MAX}`);
  }
  if (r.memory_limit_in_bytes < 0) {
    throw invalid(`${field}.memory_limit_in_bytes`, `${r.memory_limit_in_bytes} is negative`);
  }
  const swap = r.memory_swap_limit_in_bytes;
  if (swap < -1) throw invalid(`${field}.memory_swap_limit_in_bytes`, `${swap} is below -1`);
  if (swap > 0 && r.memory_limit_in_bytes > 0 && swap < r.memory_limit_in_bytes) {
    throw invalid(
      `${field}.memory_swap_limit_in_bytes`,
      `${swap} is below memory_limit_in_bytes ${r.memory_limit_in_bytes} (it counts memory plus swap)`,
    );
  }
  if (r.oom_score_adj < -1000 || r.oom_score_adj > 1000) {
    throw invalid(`${field}.oom_score_adj`, `${r.oom_score_adj} is outside -1000..1000`);
  }
  validateCpuList(`${field}.cpuset_cpus`, r.cpuset_cpus);
  validateCpuList(`${field}.cpuset_mems`, r.cpuset_mems);
  r.hugepage_limits.forEach((h, i) => {
    if (!HUGEPAGE_SIZE.test(h.page_size)) {
      throw invalid(
        `${field}.hugepage_limits[${i}].page_size`,
        `${JSON.stringify(h.page_size)} is not like "2MB"`,
      );
    }
  });
  for (const key of Object.keys(r.unified)) {
    if (!UNIFIED_KEY.test(key)) {
      throw invalid(
        `${field}.unified`,
        `key ${JSON.stringify(key)} is not a cgroup file name like "memory.high"`,
      );
    }
  }
}
