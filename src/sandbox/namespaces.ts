/**
 * Pinned pod namespaces without an infra process: `unshare --net=<file>` creates a namespace and
 * bind-mounts its nsfs inode onto the file, so the namespace lives as long as the mount does.
 * Layout: `<state>/ns/{net,ipc,uts}/<sandbox-id>`, with `<state>/ns` its own shared mount point
 * (as `ip netns` does with /run/netns) so mount namespaces created later still see the pins.
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BerthError, InvalidArgumentError, errorMessage } from '../common/errors.js';
import { execFile, execFileCapture } from '../common/exec.js';
import { procMapText, type IdMappings } from '../common/id-mappings.js';
import { unmountSyscall } from '../common/mount-syscall.js';
import { isMountPoint, readMounts, unmountAll } from './mounts.js';
import { PidNamespaceHolders } from './pid-holder.js';

export type NamespaceKind = 'user' | 'net' | 'ipc' | 'uts';
/** In creation order: a user namespace first, so the others are created owned by it. */
export const NAMESPACE_KINDS: readonly NamespaceKind[] = ['user', 'net', 'ipc', 'uts'];

/**
 * Which namespaces a sandbox gets. `host` means the sandbox shares the node's namespace, so
 * nothing is pinned for it. UTS follows the network mode, as in Kubernetes (hostNetwork pods
 * see the node's hostname).
 */
export interface NamespaceRequest {
  network: 'pod' | 'host';
  ipc: 'pod' | 'host';
  /** `pod`: one PID namespace for the pod, kept by a holder process (pid-holder.ts). */
  pid?: 'pod' | 'container' | 'host';
  /** Set inside the pinned UTS namespace; ignored when the network is the host's. */
  hostname: string;
  /**
   * A user namespace for the pod (KEP-127) with these mappings; the pod's network, IPC and UTS
   * namespaces are then created owned by it, as a container in it needs (sysfs, sysctls).
   */
  userns?: IdMappings;
}

/** Paths of the pinned namespace files; a kind is absent when the sandbox does not pin it. */
export type PinnedNamespaces = Partial<Record<NamespaceKind | 'pid', string>>;

const SANDBOX_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Rejects ids that could escape the state dir or clash with mountinfo's escaping. */
export function assertSandboxId(id: string): void {
  if (!SANDBOX_ID.test(id)) {
    throw new InvalidArgumentError(`sandbox id ${JSON.stringify(id)} must match ${SANDBOX_ID.source}`);
  }
}

/** The kinds a request pins, in a fixed order. */
export function kindsToPin(req: Pick<NamespaceRequest, 'network' | 'ipc' | 'userns'>): NamespaceKind[] {
  const kinds: NamespaceKind[] = [];
  if (req.userns) kinds.push('user');
  if (req.network === 'pod') kinds.push('net', 'uts');
  if (req.ipc === 'pod') kinds.push('ipc');
  return NAMESPACE_KINDS.filter((k) => kinds.includes(k));
}

/**
 * Creates, finds and releases pinned namespaces under one state dir. Every method is idempotent:
 * pinning an already-pinned sandbox returns the existing pins, releasing an already-released one
 * succeeds, so a retried workflow step never fails or leaks.
 */
export class NamespacePinner {
  readonly nsDir: string;
  private readonly pidHolders: PidNamespaceHolders;
  private nsDirReady: Promise<void> | undefined;

  constructor(stateDir: string) {
    this.nsDir = path.join(stateDir, 'ns');
    this.pidHolders = new PidNamespaceHolders(this.nsDir);
  }

  /** The pin file of one namespace of one sandbox (whether or not it exists). */
  pathOf(kind: NamespaceKind, id: string): string {
    assertSandboxId(id);
    return path.join(this.nsDir, kind, id);
  }

  /**
   * Pins the namespaces the request asks for and sets the hostname in the UTS namespace.
   * A sandbox left half-pinned by a crash is released and pinned again from scratch.
   */
  async pin(id: string, req: NamespaceRequest): Promise<PinnedNamespaces> {
    const pins = await this.pinMountable(id, req);
    if (req.pid === 'pod') {
      await this.ensureNsDir();
      pins.pid = await this.pidHolders.pin(id, pins.user);
    } else {
      await this.pidHolders.release(id);
    }
    return pins;
  }

  /** Network, IPC and UTS: namespaces that live on as long as their bind mount. */
  private async pinMountable(id: string, req: NamespaceRequest): Promise<PinnedNamespaces> {
    assertSandboxId(id);
    const kinds = kindsToPin(req);
    const pins: PinnedNamespaces = {};
    for (const k of kinds) pins[k] = this.pathOf(k, id);
    if (kinds.length === 0) return pins;
    await this.ensureNsDir();

    const mounted = await this.pinnedKinds(id);
    if (kinds.every((k) => mounted.has(k)) && mounted.size === kinds.length) {
      if (pins.uts !== undefined) await this.setHostname(pins.uts, req.hostname);
      return pins;
    }
    if (mounted.size > 0) await this.releaseMountable(id);

    const args: string[] = [];
    for (const k of kinds) {
      const file = pins[k] as string;
      // unshare bind-mounts onto an existing file; create it empty first.
      await writeFile(file, '', { flag: 'w' });
      args.push(`--${k}=${file}`);
    }
    try {
      if (req.userns) {
        await unshareMapped(
          kinds.map((k) => [k, pins[k] as string]),
          req.userns,
        );
        if (pins.uts !== undefined) await this.setHostname(pins.uts, req.hostname);
      } else {
        // Running `hostname` as the command sets it inside the new UTS namespace in the same spawn.
        const cmd = pins.uts !== undefined ? ['hostname', req.hostname] : ['true'];
        const r = await execFileCapture('unshare', [...args, ...cmd]);
        if (r.code !== 0) throw new Error(r.stderr.trim() || `unshare exit ${r.code}`);
      }
    } catch (err) {
      await this.releaseMountable(id).catch(() => undefined);
      throw new BerthError(
        'internal',
        `cannot pin namespaces (${kinds.join(', ')}) of sandbox ${id}: ${errorMessage(err)}`,
      );
    }
    return pins;
  }

  /** Sets the hostname seen inside a pinned UTS namespace. */
  async setHostname(utsPin: string, hostname: string): Promise<void> {
    try {
      await execFile('nsenter', [`--uts=${utsPin}`, 'hostname', hostname]);
    } catch (err) {
      throw new BerthError('internal', `cannot set hostname ${hostname} in ${utsPin}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  /** Kinds whose pin file is currently a mount point (i.e. holds a live namespace). */
  async pinnedKinds(id: string): Promise<Set<NamespaceKind>> {
    assertSandboxId(id);
    const mounts = new Set((await readMounts()).map((m) => m.mountPoint));
    return new Set(NAMESPACE_KINDS.filter((k) => mounts.has(this.pathOf(k, id))));
  }

  /**
   * Unmounts and deletes every pin file of the sandbox, killing its PID namespace holder (and so
   * every process left in that namespace); succeeds when there is nothing to release.
   */
  async release(id: string): Promise<void> {
    await this.releaseMountable(id);
    await this.pidHolders.release(id);
  }

  private async releaseMountable(id: string): Promise<void> {
    assertSandboxId(id);
    const files = NAMESPACE_KINDS.map((k) => this.pathOf(k, id));
    const mountedNow = async (): Promise<string[]> => {
      const mounts = new Set((await readMounts()).map((m) => m.mountPoint));
      return files.filter((f) => mounts.has(f));
    };
    // A failed unmount is retried (and reported) by unmountAll below.
    await Promise.all((await mountedNow()).map((f) => unmountSyscall(f).catch(() => undefined)));
    for (const f of await mountedNow()) await unmountAll(f);
    for (const f of files) await rm(f, { force: true });
  }

  /** Ids with a pin file of any kind: for finding sandboxes left behind by a crash. */
  async pinnedIds(): Promise<string[]> {
    const ids = new Set<string>();
    for (const k of NAMESPACE_KINDS) {
      for (const name of await readdir(path.join(this.nsDir, k)).catch(() => [] as string[])) ids.add(name);
    }
    for (const name of await this.pidHolders.ids()) ids.add(name);
    return [...ids].sort();
  }

  /**
   * Unmounts `<state>/ns` itself once no sandbox is pinned under it. For tests and tools that
   * own a throwaway state dir; the daemon keeps the mount for its lifetime.
   */
  async dispose(): Promise<void> {
    const mounts = await readMounts();
    const prefix = `${this.nsDir}/`;
    const pinned = mounts.filter((m) => m.mountPoint.startsWith(prefix));
    if (pinned.length > 0) {
      throw new BerthError(
        'failed_precondition',
        `${pinned.length} namespaces are still pinned under ${this.nsDir}`,
      );
    }
    await unmountAll(this.nsDir);
    this.nsDirReady = undefined;
  }

  private ensureNsDir(): Promise<void> {
    this.nsDirReady ??= this.makeNsDir().catch((err: unknown) => {
      this.nsDirReady = undefined;
      throw err;
    });
    return this.nsDirReady;
  }

  private async makeNsDir(): Promise<void> {
    for (const k of NAMESPACE_KINDS) await mkdir(path.join(this.nsDir, k), { recursive: true });
    if (await isMountPoint(this.nsDir)) return;
    // Private first, so a bind made on a shared parent leaves the parent's peer group and
    // pins are not propagated back underneath this mount; then shared, so later mount
    // namespaces (containers) keep receiving new pins and their removals.
    await execFile('mount', ['--bind', this.nsDir, this.nsDir]);
    await execFile('mount', ['--make-private', this.nsDir]);
    await execFile('mount', ['--make-shared', this.nsDir]);
  }
}

/**
 * Makes the namespaces of `pins` with a new user namespace first (so the others are owned by it),
 * gives it its mappings and pins every one: the process in them waits on its stdin while berthd
 * (root outside) writes its uid_map and gid_map, as only a process in the parent namespace can, and
 * bind-mounts its namespace files onto the pins; then it exits. (unshare's own `--user=<file>`
 * cannot pin a user namespace: its helper's bind mount is refused with EPERM.)
 */
async function unshareMapped(pins: [NamespaceKind, string][], mappings: IdMappings): Promise<void> {
  const flags = pins.map(([kind]) => `--${kind}`);
  const child = spawn('unshare', [...flags, 'sh', '-c', 'echo ready; read _'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? -1));
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    void exited.then((code) =>
      reject(new Error(stderr.trim() || `unshare exit ${code} before the namespaces were made`)),
    );
  });
  try {
    await ready;
    await writeFile(`/proc/${child.pid}/uid_map`, procMapText(mappings.uids));
    await writeFile(`/proc/${child.pid}/gid_map`, procMapText(mappings.gids));
    for (const [kind, file] of pins)
      await execFile('mount', ['--bind', `/proc/${child.pid}/ns/${kind}`, file]);
  } catch (err) {
    child.kill('SIGKILL');
    await exited.catch(() => undefined);
    throw err;
  }
  child.stdin.end('\n');
  const code = await exited;
  if (code !== 0) throw new Error(stderr.trim() || `unshare exit ${code}`);
}
