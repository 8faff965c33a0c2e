/**
 * Runtime handlers: the OCI runtimes (runc, crun, runsc) a container can run under, chosen per RuntimeClass.
 * A handler knows how to invoke its binary; conmon runs `create` through it, everything else is called here.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execFileCapture, type ExecResult } from '../common/exec.js';
import { FailedPreconditionError, NotFoundError } from '../common/errors.js';
import type { OciResources } from './oci-types.js';
import { criuErrors, runtimeErrorText } from './conmon.js';
import { probeRuntime } from './handler-probe.js';

/** Status of a container as its OCI runtime reports it (`runc state`). */
export interface RuntimeState {
  id: string;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  pid: number;
  bundle: string;
}

/**
 * One OCI runtime (runc or crun) with its binary and state root. Semantics:
 * - `runtimePath` + `globalArgs` is how conmon must invoke it (`-r` and `--runtime-arg`).
 * - `ensureUsable` checks once that the runtime can create containers on this host and throws a
 *   FailedPreconditionError with the runtime's own reason otherwise; it never hangs.
 * - Operations on an id the runtime does not know throw NotFoundError; `delete` of an unknown id
 *   succeeds (idempotent) and `state` of one returns undefined.
 */
export interface RuntimeHandler {
  /** The RuntimeClass handler name, e.g. `runc`. */
  readonly name: string;
  readonly runtimePath: string;
  readonly globalArgs: readonly string[];
  ensureUsable(): Promise<void>;
  start(id: string): Promise<void>;
  /** Sends `signal` to the init process (all processes of the container with `all`). */
  kill(id: string, signal: string, all?: boolean): Promise<void>;
  state(id: string): Promise<RuntimeState | undefined>;
  delete(id: string, force?: boolean): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Applies new cgroup limits to a running container. */
  update(id: string, resources: OciResources): Promise<void>;
  /** Argument list (after the binary) for `exec` of a process.json, writing the process pid to `pidFile`. */
  execArgs(id: string, processJsonPath: string, pidFile: string): string[];
  /**
   * Whether pods with their own user namespace run here: the runtime joins a user namespace and
   * makes idmapped bind mounts (the OCI mounts' uidMappings/gidMappings). Answered once.
   */
  userNamespaces(): Promise<boolean>;
  /**
   * Checkpoints the running container with CRIU, leaving it running: CRIU's image files go to
   * `imagePath`, its log to `workPath`. What CRIU cannot dump (an external unix socket, an
   * established TCP connection) is a FailedPreconditionError with CRIU's reason; a handler that
   * cannot checkpoint at all says so the same way.
   */
  checkpoint(id: string, paths: CheckpointPaths, timeoutMs?: number): Promise<void>;
  /** Variables the runtime needs in its environment to restore from CRIU images (empty if none). */
  restoreEnv(): Record<string, string>;
}

export interface CheckpointPaths {
  imagePath: string;
  workPath: string;
}

const NOT_FOUND = /does not exist|not found|no such container|container .* not exist/i;
const TIMEOUT_MS = 30_000;

/** Shared behaviour of runc-compatible command lines (runc and crun accept the same verbs). */
class OciCommandHandler implements RuntimeHandler {
  runtimePath: string;
  globalArgs: readonly string[];
  protected usable: Promise<void> | undefined;

  constructor(
    readonly name: string,
    protected readonly binary: string,
    protected readonly root: string,
  ) {
    this.runtimePath = binary;
    this.globalArgs = ['--root', root];
  }

  ensureUsable(): Promise<void> {
    this.usable ??= probeRuntime(this.runtimePath, this.globalArgs).then((failure) => {
      if (failure)
        throw new FailedPreconditionError(
          `runtime handler ${this.name} cannot run containers here: ${failure}`,
        );
    });
    return this.usable;
  }

  protected async run(args: string[], what: string, id: string): Promise<ExecResult> {
    const r = await execFileCapture(this.runtimePath, [...this.globalArgs, ...args], {
      timeoutMs: TIMEOUT_MS,
    });
    if (r.code !== 0) {
      const why = (r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`).replace(/\s+/g, ' ');
      if (NOT_FOUND.test(why)) throw new NotFoundError(`${this.name} ${what} ${id}: container not found`);
      throw new FailedPreconditionError(`${this.name} ${what} ${id}: ${why}`);
    }
    return r;
  }

  restoreEnv(): Record<string, string> {
    return {};
  }

  async start(id: string): Promise<void> {
    await this.run(['start', id], 'start', id);
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    await this.run(['kill', ...(all ? ['--all'] : []), id, signal.replace(/^SIG/, '')], 'kill', id);
  }

  async state(id: string): Promise<RuntimeState | undefined> {
    try {
      const r = await this.run(['state', id], 'state', id);
      const raw = JSON.parse(r.stdout) as {
        id: string;
        status: RuntimeState['status'];
        pid: number;
        bundle: string;
      };
      return { id: raw.id, status: raw.status, pid: raw.pid, bundle: raw.bundle };
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  async delete(id: string, force = false): Promise<void> {
    try {
      await this.run(['delete', ...(force ? ['--force'] : []), id], 'delete', id);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }

  async pause(id: string): Promise<void> {
    await this.run(['pause', id], 'pause', id);
  }

  async resume(id: string): Promise<void> {
    await this.run(['resume', id], 'resume', id);
  }

  async update(id: string, resources: OciResources): Promise<void> {
    const args = ['update', '--resources', '-', id];
    const r = await execFileCapture(this.runtimePath, [...this.globalArgs, ...args], {
      input: JSON.stringify(resources),
      timeoutMs: TIMEOUT_MS,
    });
    if (r.code !== 0) {
      const why = (r.stderr.trim() || `exit ${r.code}`).replace(/\s+/g, ' ');
      if (NOT_FOUND.test(why)) throw new NotFoundError(`${this.name} update ${id}: container not found`);
      throw new FailedPreconditionError(`${this.name} update ${id}: ${why}`);
    }
  }

  execArgs(id: string, processJsonPath: string, pidFile: string): string[] {
    return [...this.globalArgs, 'exec', '--process', processJsonPath, '--pid-file', pidFile, id];
  }

  userNamespaces(): Promise<boolean> {
    return Promise.resolve(false);
  }

  checkpoint(id: string, _paths: CheckpointPaths, _timeoutMs?: number): Promise<void> {
    return Promise.reject(
      new FailedPreconditionError(
        `runtime handler ${this.name} does not checkpoint containers (container ${id}); runc does, with CRIU`,
      ),
    );
  }
}

export interface HandlerOptions {
  /** Path of the runtime binary. */
  binary?: string;
  /** The runtime's state directory (`--root`). */
  root: string;
}

export interface RuncOptions extends HandlerOptions {
  /** CRIU, which runc runs to checkpoint (runc looks it up on PATH; its folder is put first). */
  criu?: string;
}

/**
 * runc: the default handler (runc 1.5 built by setup; Debian's 1.1 as `runc-debian`). Idmapped
 * bind mounts, and so user-namespaced pods, need runc 1.2 or later.
 */
export class RuncHandler extends OciCommandHandler {
  private idmaps: Promise<boolean> | undefined;

  private readonly criu: string | undefined;

  constructor(opts: RuncOptions, name = 'runc') {
    super(name, opts.binary ?? '/usr/sbin/runc', opts.root);
    this.criu = opts.criu;
  }

  override async checkpoint(id: string, paths: CheckpointPaths, timeoutMs = TIMEOUT_MS): Promise<void> {
    if (!this.criu?.startsWith('/'))
      throw new FailedPreconditionError(
        `${this.name} checkpoint ${id}: CRIU was not found on PATH (./scripts/setup builds criu into the tools folder)`,
      );
    // --leave-running: a checkpoint is a copy (KEP-2008's forensic use), not a move.
    const args = [
      'checkpoint',
      '--image-path',
      paths.imagePath,
      '--work-path',
      paths.workPath,
      '--leave-running',
      id,
    ];
    const r = await execFileCapture(this.runtimePath, [...this.globalArgs, ...args], {
      env: { ...process.env, ...this.criuEnv() },
      timeoutMs,
      killGroupOnTimeout: true,
    });
    if (r.code === 0) return;
    const why = runtimeErrorText(r.stderr) || `exit ${r.code}`;
    if (NOT_FOUND.test(why)) throw new NotFoundError(`${this.name} checkpoint ${id}: container not found`);
    const log = await readFile(join(paths.workPath, 'dump.log'), 'utf8').catch(() => '');
    // Killed at the deadline, runc and its CRIU with it (a CRIU waiting for a trap that never
    // comes): say so, with where CRIU stopped, instead of leaving the caller to its own deadline.
    if (r.signal === 'SIGKILL')
      throw new FailedPreconditionError(
        `${this.name} checkpoint ${id}: CRIU did not finish within ${Math.round(timeoutMs / 1000)} s and was stopped; ` +
          `its log ends: ${JSON.stringify(log.trim().split('\n').at(-1) ?? '')}`,
      );
    const criu = criuErrors(log);
    throw new FailedPreconditionError(
      `${this.name} checkpoint ${id}: CRIU could not dump the container: ${criu.length > 0 ? criu.join('; ') : why}`,
    );
  }

  override restoreEnv(): Record<string, string> {
    return this.criu?.startsWith('/') ? this.criuEnv() : {};
  }

  /**
   * runc finds CRIU on PATH, so its folder goes first. CRIU_FAULT=130 is CRIU's switch (named
   * FI_NO_BREAKPOINTS among its fault-injection points) for stopping a task on its way out of the
   * parasite by tracing syscalls instead of with a hardware breakpoint: some virtual machines
   * (this project's Firecracker guests; Xen guests, for which CRIU once made it the default)
   * never deliver debug-register traps, and CRIU then waits forever for the task to trap, on dump
   * and on restore alike. The fallback costs a few more ptrace stops per task.
   */
  private criuEnv(): Record<string, string> {
    return { PATH: `${dirname(this.criu ?? '')}:${process.env.PATH ?? ''}`, CRIU_FAULT: '130' };
  }

  override userNamespaces(): Promise<boolean> {
    this.idmaps ??= execFileCapture(this.runtimePath, ['--version'], { timeoutMs: TIMEOUT_MS }).then((r) => {
      const version = /runc version (\d+)\.(\d+)/.exec(r.stdout);
      return version !== null && Number(version[1]) * 1000 + Number(version[2]) >= 1002;
    });
    return this.idmaps;
  }
}

/**
 * runsc (gVisor): containers under a user-space kernel. It speaks runc's command line; each
 * container is a gVisor sandbox of its own in the pod's namespaces. Networking is the pod network
 * namespace's own stack (`--network=host`, host meaning the namespace the sandbox joined): the
 * pod's containers share it as under runc, and Debian's runsc (2022-12) refuses its own netstack
 * on a namespace given by path ("cannot run with network enabled in root network namespace": it
 * checks the process's namespace, not the thread that joined). Seccomp is gVisor's own (runsc
 * ignores the OCI profile); `update` is refused by runsc, with its reason.
 */
export class RunscHandler extends OciCommandHandler {
  constructor(opts: HandlerOptions, name = 'runsc') {
    super(name, opts.binary ?? '/usr/bin/runsc', opts.root);
    this.globalArgs = ['--root', opts.root, '--network=host'];
  }
}

export interface CrunOptions extends HandlerOptions {
  /** Where the hybrid-cgroup wrapper script is written when one is needed. */
  wrapperDir: string;
}

/**
 * crun 1.8 refuses hosts with cgroup v1 controllers plus a cgroup2 mount that holds controllers
 * ("hybrid mode"). When that is the refusal, crun is run through a wrapper that gives each invocation
 * a private mount namespace with /sys/fs/cgroup/unified unmounted, so crun sees a pure v1 host; the
 * container inherits that view. If crun still fails, the handler reports crun's reason.
 */
export class CrunHandler extends OciCommandHandler {
  private readonly wrapperDir: string;

  constructor(opts: CrunOptions, name = 'crun') {
    super(name, opts.binary ?? '/usr/bin/crun', opts.root);
    this.wrapperDir = opts.wrapperDir;
  }

  /** True once the wrapper is in use. */
  get usesHybridWrapper(): boolean {
    return this.runtimePath !== this.binary;
  }

  override ensureUsable(): Promise<void> {
    this.usable ??= (async () => {
      const direct = await probeRuntime(this.binary, this.globalArgs);
      if (!direct) return;
      if (!/hybrid mode not supported/i.test(direct)) {
        throw new FailedPreconditionError(
          `runtime handler ${this.name} cannot run containers here: ${direct}`,
        );
      }
      const wrapper = await this.writeWrapper();
      const wrapped = await probeRuntime(wrapper, this.globalArgs);
      if (wrapped) {
        throw new FailedPreconditionError(
          `runtime handler ${this.name} cannot run containers here: ${direct.trim()}; running it with the cgroup2 mount hidden also failed: ${wrapped}`,
        );
      }
      this.runtimePath = wrapper;
    })();
    return this.usable;
  }

  private async writeWrapper(): Promise<string> {
    await mkdir(this.wrapperDir, { recursive: true });
    const path = join(this.wrapperDir, `${this.name}-hybrid-wrapper`);
    const quoted = `'${this.binary.replaceAll("'", "'\\''")}'`;
    // unshare -m makes the new namespace's mounts private, so the umount never reaches the host.
    const script = [
      '#!/bin/sh',
      '# Generated by berth: run crun with the cgroup2 mount of this hybrid host hidden.',
      `exec unshare -m /bin/sh -c 'umount /sys/fs/cgroup/unified || exit 125; exec "$0" "$@"' ${quoted} "$@"`,
      '',
    ].join('\n');
    await writeFile(path, script);
    await chmod(path, 0o755);
    return path;
  }
}

/** Handlers by RuntimeClass name; an unknown name is a NotFoundError listing the known ones. */
export class HandlerRegistry {
  private readonly handlers = new Map<string, RuntimeHandler>();

  constructor(
    handlers: RuntimeHandler[],
    readonly defaultName = 'runc',
  ) {
    for (const h of handlers) this.handlers.set(h.name, h);
  }

  get(name: string | undefined): RuntimeHandler {
    const key = name || this.defaultName;
    const h = this.handlers.get(key);
    if (!h) {
      throw new NotFoundError(
        `runtime handler "${key}" is not configured (known: ${[...this.handlers.keys()].join(', ')})`,
      );
    }
    return h;
  }
}
