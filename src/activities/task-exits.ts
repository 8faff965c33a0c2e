/**
 * The one way a task's exit enters the log, shared by the exit monitor (cause: reconciler) and the
 * stop/remove workflows (cause: their step). The idempotency key comes from the container id and
 * the exit file's mtime, not from the caller, so whichever notices an exit first records it and
 * the other appends nothing: one `/tasks/exit` (and one `/tasks/oom`) per exit.
 */
import type { BerthEvent, Cause } from '../events/index.js';
import type { EventsService } from '../events/service.js';
import type { TaskExit } from '../runtime/task.js';

export function taskExitKey(containerId: string, exitedAt: Date): string {
  return `task-exit:${containerId}:${exitedAt.getTime()}`;
}

export async function appendTaskExit(
  events: Pick<EventsService, 'append'>,
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
    },
    cause,
    key,
  });
}
