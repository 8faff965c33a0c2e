/**
 * What an isolated containerd leaves on the host outside its own directory, and how the harness
 * removes exactly its own share of it: shim sockets under /run/containerd/s (named by a hash of
 * the daemon's address, namespace and shim id), libcni cache files named after its network,
 * its bridge, its cgroups, leftover runc containers and processes, and mounts under its directory.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile, execFileCapture } from '../../src/common/exec.js';

export const SHIM_SOCKET_DIR = '/run/containerd/s';
export const CNI_RESULTS_DIR = '/var/lib/cni/results';
const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * The socket file containerd 1.6's runc v2 shim listens on for one shim id (a container id, or the
 * sandbox id its containers are grouped under), whatever containerd's root: sha256 of
 * `<grpc address>/<namespace>/<id>` in hex.
 */
export function shimSocketName(grpcAddress: string, namespace: string, id: string): string {
  return createHash('sha256')
    .update(join(grpcAddress, namespace, id))
    .digest('hex');
}

export async function listDir(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** Facts about the host taken before containerd starts, so stop can put them back. */
export interface HostBefore {
  runContainerdExisted: boolean;
  shimSocketDirExisted: boolean;
  cniResultsDirExisted: boolean;
  varLibCniExisted: boolean;
  ipForward: string;
}

export async function snapshotHost(): Promise<HostBefore> {
  const exists = async (p: string): Promise<boolean> =>
    readdir(p).then(
      () => true,
      () => false,
    );
  return {
    runContainerdExisted: await exists('/run/containerd'),
    shimSocketDirExisted: await exists(SHIM_SOCKET_DIR),
    cniResultsDirExisted: await exists(CNI_RESULTS_DIR),
    varLibCniExisted: await exists('/var/lib/cni'),
    ipForward: (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim(),
  };
}

/** Removes directories this run created (never ones that were there before), only when empty. */
export async function removeCreatedDirs(before: HostBefore): Promise<void> {
  const tryRmdir = (p: string): Promise<void> => rmdir(p).catch(() => undefined);
  if (!before.shimSocketDirExisted) await tryRmdir(SHIM_SOCKET_DIR);
  if (!before.runContainerdExisted) await tryRmdir('/run/containerd');
  if (!before.cniResultsDirExisted) await tryRmdir(CNI_RESULTS_DIR);
  if (!before.varLibCniExisted) await tryRmdir('/var/lib/cni');
}

/** Removes the given shim sockets if the shims did not (they do on a clean exit). */
export async function removeShimSockets(names: Iterable<string>): Promise<void> {
  for (const name of names) await rm(join(SHIM_SOCKET_DIR, name), { force: true });
}

/** Removes libcni's cache files for this network (`<network>-<container>-<ifname>`). */
export async function removeCniResults(networkName: string): Promise<void> {
  for (const name of await listDir(CNI_RESULTS_DIR))
    if (name.startsWith(`${networkName}-`)) await rm(join(CNI_RESULTS_DIR, name), { force: true });
}

/** PIDs whose command line mentions `needle` (the shims carry `-address <socket>`). */
export async function pidsMentioning(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await listDir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg.includes(needle))) pids.push(Number(entry));
  }
  return pids;
}

/** SIGKILLs each pid (by id) and waits until it is gone or a zombie awaiting its reaper. */
export async function killPids(pids: readonly number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  for (const pid of pids) {
    for (let i = 0; i < 200; i++) {
      const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      if (!status || /^State:\s+Z/m.test(status)) break;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** Kills and deletes every runc container left under `runcRoot/<namespace>/`. */
export async function removeRuncContainers(runcRoot: string): Promise<void> {
  for (const ns of await listDir(runcRoot)) {
    const root = join(runcRoot, ns);
    const listed = await execFileCapture('runc', ['--root', root, 'list', '-q']);
    for (const id of listed.stdout.split('\n').filter(Boolean))
      await execFileCapture('runc', ['--root', root, 'delete', '--force', id]);
  }
}

/** Mount points at or below `dir`, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(`${dir}/`)))
    // mountinfo escapes spaces and such as octal; our paths have none.
    .sort((a, b) => b.length - a.length);
  return [...new Set(points)];
}

export async function unmountUnder(dir: string): Promise<void> {
  for (const point of await mountsUnder(dir)) await execFile('umount', ['--lazy', point]);
}

/** Removes `/<name>` (and any children) from every v1 controller and the unified hierarchy. */
export async function removeCgroupTree(name: string): Promise<void> {
  const remove = async (path: string): Promise<void> => {
    const children = (await readdir(path, { withFileTypes: true }).catch(() => []))
      .filter((d) => d.isDirectory())
      .map((d) => join(path, d.name));
    for (const child of children) await remove(child);
    await rmdir(path).catch(() => undefined);
  };
  for (const controller of await listDir(CGROUP_ROOT)) await remove(join(CGROUP_ROOT, controller, name));
}

/** Deletes the bridge if it exists (CNI's DEL leaves it). */
export async function deleteLink(name: string): Promise<void> {
  await execFileCapture('ip', ['link', 'delete', name]);
}

/**
 * Turns forwarding back off if this harness turned it on. Not inside a test run (vitest): there
 * other files' networks run beside the harness and need forwarding on; turning it off under them
 * broke them, so the run turns it back once, at its end (test/global-setup.ts).
 */
export async function restoreIpForward(before: HostBefore): Promise<void> {
  if (process.env.VITEST) return;
  const now = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
  if (now !== before.ipForward) await execFile('sysctl', ['-qw', `net.ipv4.ip_forward=${before.ipForward}`]);
}

/** Picks a /24 under 10.200.0.0/13 not routed on this host yet. */
export async function freeSubnet(): Promise<string> {
  const routes = await execFile('ip', ['-4', 'route', 'show']);
  for (let attempt = 0; attempt < 64; attempt++) {
    const second = 200 + Math.floor(Math.random() * 8);
    const third = Math.floor(Math.random() * 256);
    const prefix = `10.${second}.${third}.`;
    if (!routes.includes(prefix)) return `${prefix}0/24`;
  }
  throw new Error('no free 10.200.0.0/13 subnet for the containerd harness');
}
