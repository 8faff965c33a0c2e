/** The container process: argv from entrypoint/cmd merging, the environment, the working directory and the user. */
import { posix } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../common/errors.js';
import type { ContainerRequest, ImageRuntimeConfig } from './spec-request.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * argv as kubelet and Docker build it: a request `command` replaces the image entrypoint and then the
 * image cmd is ignored; request `args` replace the image cmd. An empty result is an error.
 */
export function resolveArgs(
  req: Pick<ContainerRequest, 'command' | 'args'>,
  image: ImageRuntimeConfig,
): string[] {
  let argv: string[];
  if (req.command !== undefined && req.command.length > 0) {
    argv = [...req.command, ...(req.args ?? [])];
  } else {
    const tail = req.args !== undefined && req.args.length > 0 ? req.args : (image.cmd ?? []);
    argv = [...(image.entrypoint ?? []), ...tail];
  }
  if (argv.length === 0) {
    throw new InvalidArgumentError('command: no command given and the image has no entrypoint or cmd');
  }
  if (argv[0] === '') throw new InvalidArgumentError('command: the program name is empty');
  return argv;
}

/** Image env overlaid by the request env (same key: request wins, order of first appearance kept), PATH and HOME defaulted. */
export function mergeEnv(
  imageEnv: readonly string[],
  requestEnv: readonly { key: string; value: string }[],
  home: string,
): string[] {
  const merged = new Map<string, string>();
  for (const entry of imageEnv) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    merged.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  requestEnv.forEach((e, i) => {
    if (e.key === '' || e.key.includes('=')) {
      throw new InvalidArgumentError(`env[${i}]: invalid variable name "${e.key}"`);
    }
    merged.set(e.key, e.value);
  });
  if (!merged.has('PATH')) merged.set('PATH', DEFAULT_PATH);
  if (!merged.has('HOME')) merged.set('HOME', home);
  return [...merged].map(([k, v]) => `${k}=${v}`);
}

/** The working directory: request, then image, then `/`; it must be absolute. */
export function resolveCwd(req: Pick<ContainerRequest, 'workingDir'>, image: ImageRuntimeConfig): string {
  const cwd = req.workingDir || image.workingDir || '/';
  if (!cwd.startsWith('/')) throw new InvalidArgumentError(`workingDir: "${cwd}" is not an absolute path`);
  return posix.normalize(cwd);
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0] ?? '', uid, gid, home: f[5] || '/' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: f[0] ?? '', gid, members: (f[3] ?? '').split(',').filter((m) => m !== '') });
  }
  return out;
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

const NUMERIC = /^\d+$/;

function parseId(text: string, field: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xfffffffe) {
    throw new InvalidArgumentError(`${field}: id "${text}" is out of range`);
  }
  return n;
}

/**
 * Resolves `name`, `uid`, `name:group` or `uid:gid` against the image's /etc/passwd and /etc/group
 * (empty strings when the image has none). A numeric uid needs no passwd entry (its gid then defaults
 * to the entry's, or 0); a name must exist. Supplementary groups are the groups listing the user as
 * a member plus `extraGroups`, without the primary gid; with the `strict` policy only `extraGroups`.
 */
export function resolveUser(
  spec: string | undefined,
  passwdText: string,
  groupText: string,
  extraGroups: readonly number[] = [],
  groupsPolicy: 'merge' | 'strict' = 'merge',
): ResolvedUser {
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  const wanted = spec?.trim() || '0';
  const colon = wanted.indexOf(':');
  const userPart = colon >= 0 ? wanted.slice(0, colon) : wanted;
  const groupPart = colon >= 0 ? wanted.slice(colon + 1) : undefined;
  if (userPart === '') throw new InvalidArgumentError(`user: "${wanted}" has no user part`);

  let entry: PasswdEntry | undefined;
  let uid: number;
  if (NUMERIC.test(userPart)) {
    uid = parseId(userPart, 'user');
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw new NotFoundError(`user: "${userPart}" is not in the image's /etc/passwd`);
    uid = entry.uid;
  }

  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined) {
    if (groupPart === '') throw new InvalidArgumentError(`user: "${wanted}" has an empty group part`);
    if (NUMERIC.test(groupPart)) {
      gid = parseId(groupPart, 'user');
    } else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw new NotFoundError(`user: group "${groupPart}" is not in the image's /etc/group`);
      gid = g.gid;
    }
  }

  const supplementary = new Set<number>();
  if (entry && groupsPolicy === 'merge') {
    for (const g of groups) if (g.members.includes(entry.name)) supplementary.add(g.gid);
  }
  extraGroups.forEach((g, i) => supplementary.add(parseId(String(g), `supplementalGroups[${i}]`)));
  supplementary.delete(gid);
  return { uid, gid, additionalGids: [...supplementary].sort((a, b) => a - b), home: entry?.home ?? '/' };
}
