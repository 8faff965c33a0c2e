/**
 * The one way a task's exit enters the log, shared by the exit monitor (cause: reconciler) and the
 * stop/remove workflows (cause: their step). The idempotency key comes from the container id and
 * the exit file's mtime, not from the caller, so whichever notices an exit first records it and
 * the other appends nothing: one `/tasks/exit` (and one `/tasks/oom`) per exit.
 *
 * The exit names the stop or kill request it answers (`request`: that event's seq, from the
 * task's projection) and, where the exit status says so, the signal that ended it.
 */
import { constants } from 'node:os';
import type { BerthEvent, Cause } from '../events/index.js';
import type { TaskRequest } from '../events/projections/state.js';
import type { EventsService } from '../events/service.js';
import type { TaskExit } from '../runtime/task.js';

export function taskExitKey(containerId: string, exitedAt: Date): string {
  return `task-exit:${containerId}:${exitedAt.getTime()}`;
}

/** How far an exit file's mtime may precede the request's event time and still answer it. */
const CLOCK_SLACK_MS = 1_000;

/** The exit's link to the request outstanding for its task, and the signal that ended it if known. */
export function requestAnswered(
  request: TaskRequest | undefined,
  exit: Pick<TaskExit, 'exitCode' | 'exitedAt'>,
): { request?: number; signal?: string; afterGraceSeconds?: number } {
  // A task that exited on its own before anyone asked does not answer the request.
  if (!request || exit.exitedAt.getTime() + CLOCK_SLACK_MS < Date.parse(request.at)) return {};
  const diedOf = (signal: string) =>
    constants.signals[signal as keyof typeof constants.signals] + 128 === exit.exitCode;
  if (request.killedAt !== undefined && diedOf('SIGKILL'))
    return {
      request: request.seq,
      signal: 'SIGKILL',
      ...(request.afterGraceSeconds !== undefined ? { afterGraceSeconds: request.afterGraceSeconds } : {}),
    };
  return { request: request.seq, ...(diedOf(request.signal) ? { signal: request.signal } : {}) };
}

export async function appendTaskExit(
  events: Pick<EventsService, 'append' | 'projections'>,
  namespace: string,
  pid: number,
  exit: TaskExit,
  cause: Cause,
): Promise<BerthEvent> {
  const key = taskExitKey(exit.id, exit.exitedAt);
  // The OOM event first: a reader that sees the exit already knows why it happened.
  if (exit.oomKilled) {
    await events.append({
      namespace,
      topic: '/tasks/oom',
      data: { v: 1, containerId: exit.id },
      cause,
      key: `${key}:oom`,
    });
  }
  return events.append({
    namespace,
    topic: '/tasks/exit',
    data: {
      v: 2,
      containerId: exit.id,
      ...(pid > 0 ? { pid } : {}),
      exitCode: exit.exitCode,
      exitedAt: exit.exitedAt.toISOString(),
      oomKilled: exit.oomKilled,
      ...requestAnswered(events.projections.get('tasks', namespace, exit.id)?.request, exit),
    },
    cause,
    key,
  });
}
