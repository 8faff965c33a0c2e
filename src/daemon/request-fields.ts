/**
 * Field checks every caller's request goes through before anything starts, whoever sent it: the
 * CRI gateway converts and checks kubelet's messages, but the API takes JSON as the CLI (or any
 * program on the node) wrote it, so the daemon checks the shapes again here. Each failure is an
 * InvalidArgumentError naming the field.
 */
import { InvalidArgumentError } from '../common/errors.js';

const NAMESPACE_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,75})$/;
const MAX_ATTEMPT = 0xffff_ffff; // the CRI's uint32

/** A Berth namespace name: what the event log and NATS subjects accept. */
export function requireNamespaceName(namespace: unknown, field = 'namespace'): string {
  if (typeof namespace !== 'string' || !NAMESPACE_NAME.test(namespace))
    throw new InvalidArgumentError(
      `${field} ${JSON.stringify(namespace)} is invalid: letters, digits, ".", "_" or "-", at most 76, starting with a letter or digit`,
    );
  return namespace;
}

/** The fields of a container create request whose shape the daemon relies on. */
export function checkCreateContainerFields(req: unknown): void {
  if (typeof req !== 'object' || req === null || Array.isArray(req))
    throw new InvalidArgumentError('a container create request must be a JSON object');
  const r = req as Record<string, unknown>;
  if (r.namespace !== undefined) requireNamespaceName(r.namespace);
  if (r.attempt !== undefined && !(Number.isInteger(r.attempt) && (r.attempt as number) >= 0))
    throw new InvalidArgumentError(`attempt: ${JSON.stringify(r.attempt)} is not a whole number from 0`);
  if ((r.attempt as number) > MAX_ATTEMPT)
    throw new InvalidArgumentError(`attempt: ${String(r.attempt)} is above ${MAX_ATTEMPT}`);
  if (r.logPath !== undefined) requireContainedPath('logPath', r.logPath);
  for (const field of ['labels', 'annotations'] as const) stringMap(field, r[field]);
  for (const field of ['command', 'args'] as const) stringList(field, r[field]);
  if (r.env !== undefined) {
    if (!Array.isArray(r.env)) throw new InvalidArgumentError('env: must be a list of {key, value}');
    r.env.forEach((e: unknown, i) => {
      const kv = e as { key?: unknown; value?: unknown } | null;
      if (typeof kv?.key !== 'string' || kv.key === '' || typeof kv.value !== 'string')
        throw new InvalidArgumentError(`env[${i}]: must be {"key": non-empty string, "value": string}`);
    });
  }
  if (r.binds !== undefined) {
    if (!Array.isArray(r.binds)) throw new InvalidArgumentError('binds: must be a list of mounts');
    r.binds.forEach((b: unknown, i) => {
      const m = b as { hostPath?: unknown; containerPath?: unknown } | null;
      if (typeof m !== 'object' || m === null)
        throw new InvalidArgumentError(`binds[${i}]: must be an object`);
      requireContainedPath(`binds[${i}].containerPath`, m.containerPath);
      if (typeof m.hostPath !== 'string')
        throw new InvalidArgumentError(`binds[${i}].hostPath: an absolute path is required`);
    });
  }
}

/** An absolute path without `..` components or NUL bytes (it must name what it seems to). */
function requireContainedPath(field: string, path: unknown): void {
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw new InvalidArgumentError(`${field}: ${JSON.stringify(path)} is not an absolute path`);
  if (path.includes('\0') || path.split('/').includes('..'))
    throw new InvalidArgumentError(`${field}: ${JSON.stringify(path)} must not contain ".." or NUL`);
}

function stringMap(field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidArgumentError(`${field}: must be an object of string values`);
  for (const [k, v] of Object.entries(value)) {
    if (k === '') throw new InvalidArgumentError(`${field}: a key is empty`);
    if (typeof v !== 'string')
      throw new InvalidArgumentError(`${field}.${k}: must be a string, got ${JSON.stringify(v)}`);
  }
}

function stringList(field: string, value: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw new InvalidArgumentError(`${field}: must be a list of strings`);
}
