/** A container's log lines (ContainerService.logs): the CRI log file, followed until the task exits. */
import { FailedPreconditionError } from '../common/errors.js';
import type { ContainerRecord } from '../events/projections/state.js';
import { readLogs, type LogEntry } from '../runtime/logs.js';
import type { NodeServices } from './node-services.js';

export interface LogsOptions {
  follow?: boolean;
  since?: Date;
  tail?: number;
  signal?: AbortSignal;
}

/** The container's log lines; with `follow`, until the container exits or `signal` aborts. */
export async function* containerLogs(
  node: Pick<NodeServices, 'events'>,
  c: ContainerRecord,
  opts: LogsOptions,
): AsyncGenerator<LogEntry> {
  if (!c.logPath) throw new FailedPreconditionError(`container ${c.id} has no log file`);
  const done = new AbortController();
  const abort = () => done.abort();
  opts.signal?.addEventListener('abort', abort);
  const projections = node.events.projections;
  let unsubscribe: (() => void) | undefined;
  if (opts.follow) {
    // Following stops once the task has exited: conmon drains and syncs the container's output
    // before it writes the exit file that an exit is recorded from, so readLogs' final read
    // after the abort finds every line.
    const exited = () => projections.get('tasks', c.namespace, c.id)?.status === 'stopped';
    const finish = abort;
    if (exited()) finish();
    else
      unsubscribe = projections.subscribe(() => {
        if (exited() || !projections.get('containers', c.namespace, c.id)) {
          unsubscribe?.();
          finish();
        }
      });
  }
  try {
    yield* readLogs(c.logPath, {
      follow: opts.follow === true,
      signal: done.signal,
      ...(opts.since ? { since: opts.since } : {}),
      ...(opts.tail !== undefined ? { tail: opts.tail } : {}),
    });
  } finally {
    unsubscribe?.();
    opts.signal?.removeEventListener('abort', abort);
  }
}
