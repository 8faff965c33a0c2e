/**
 * ContainerService: the one place the API, the CLI routes and the CRI gateway go through for
 * containers and their tasks. Writes (create, start, stop, remove) run as workflows through the
 * TransitionRunner; reads (get, list, status) come from the projections; operations that change
 * nothing recorded (exec, logs, stats, reopenLog) call the runtime directly.
 *
 * The image and the sandbox are resolved here, before any workflow starts, so bad input (an
 * unknown image, sandbox or runtime handler) is refused with nothing created.
 */
import type { Readable, Writable } from 'node:stream';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from '../common/errors.js';
import { callerField } from '../common/caller.js';
import { containerResourcesOf } from '../events/index.js';
import type { ContainerRecord, ContainerResources, TaskRecord } from '../events/projections/state.js';
import type { CgroupStats } from '../runtime/cgroups.js';
import type { ExecSyncResult } from '../runtime/exec.js';
import type { LogEntry } from '../runtime/logs.js';
import type { ResourceRequest } from '../runtime/spec-request.js';
import {
  containerWorkflowIds,
  type ContainerExit,
  type CreatedContainer,
} from '../workflows/container-types.js';
import { checkpointToArchive, type CheckpointResult } from './container-checkpoint.js';
import { execCommand, execStreaming, type ExecStreams } from './container-exec.js';
import { containerLogs, type LogsOptions } from './container-logs.js';
import { recordOutsideExec, recordOutsideExecExit, recordedExec } from './exec-events.js';
import {
  resolveCreateRequest,
  type ContainerImages,
  type ContainerSandboxes,
  type CreateContainerRequest,
} from './container-request.js';
import type { NodeServices } from './node-services.js';
import type { TransitionRunner } from './transitions.js';
import { podAttribute, type TransitionSubject } from './search-attributes.js';

export type { ExecStreams } from './container-exec.js';
export type { LogsOptions } from './container-logs.js';
export {
  DEFAULT_NAMESPACE,
  type ContainerImages,
  type ContainerSandboxes,
  type CreateContainerRequest,
} from './container-request.js';
export type { ContainerProcessConfig } from '../workflows/container-types.js';

export type ContainerState = 'created' | 'running' | 'paused' | 'exited' | 'unknown';

export interface ContainerStatus {
  id: string;
  namespace: string;
  name: string;
  image: string;
  imageDigest?: string;
  sandboxId?: string;
  runtime?: string;
  state: ContainerState;
  pid?: number;
  createdAt: string;
  startedAt?: string;
  exitCode?: number;
  exitedAt?: string;
  /** `OOMKilled`, `Completed` (exit 0) or `Error`; only once exited. */
  reason?: 'OOMKilled' | 'Completed' | 'Error';
  logPath?: string;
  /** The process user it runs as; absent for containers recorded before Berth kept it. */
  user?: { uid: number; gid: number; additionalGids: number[] };
  /** The signal a stop sends first; absent for containers recorded before Berth kept it. */
  stopSignal?: string;
  /** The CPU and memory limits in force (created with, then updated); absent when none were set. */
  resources?: ContainerResources;
  /** Manifest digests of the images mounted as its image volumes. */
  imageVolumes?: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface ContainerFilter {
  namespace?: string;
  sandboxId?: string;
  state?: ContainerState;
  /** Every label given must match. */
  labels?: Record<string, string>;
}

export interface ContainerStats extends CgroupStats {
  id: string;
  /** Bytes used by the container's writable layer. */
  writableLayerBytes?: number;
  writableLayerInodes?: number;
  /** Where the writable layer lives: the snapshots folder, ImageFsInfo's container filesystem. */
  writableLayerPath?: string;
  timestamp: string;
}

export class ContainerService {
  constructor(
    private readonly transitions: TransitionRunner,
    private readonly node: () => NodeServices,
    private readonly images: () => ContainerImages | undefined,
    private readonly sandboxes: () => ContainerSandboxes | undefined,
  ) {}

  /** Creates the container (rootfs, spec, task created under conmon); returns its record. */
  async create(req: CreateContainerRequest): Promise<ContainerStatus> {
    const args = await resolveCreateRequest(req, this.node(), this.images(), this.sandboxes());
    const existing = this.node()
      .events.projections.list('containers', args.namespace)
      .find(
        (c) =>
          c.name === args.name && c.sandboxId === args.sandboxId && (c.attempt ?? 0) === (args.attempt ?? 0),
      );
    if (existing && req.exclusive)
      throw new AlreadyExistsError(`name "${args.name}" is already in use by container ${existing.id}`);
    if (existing) return this.status(existing.id);
    const created = await this.transitions.run<CreatedContainer>({
      workflowType: 'createContainer',
      workflowId: containerWorkflowIds.create(
        this.node().config.nodeId,
        args.namespace,
        args.sandboxId,
        args.name,
        req.attempt ?? 0,
      ),
      args: [args],
      // A request in flight is joined; after a finished create whose container is gone (removed),
      // the same name may be created again.
      onFinished: 'again',
      subject: {
        ...this.podSubject(args.namespace, args.sandboxId),
        container: args.name,
        image: args.image,
      },
    });
    return this.status(created.id);
  }

  async start(idOrPrefix: string): Promise<ContainerStatus> {
    const c = this.record(idOrPrefix);
    await this.transitions.run({
      workflowType: 'startContainer',
      workflowId: containerWorkflowIds.start(c.id),
      args: [{ namespace: c.namespace, id: c.id }],
      onFinished: 'recorded',
      subject: this.subjectOf(c),
    });
    return this.status(c.id);
  }

  /** Stop signal, then SIGKILL after `timeoutSeconds` if still running; resolves once it has exited. */
  async stop(idOrPrefix: string, timeoutSeconds = 10): Promise<ContainerStatus> {
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0)
      throw new InvalidArgumentError(`timeout: ${timeoutSeconds} is not a non-negative number of seconds`);
    const c = this.record(idOrPrefix);
    await this.transitions.run<ContainerExit | null>({
      workflowType: 'stopContainer',
      workflowId: containerWorkflowIds.stop(c.id),
      args: [{ namespace: c.namespace, id: c.id, timeoutSeconds }],
      onFinished: 'again',
      subject: this.subjectOf(c),
    });
    return this.status(c.id);
  }

  /** Removes the container, its task, rootfs and (Berth-chosen) log; `force` kills a running task. */
  async remove(idOrPrefix: string, opts: { force?: boolean } = {}): Promise<void> {
    const c = this.record(idOrPrefix);
    await this.transitions.run({
      workflowType: 'removeContainer',
      workflowId: containerWorkflowIds.remove(c.id),
      args: [{ namespace: c.namespace, id: c.id, force: opts.force === true }],
      // A refused remove (running, no force) must not stand in for a later forced one.
      onFinished: 'again',
      subject: this.subjectOf(c),
    });
  }

  /** The search attributes of a container's transitions (search-attributes.ts). */
  private subjectOf(c: ContainerRecord): TransitionSubject {
    return { ...this.podSubject(c.namespace, c.sandboxId), container: c.name ?? c.id, image: c.image };
  }

  private podSubject(namespace: string, sandboxId: string | undefined): TransitionSubject {
    const sandbox = sandboxId && this.node().events.projections.get('sandboxes', namespace, sandboxId);
    return { namespace, ...(sandbox ? { pod: podAttribute(sandbox) } : {}) };
  }

  /** The container an id, a unique id prefix or a name (in any namespace) denotes. */
  private record(idOrPrefix: string): ContainerRecord {
    if (!idOrPrefix) throw new InvalidArgumentError('a container id is required');
    const all = this.node().events.projections.list('containers');
    const exact = all.find((c) => c.id === idOrPrefix);
    if (exact) return exact;
    const matches = all.filter((c) => c.id.startsWith(idOrPrefix) || c.name === idOrPrefix);
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1)
      throw new InvalidArgumentError(
        `"${idOrPrefix}" matches ${matches.length} containers: give more of the id`,
      );
    throw new NotFoundError(`container "${idOrPrefix}" not found`);
  }

  get(idOrPrefix: string): ContainerStatus {
    return this.toStatus(this.record(idOrPrefix));
  }

  status(idOrPrefix: string): ContainerStatus {
    return this.get(idOrPrefix);
  }

  list(filter: ContainerFilter = {}): ContainerStatus[] {
    return this.node()
      .events.projections.list('containers', filter.namespace)
      .map((c) => this.toStatus(c))
      .filter(
        (s) =>
          (!filter.sandboxId || s.sandboxId === filter.sandboxId) &&
          (!filter.state || s.state === filter.state) &&
          Object.entries(filter.labels ?? {}).every(([k, v]) => s.labels[k] === v),
      )
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  private toStatus(c: ContainerRecord): ContainerStatus {
    const t: TaskRecord | undefined = this.node().events.projections.get('tasks', c.namespace, c.id);
    const state: ContainerState = !t ? 'unknown' : t.status === 'stopped' ? 'exited' : t.status;
    const exited = state === 'exited';
    return {
      id: c.id,
      namespace: c.namespace,
      name: c.name ?? c.id,
      image: c.image,
      ...(c.imageDigest ? { imageDigest: c.imageDigest } : {}),
      ...(c.sandboxId ? { sandboxId: c.sandboxId } : {}),
      ...(c.runtime ? { runtime: c.runtime } : {}),
      state,
      ...(t?.pid && !exited ? { pid: t.pid } : {}),
      createdAt: c.createdAt,
      ...(t?.startedAt ? { startedAt: t.startedAt } : {}),
      ...(exited && t?.exitCode !== undefined ? { exitCode: t.exitCode } : {}),
      ...(exited && t?.exitedAt ? { exitedAt: t.exitedAt } : {}),
      ...(exited ? { reason: t?.oomKilled ? 'OOMKilled' : t?.exitCode === 0 ? 'Completed' : 'Error' } : {}),
      ...(c.logPath ? { logPath: c.logPath } : {}),
      ...(c.user ? { user: c.user } : {}),
      ...(c.stopSignal ? { stopSignal: c.stopSignal } : {}),
      ...(c.resources ? { resources: c.resources } : {}),
      ...(c.imageVolumes ? { imageVolumes: c.imageVolumes } : {}),
      labels: c.labels,
      annotations: c.annotations ?? {},
    };
  }

  /** Runs a command in the running container and returns its output (CRI ExecSync). */
  async execSync(idOrPrefix: string, cmd: string[], timeoutSeconds = 0): Promise<ExecSyncResult> {
    const c = this.running(idOrPrefix);
    const { events, tasks, logger } = this.node();
    return recordedExec(events, logger, c, cmd, 'execSync', (onStarted) =>
      tasks.execSync(c.id, { args: cmd, timeoutMs: timeoutSeconds * 1000, onStarted }),
    );
  }

  /**
   * Runs a command in the container wired to the given streams (the CRI streaming server's Exec,
   * `berth exec -it`); resolves with its exit code.
   */
  async exec(idOrPrefix: string, cmd: string[], streams: ExecStreams): Promise<number> {
    const c = this.running(idOrPrefix);
    const node = this.node();
    return recordedExec(node.events, node.logger, c, cmd, 'exec', (onStarted) =>
      execStreaming(node, c.id, cmd, { ...streams, onStarted }),
    );
  }

  /** The runtime command line of an exec, for the local CLI to run with its own terminal. */
  async execCommand(
    idOrPrefix: string,
    cmd: string[],
    tty: boolean,
    size?: { width: number; height: number },
  ): Promise<{ argv: string[]; processFile: string; execId: string }> {
    const c = this.running(idOrPrefix);
    const node = this.node();
    const { argv, processFile, pidFile } = await execCommand(node, c.id, cmd, tty, size);
    // The CLI runs the runtime itself: berthd records the exec, its start from the runtime's pid
    // file, and its exit when the CLI reports it (execCommandExited).
    const execId = await recordOutsideExec(node.events, node.logger, c, cmd, 'execCommand', pidFile);
    return { argv, processFile, execId };
  }

  /** Records the exit of an exec the CLI ran itself (execCommand); NotFound for an exec not in flight. */
  async execCommandExited(idOrPrefix: string, execId: string, exitCode: number): Promise<void> {
    const c = this.record(idOrPrefix);
    if (!this.node().events.projections.get('tasks', c.namespace, c.id)?.execs[execId])
      throw new NotFoundError(`container ${c.id} has no exec ${JSON.stringify(execId)} in flight`);
    await recordOutsideExecExit(this.node().events, c, execId, exitCode);
  }

  /**
   * Attaches to the running container's main process through its conmon: output from now on, input
   * if the container was created with stdin, terminal resizes if with a tty. Resolves when the
   * process exits or `signal` aborts (the process goes on).
   */
  async attach(
    idOrPrefix: string,
    streams: {
      stdin?: Readable;
      stdout?: Writable;
      stderr?: Writable;
      resize?: AsyncIterable<{ width: number; height: number }>;
      signal?: AbortSignal;
    },
  ): Promise<void> {
    const c = this.running(idOrPrefix);
    const tasks = this.node().tasks;
    const { resize, ...io } = streams;
    if (resize)
      void (async () => {
        for await (const size of resize)
          await tasks.resize(c.id, size).catch((err: unknown) => {
            this.node().logger.debug({ id: c.id, err }, 'terminal resize not applied');
          });
      })();
    await tasks.attach(c.id, io);
  }

  private running(idOrPrefix: string): ContainerRecord {
    const c = this.record(idOrPrefix);
    const s = this.toStatus(c);
    if (s.state !== 'running')
      throw new FailedPreconditionError(`container ${c.id} is ${s.state}, not running`);
    return c;
  }

  async stats(idOrPrefix: string): Promise<ContainerStats> {
    const c = this.record(idOrPrefix);
    const node = this.node();
    const cg = await node.tasks.stats(c.id);
    // Measured behind the call and at most 10 s old, as containerd's: kubelet asks for every
    // container's stats at once, and a du pass per container made that a process storm.
    const usage = c.snapshotKey ? node.snapshotUsage.activeUsage(c.snapshotKey) : undefined;
    return {
      id: c.id,
      ...cg,
      ...(usage
        ? {
            writableLayerBytes: usage.size,
            writableLayerInodes: usage.inodes,
            writableLayerPath: node.layout.snapshotsDir,
          }
        : {}),
      timestamp: new Date().toISOString(),
    };
  }

  /**
   * Applies new resource limits to the running task without a restart (CRI
   * UpdateContainerResources, in-place resize) and records them. A memory limit below what the
   * container holds and cannot give back (its working set) is refused before anything changes:
   * the kernel would OOM-kill it (cgroup v2) or fail half-way (v1).
   */
  async update(idOrPrefix: string, resources: ResourceRequest): Promise<void> {
    const c = this.running(idOrPrefix);
    const node = this.node();
    const limit = resources.memoryLimitBytes;
    if (limit !== undefined && limit > 0) {
      const { memoryWorkingSetBytes: inUse } = await node.tasks.stats(c.id);
      if (limit < inUse)
        throw new FailedPreconditionError(
          `container ${c.id}: memory limit ${limit} bytes is below its working set of ${inUse} bytes; free memory in the container first or choose a higher limit`,
        );
    }
    await node.tasks.update(c.id, resources);
    await node.events.append({
      namespace: c.namespace,
      topic: '/containers/update',
      data: { v: 1, id: c.id, resources: containerResourcesOf(resources) },
      cause: { kind: 'api', call: 'update', ...callerField() },
    });
  }

  /**
   * Freezes (or thaws) every process of the running task. Not a workflow: one runtime call with
   * nothing to compensate; the event is recorded with an `api` cause.
   */
  async pause(idOrPrefix: string): Promise<ContainerStatus> {
    const c = this.running(idOrPrefix);
    const node = this.node();
    await node.tasks.pause(c.id);
    await node.events.append({
      namespace: c.namespace,
      topic: '/tasks/paused',
      data: { v: 1, containerId: c.id },
      cause: { kind: 'api', call: 'pause', ...callerField() },
    });
    return this.status(c.id);
  }

  async resume(idOrPrefix: string): Promise<ContainerStatus> {
    const c = this.record(idOrPrefix);
    if (this.toStatus(c).state !== 'paused')
      throw new FailedPreconditionError(`container ${c.id} is ${this.toStatus(c).state}, not paused`);
    const node = this.node();
    await node.tasks.resume(c.id);
    await node.events.append({
      namespace: c.namespace,
      topic: '/tasks/resumed',
      data: { v: 1, containerId: c.id },
      cause: { kind: 'api', call: 'resume', ...callerField() },
    });
    return this.status(c.id);
  }

  /**
   * Writes a checkpoint archive of the running container (src/daemon/container-checkpoint.ts); it
   * keeps running. Not a workflow: nothing of the container changes, and a failed checkpoint
   * leaves nothing to compensate. Recorded as `/tasks/checkpoint` with an `api` cause.
   */
  async checkpoint(idOrPrefix: string, location: string, timeoutMs?: number): Promise<CheckpointResult> {
    const c = this.running(idOrPrefix);
    const node = this.node();
    const result = await checkpointToArchive(node, c, location, timeoutMs);
    await node.events.append({
      namespace: c.namespace,
      topic: '/tasks/checkpoint',
      data: { v: 1, containerId: c.id, location: result.location, bytes: result.bytes },
      cause: { kind: 'api', call: 'checkpoint', ...callerField() },
    });
    return result;
  }

  /** Has conmon reopen the log file after the kubelet rotated it (CRI ReopenContainerLog). */
  async reopenLog(idOrPrefix: string): Promise<void> {
    const c = this.running(idOrPrefix);
    await this.node().tasks.reopenLog(c.id);
  }

  /** The container's log lines; with `follow`, until the container exits or `signal` aborts. */
  logs(idOrPrefix: string, opts: LogsOptions = {}): AsyncGenerator<LogEntry> {
    return containerLogs(this.node(), this.record(idOrPrefix), opts);
  }
}
