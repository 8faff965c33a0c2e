/**
 * The exit monitor: turns conmon's exit files into `/tasks/exit` (and `/tasks/oom`) events and
 * wakes the container's stop workflow, if one waits, with the `taskExited` signal (once it waits
 * durably: exit-signal-gate.ts); then it releases what the exited container no longer needs
 * (runtime state, cgroup, rootfs mount). Started after the worker; its first scan records every
 * exit that happened while berthd was down, with the real exit code and time from the file.
 * Appends share their key with the workflows' (activities/task-exits.ts), so an exit is recorded
 * once whoever sees it first.
 */
import type { Client } from '@temporalio/client';
import type { Logger } from '../common/logger.js';
import { releaseExitedContainer } from '../activities/containers.js';
import { appendTaskExit } from '../activities/task-exits.js';
import type { ExitWatcher, TaskExit } from '../runtime/exits.js';
import {
  TASK_EXITED_SIGNAL,
  containerWorkflowIds,
  type ContainerExit,
} from '../workflows/container-types.js';
import type { ExitSignalGate } from './exit-signal-gate.js';
import type { NodeServices } from './node-services.js';

export class ExitMonitor {
  private watcher: ExitWatcher | undefined;
  private pending = new Set<Promise<void>>();

  constructor(
    private readonly node: NodeServices,
    private readonly client: () => Client | undefined,
    private readonly log: Logger,
    private readonly gate: ExitSignalGate,
  ) {}

  async start(): Promise<void> {
    await this.node.tasks.init();
    const watcher = this.node.tasks.exitWatcher();
    watcher.on('exit', (exit) => {
      const p = this.handle(exit).catch((err: unknown) =>
        this.log.error({ err, id: exit.id }, 'recording a task exit failed'),
      );
      this.pending.add(p);
      void p.finally(() => this.pending.delete(p));
    });
    watcher.on('error', (err) => this.log.error({ err }, 'exit watcher failed'));
    await watcher.start();
    this.watcher = watcher;
  }

  private async handle(exit: TaskExit): Promise<void> {
    const projections = this.node.events.projections;
    const container = projections.list('containers').find((c) => c.id === exit.id);
    // A task without a recorded container is mid-create: its workflow records it, exit included.
    if (!container) return;
    const task = projections.get('tasks', container.namespace, exit.id);
    if (task?.status !== 'stopped' || task.exitedAt === undefined) {
      await appendTaskExit(this.node.events, container.namespace, task?.pid ?? 0, exit, {
        kind: 'reconciler',
        reason: 'exit monitor: conmon exit file',
      });
    }
    const payload: ContainerExit = {
      exitCode: exit.exitCode,
      exitedAt: exit.exitedAt.toISOString(),
      oomKilled: exit.oomKilled,
    };
    const client = this.client();
    const stopId = containerWorkflowIds.stop(exit.id);
    // Only a stop in flight waits; a signal to a finished or absent workflow is refused. One
    // running local steps gets it once it waits durably (exit-signal-gate.ts).
    await this.gate.deliver(stopId, async () => {
      await client?.workflow
        .getHandle(stopId)
        .signal(TASK_EXITED_SIGNAL, payload)
        .catch(() => undefined);
    });
    // Off the waiting workflow's path: remove does whatever this leaves undone.
    await releaseExitedContainer(this.node, exit.id).catch((err: unknown) =>
      this.log.warn({ err, id: exit.id }, 'releasing an exited container failed; remove will finish it'),
    );
  }

  async stop(): Promise<void> {
    this.watcher?.stop();
    this.watcher = undefined;
    await Promise.allSettled([...this.pending]);
  }
}
