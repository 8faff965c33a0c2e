/**
 * Tasks: running containers, each under its own conmon and created by a runtime handler.
 * All state lives on disk under the manager's root, so a new manager (after a daemon restart) sees the
 * same tasks and exits:
 *   <root>/tasks/<id>/      bundle (config.json), task.json, conmon.pid, init.pid, conmon.log, persist/
 *   <root>/exits/<id>       exit code written by conmon
 *   <root>/sock/            conmon attach-socket links
 */
import { constants } from 'node:fs';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crashPoint } from '../common/crash-hooks.js';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  NotFoundError,
  errorMessage,
} from '../common/errors.js';
import { replaceFileAtomically } from '../common/durable-file.js';
import { KeyedMutex } from '../common/keyed-mutex.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { isFrozen, readCgroupStats, removeCgroup, type CgroupStats } from './cgroups.js';
import { attachToConmon, type AttachStreams } from './attach.js';
import { killConmon, launchConmon } from './conmon.js';
import { reopenLogThroughConmon, resizeThroughConmon } from './control.js';
import { execProcess, execSync, type ExecSyncRequest, type ExecSyncResult } from './exec.js';
import { ExitWatcher, readExitFile, waitForExit, type TaskExit } from './exits.js';
import type { CheckpointPaths, HandlerRegistry, RuntimeHandler } from './handler.js';
import type { OciSpec } from './oci-types.js';
import { checkContainerId } from './spec.js';
import { detectHostFacts } from './host.js';
import { buildResources, fitHugepageLimits } from './spec-resources.js';
import type { ResourceRequest } from './spec-request.js';
import type { CreateTaskRequest, TaskManagerOptions, TaskMeta, TaskState } from './task-types.js';

export type { TaskExit } from './exits.js';
export type { CreateTaskRequest, TaskManagerOptions, TaskState, TaskStatus } from './task-types.js';

/** In a task's directory once release() gave back its runtime state and cgroup. */
const RELEASED_MARKER = 'released';

const pathExists = (path: string): Promise<boolean> =>
  access(path, constants.F_OK).then(
    () => true,
    () => false,
  );

/**
 * Creates and drives tasks. Semantics: `create` leaves the container created (not started) with conmon
 * as its parent; `start` runs it; exits are recorded by conmon whether or not any manager is alive;
 * `release` gives back an exited task's runtime state and cgroup but keeps its record; `delete` is
 * idempotent and removes everything the task owned (runtime state, bundle, exit file, cgroup).
 */
export class TaskManager {
  readonly root: string;
  readonly exitDir: string;
  private readonly tasksDir: string;
  private readonly socketDir: string;
  private readonly handlers: HandlerRegistry;
  private readonly conmonPath: string;
  private readonly log: Logger;
  /** release and delete of one task never overlap (the exit monitor releases while a remove deletes). */
  private readonly exclusive = new KeyedMutex();

  constructor(opts: TaskManagerOptions) {
    this.root = opts.root;
    this.exitDir = join(opts.root, 'exits');
    this.tasksDir = join(opts.root, 'tasks');
    this.socketDir = join(opts.root, 'sock');
    this.handlers = opts.handlers;
    this.conmonPath = opts.conmonPath ?? '/usr/bin/conmon';
    this.log = (opts.logger ?? silentLogger).child({ subsystem: 'runtime' });
    this.crashRoot = opts.crashRoot;
  }

  private readonly crashRoot: string | undefined;
  private crashPoint(point: string): void {
    if (this.crashRoot !== undefined) crashPoint(this.crashRoot, point);
  }

  async init(): Promise<void> {
    await Promise.all(
      [this.exitDir, this.tasksDir, this.socketDir].map((d) => mkdir(d, { recursive: true })),
    );
  }

  taskDir(id: string): string {
    return join(this.tasksDir, checkContainerId(id));
  }

  /** An ExitWatcher over this manager's exit directory, reporting OOM kills too. Call `start()` on it. */
  exitWatcher(): ExitWatcher {
    return new ExitWatcher(this.exitDir, (id) => this.readExit(id));
  }

  private async meta(id: string): Promise<TaskMeta> {
    try {
      return JSON.parse(await readFile(join(this.taskDir(id), 'task.json'), 'utf8')) as TaskMeta;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw new NotFoundError(`task ${id} does not exist`);
      throw err;
    }
  }

  /** The task's record; undefined when there is no task. */
  private metaIfAny(id: string): Promise<TaskMeta | undefined> {
    return this.meta(id).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
  }

  private async handlerOf(id: string): Promise<{ meta: TaskMeta; handler: RuntimeHandler }> {
    const meta = await this.meta(id);
    const handler = this.handlers.get(meta.handler);
    await handler.ensureUsable();
    return { meta, handler };
  }

  /** The exit of `id` with OOM evidence (conmon's oom marker or the cgroup's oom_kill counter); undefined while it runs. */
  async readExit(id: string): Promise<TaskExit | undefined> {
    // conmon writes `<id>.XXXXXX` and renames it into place: only names of tasks we hold count.
    const meta = await this.meta(id).catch(() => undefined);
    if (!meta) return undefined;
    const exit = await readExitFile(this.exitDir, id);
    if (!exit) return undefined;
    let oomKilled = await pathExists(join(this.taskDir(id), 'persist', 'oom'));
    if (!oomKilled) {
      const stats = await readCgroupStats(meta.cgroupsPath).catch(() => undefined);
      oomKilled = (stats?.oomKills ?? 0) > 0;
    }
    return { id, exitCode: exit.exitCode, exitedAt: exit.exitedAt, oomKilled };
  }

  /** Writes the bundle and has conmon create the container; returns once the runtime created it. */
  async create(req: CreateTaskRequest): Promise<TaskState> {
    const dir = this.taskDir(req.id);
    const handler = this.handlers.get(req.runtimeHandler);
    await handler.ensureUsable();
    await this.init();
    await this.makeTaskDir(req.id, dir);
    const persistDir = join(dir, 'persist');
    try {
      await mkdir(persistDir);
      await rm(join(this.exitDir, req.id), { force: true });
      await replaceFileAtomically(join(dir, 'config.json'), JSON.stringify(req.spec));
      const meta: TaskMeta = {
        id: req.id,
        handler: handler.name,
        logPath: req.logPath,
        stopSignal: req.stopSignal ?? 'SIGTERM',
        cgroupsPath: req.spec.linux.cgroupsPath,
        conmonPid: 0,
        createdAt: new Date().toISOString(),
        ...(req.stdin ? { stdin: true, ...(req.stdinOnce ? { stdinOnce: true } : {}) } : {}),
        ...(req.spec.process.terminal ? { tty: true } : {}),
        ...(req.restoreFrom ? { restoreFrom: req.restoreFrom } : {}),
        ...(req.logSizeMax !== undefined ? { logSizeMax: req.logSizeMax } : {}),
      };
      // Recorded before conmon starts, so a crash mid-create leaves a task that delete() can find and clean.
      await replaceFileAtomically(join(dir, 'task.json'), JSON.stringify(meta));
      this.crashPoint('task:recorded');
      // A restored task has no process until start restores it.
      const pid = req.restoreFrom ? 0 : await this.launch(meta, handler);
      this.crashPoint('task:created');
      this.log.debug({ id: req.id, pid, handler: handler.name }, 'task created');
      return {
        id: req.id,
        status: 'created',
        pid,
        conmonPid: meta.conmonPid,
        handler: handler.name,
        logPath: req.logPath,
      };
    } catch (err) {
      // Leave nothing behind: the runtime's record, conmon, the cgroup, the bundle.
      await handler.delete(req.id, true).catch(() => undefined);
      await killConmon(dir, req.id);
      await removeCgroup(req.spec.linux.cgroupsPath).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      await rm(join(this.exitDir, req.id), { force: true });
      throw err;
    }
  }

  private async startOnce(id: string, handler: RuntimeHandler): Promise<void> {
    const persist = join(this.taskDir(id), 'persist');
    const failure = await readFile(join(persist, 'start-failed'), 'utf8').catch(() => undefined);
    if (failure !== undefined) throw new FailedPreconditionError(`task ${id} failed to start: ${failure}`);
    const askedBefore = await pathExists(join(persist, 'start-requested'));
    if (!askedBefore) await writeFile(join(persist, 'start-requested'), '');
    try {
      await handler.start(id);
    } catch (err) {
      const st = await this.state(id).catch(() => undefined);
      if (askedBefore && st !== undefined && st.status !== 'created') return; // it started before
      await writeFile(join(persist, 'start-failed'), errorMessage(err)).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Makes the task's folder. One that exists without a task.json is what a create killed before
   * it recorded the task left (nothing was started from it: task.json is written before conmon),
   * so it is removed and made again; one with a task.json is a task: AlreadyExists.
   */
  private async makeTaskDir(id: string, dir: string): Promise<void> {
    try {
      await mkdir(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await pathExists(join(dir, 'task.json'))) throw new AlreadyExistsError(`task ${id} already exists`);
    this.log.warn({ id }, 'removing what an interrupted create of this task left');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
  }

  /**
   * Starts the created task. Run again after a start that happened (a step re-run after a crash),
   * it resolves: the first start left a marker. A start that failed fails again, naming the first
   * failure, instead of passing because the task is no longer "created".
   */
  async start(id: string): Promise<void> {
    const { meta, handler } = await this.handlerOf(id);
    const { restoreFrom } = meta;
    if (!restoreFrom) return this.startOnce(id, handler);
    // launch records the meta once restored; until then task.json on disk still names the images.
    delete meta.restoreFrom;
    await this.launch(meta, handler, restoreFrom);
  }

  /**
   * Has conmon run the runtime's `create` (or `restore` from CRIU images, which leaves the process
   * running) and records conmon's pid; returns the container's init pid.
   */
  private async launch(meta: TaskMeta, handler: RuntimeHandler, restoreFrom?: string): Promise<number> {
    const dir = this.taskDir(meta.id);
    const pid = await launchConmon({
      conmonPath: this.conmonPath,
      id: meta.id,
      bundleDir: dir,
      runtimePath: handler.runtimePath,
      runtimeArgs: handler.globalArgs,
      containerPidFile: join(dir, 'init.pid'),
      conmonPidFile: join(dir, 'conmon.pid'),
      logPath: meta.logPath,
      exitDir: this.exitDir,
      persistDir: join(dir, 'persist'),
      socketDir: this.socketDir,
      conmonLogPath: join(dir, 'conmon.log'),
      tty: meta.tty === true,
      ...(meta.stdin ? { stdin: true, stdinOnce: meta.stdinOnce === true } : {}),
      ...(meta.logSizeMax !== undefined ? { logSizeMax: meta.logSizeMax } : {}),
      ...(restoreFrom ? { restoreFrom, env: handler.restoreEnv() } : {}),
    });
    meta.conmonPid = Number((await readFile(join(dir, 'conmon.pid'), 'utf8')).trim()) || 0;
    await replaceFileAtomically(join(dir, 'task.json'), JSON.stringify(meta));
    return pid;
  }

  /** Sends a signal (name like `SIGTERM` or `KILL`) to the task's init process, or to all its processes. */
  async kill(id: string, signal: string, all = false): Promise<void> {
    const { handler } = await this.handlerOf(id);
    await handler.kill(id, signal, all);
  }

  async state(id: string): Promise<TaskState> {
    const { meta, handler } = await this.handlerOf(id);
    const base = { id, conmonPid: meta.conmonPid, handler: meta.handler, logPath: meta.logPath };
    const exit = await this.readExit(id);
    if (exit) return { ...base, status: 'stopped', pid: 0, exit };
    if (meta.restoreFrom) return { ...base, status: 'created', pid: 0 };
    const rs = await handler.state(id);
    if (!rs || rs.status === 'stopped' || rs.status === 'creating')
      return { ...base, status: 'stopped', pid: 0 };
    return { ...base, status: rs.status, pid: rs.pid };
  }

  /** Resolves with the task's exit, or undefined if it has not exited within `timeoutMs`. */
  async wait(id: string, timeoutMs: number): Promise<TaskExit | undefined> {
    await this.meta(id);
    return waitForExit(this.exitDir, id, (x) => this.readExit(x), timeoutMs);
  }

  /**
   * Stops with a grace period: the stop signal (the given one, else the task's), then SIGKILL to every
   * process of the container if it is still running after `timeoutMs`. Returns the exit.
   */
  async stop(id: string, timeoutMs: number, signal?: string): Promise<TaskExit> {
    await this.meta(id);
    const already = await this.readExit(id);
    if (already) return already;
    if (timeoutMs > 0) {
      await this.signalStop(id, { kill: false, ...(signal ? { signal } : {}) }).catch((err: unknown) =>
        this.ignoreNotRunning(err),
      );
      const exit = await this.wait(id, timeoutMs);
      if (exit) return exit;
    }
    await this.signalStop(id, { kill: true }).catch((err: unknown) => this.ignoreNotRunning(err));
    const exit = await this.wait(id, 30_000);
    if (!exit) throw new FailedPreconditionError(`task ${id} did not exit 30 s after SIGKILL`);
    return exit;
  }

  /**
   * Sends the stop signal (the given one, else the task's) or, with `kill`, SIGKILL to every
   * process. A frozen task takes no signal, so it is thawed first: its cgroup says so without a
   * runtime call, pauses made behind Berth's back included. A task that exits meanwhile is fine.
   */
  async signalStop(id: string, opts: { kill: boolean; signal?: string }): Promise<void> {
    const { meta, handler } = await this.handlerOf(id);
    if (meta.restoreFrom) {
      // Never restored, so no process: it ends as a created container killed before it ran.
      await writeFile(join(this.exitDir, id), '137');
      return;
    }
    if (await isFrozen(meta.cgroupsPath)) await handler.resume(id);
    const signal = opts.kill ? 'SIGKILL' : (opts.signal ?? meta.stopSignal);
    await handler.kill(id, signal, opts.kill).catch(async (err: unknown) => {
      // The task may exit between the look and the kill: that is what was wanted.
      if (await this.readExit(id)) return;
      throw err;
    });
  }

  private ignoreNotRunning(err: unknown): void {
    if (err instanceof NotFoundError) return;
    if (
      err instanceof Error &&
      /not running|process already finished|container not running/i.test(err.message)
    )
      return;
    throw err;
  }

  /**
   * Gives back what an exited task holds in the node, as containerd deletes a task when it exits:
   * the runtime's state, a conmon still around, the cgroup. The bundle, the exit file and the OOM
   * evidence stay, so state, readExit and delete answer as before. Returns false, doing nothing,
   * while the task has not exited (or does not exist); true once released, however often called.
   */
  release(id: string): Promise<boolean> {
    return this.exclusive.run(id, async () => {
      const meta = await this.metaIfAny(id);
      if (!meta) return false;
      const marker = join(this.taskDir(id), RELEASED_MARKER);
      if (await pathExists(marker)) return true;
      const exit = await this.readExit(id);
      if (!exit) return false;
      // The cgroup's oom_kill counter is OOM evidence that goes with the cgroup: keep it as conmon's marker.
      if (exit.oomKilled) await writeFile(join(this.taskDir(id), 'persist', 'oom'), '', { flag: 'a' });
      await this.releaseRuntime(id, meta);
      await writeFile(marker, '');
      return true;
    });
  }

  /**
   * Removes the task. A task still running is refused unless `force`, which kills it first.
   * Idempotent: deleting an unknown id succeeds.
   */
  delete(id: string, force = false): Promise<void> {
    return this.exclusive.run(id, async () => {
      const meta = await this.metaIfAny(id);
      if (!meta) return;
      if (!(await pathExists(join(this.taskDir(id), RELEASED_MARKER)))) {
        // An exit file settles it without asking the runtime (one process spawn less on the hot path).
        if (!(await this.readExit(id))) {
          const handler = this.handlers.get(meta.handler);
          await handler.ensureUsable();
          const rs = await handler.state(id);
          if (rs && rs.status !== 'stopped') {
            if (!force)
              throw new FailedPreconditionError(
                `task ${id} is ${rs.status}: stop it first or delete with force`,
              );
            await this.stop(id, 0);
          }
        }
        await this.releaseRuntime(id, meta);
      }
      await rm(join(this.exitDir, id), { force: true });
      await rm(this.taskDir(id), { recursive: true, force: true });
    });
  }

  /** The runtime's record, a stray conmon (killed container, lost runtime) and the cgroup. */
  private async releaseRuntime(id: string, meta: TaskMeta): Promise<void> {
    const handler = this.handlers.get(meta.handler);
    await handler.ensureUsable();
    await handler.delete(id, true);
    // conmon exits right after writing the exit file; one still there is stray.
    await killConmon(this.taskDir(id), id, meta.conmonPid);
    await removeCgroup(meta.cgroupsPath).catch((err: unknown) =>
      this.log.warn({ id, err }, 'cgroup left behind'),
    );
  }

  /** Whether the task's cgroup is frozen (paused, by Berth or behind its back); NotFoundError without a task. */
  async frozen(id: string): Promise<boolean> {
    return isFrozen((await this.meta(id)).cgroupsPath);
  }

  async pause(id: string): Promise<void> {
    const { handler } = await this.handlerOf(id);
    await handler.pause(id);
  }

  async resume(id: string): Promise<void> {
    const { handler } = await this.handlerOf(id);
    await handler.resume(id);
  }

  /** Checkpoints the running task with CRIU into `paths.imagePath`, leaving it running. */
  async checkpoint(id: string, paths: CheckpointPaths, timeoutMs?: number): Promise<void> {
    const { handler } = await this.handlerOf(id);
    await handler.checkpoint(id, paths, timeoutMs);
  }

  /** Applies new limits to a running task and records them in its bundle. */
  async update(id: string, resources: ResourceRequest): Promise<void> {
    const { handler } = await this.handlerOf(id);
    const oci = buildResources(resources);
    fitHugepageLimits(oci, (await detectHostFacts()).hugetlbController);
    await handler.update(id, oci);
    const spec = await this.spec(id);
    spec.linux.resources = { ...spec.linux.resources, ...oci };
    await replaceFileAtomically(join(this.taskDir(id), 'config.json'), JSON.stringify(spec));
  }

  /** The OCI spec the task was created with (its bundle's config.json, updated resources included). */
  async spec(id: string): Promise<OciSpec> {
    return JSON.parse(await readFile(join(this.taskDir(id), 'config.json'), 'utf8')) as OciSpec;
  }

  /** Runs a process in the task and returns its output; see ExecSyncResult.timedOut. */
  async execSync(id: string, req: ExecSyncRequest): Promise<ExecSyncResult> {
    const { handler } = await this.handlerOf(id);
    const spec = await this.spec(id);
    const st = await this.state(id);
    if (st.status !== 'running') throw new FailedPreconditionError(`task ${id} is ${st.status}, not running`);
    return execSync(
      handler,
      id,
      this.taskDir(id),
      execProcess(spec.process, req),
      req.timeoutMs,
      req.onStarted,
    );
  }

  /** CPU, memory working set and pids of the task's cgroup; NotFound once the cgroup is gone. */
  /** The task's cgroup path (relative to the hierarchy's root), as given in its spec. */
  async cgroupPath(id: string): Promise<string> {
    return (await this.meta(id)).cgroupsPath;
  }

  async stats(id: string): Promise<CgroupStats> {
    const meta = await this.meta(id);
    const stats = await readCgroupStats(meta.cgroupsPath);
    if (!stats) throw new NotFoundError(`task ${id} has no cgroup at ${meta.cgroupsPath}`);
    return stats;
  }

  /** Asks conmon to reopen the log file (after rotation moved it away) through its control FIFO. */
  async reopenLog(id: string): Promise<void> {
    await this.meta(id);
    await reopenLogThroughConmon(this.taskDir(id), id);
  }

  /**
   * Attaches to the task's main process until it exits or the session is aborted. Input is
   * forwarded only if the task was created with stdin; with a tty all output arrives as stdout.
   */
  async attach(id: string, streams: AttachStreams): Promise<void> {
    const meta = await this.meta(id);
    const { stdin, ...rest } = streams;
    await attachToConmon(this.taskDir(id), meta.stdin && stdin ? { ...rest, stdin } : rest);
  }

  /** Resizes the terminal of a task created with one; a task without a tty is refused. */
  async resize(id: string, size: { width: number; height: number }): Promise<void> {
    const meta = await this.meta(id);
    if (!meta.tty) throw new FailedPreconditionError(`task ${id} has no terminal to resize`);
    await resizeThroughConmon(this.taskDir(id), id, size);
  }
}
