/**
 * Who is on the other end of a unix socket, as the kernel says (SO_PEERCRED, read by the
 * peer-credentials addon built from peer-credentials.c), and that process's name. Read once per
 * connection, when it is accepted: the name is captured then because pids get reused.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { builtModule } from './built-module.js';

/** A peer's credentials; a field the kernel did not give (pid 0: not in our pid namespace) is absent. */
export type PeerCredentials = {
  pid?: number;
  uid: number;
  gid: number;
  /** /proc/<pid>/comm at accept time (e.g. `kubelet`, `crictl`, `node`). */
  comm?: string;
};

interface Addon {
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };
}

let addon: Addon | undefined;
let addonError: string | undefined;

function loadAddon(): Addon | undefined {
  if (addon || addonError) return addon;
  const path = builtModule(import.meta.url, '../../bin/peer-credentials.node', 'src/common');
  if (!path) {
    addonError = 'the peer-credentials addon dist/bin/peer-credentials.node is not built: run npm run build';
    return undefined;
  }
  addon = createRequire(import.meta.url)(path) as Addon;
  return addon;
}

/** Why callers cannot be identified, or undefined when they can (berthd logs it once at start). */
export function peerCredentialsUnavailable(): string | undefined {
  loadAddon();
  return addon ? undefined : addonError;
}

/** The credentials of the file descriptor's peer; throws if it is not a connected unix socket. */
export function peerCredentialsOfFd(fd: number): PeerCredentials {
  const found = loadAddon();
  if (!found) throw new Error(addonError);
  const { pid, uid, gid } = found.peerCredentials(fd);
  const comm = pid > 0 ? processName(pid) : undefined;
  return { ...(pid > 0 ? { pid } : {}), uid, gid, ...(comm ? { comm } : {}) };
}

/**
 * The credentials of an accepted unix socket's peer; undefined when they cannot be read (the addon
 * is not built, the socket has no descriptor or already closed).
 */
export function peerCredentials(socket: Socket): PeerCredentials | undefined {
  // net.Socket keeps its libuv handle, whose fd Node exposes on unix; there is no public accessor.
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  try {
    return peerCredentialsOfFd(fd);
  } catch {
    return undefined;
  }
}

function processName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() || undefined;
  } catch {
    return undefined; // the peer already exited
  }
}
