/**
 * The events of an exec (ExecSync, a streaming Exec, `berth exec`): `/tasks/exec-added` (with its
 * command) before it runs, `/tasks/exec-started` with its pid once the runtime has it, and
 * `/tasks/exec-exited` with its exit code. Appended by the service directly (cause `api`, with the
 * request's caller), not by a workflow: an exec changes nothing the projections keep but the exec
 * itself, and kubelet's probes exec every few seconds.
 */
import { randomBytes } from 'node:crypto';
import { callerField } from '../common/caller.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Cause, EventsService } from '../events/index.js';

type ExecEventTopic = '/tasks/exec-added' | '/tasks/exec-started' | '/tasks/exec-exited';

/** Records an exec the caller runs elsewhere (`berth exec -it` runs the runtime itself): only its addition. */
export async function recordExecAdded(
  events: Pick<EventsService, 'append'>,
  container: { namespace: string; id: string },
  args: string[],
  call: string,
): Promise<string> {
  const execId = randomBytes(8).toString('hex');
  const cause: Cause = { kind: 'api', call, ...callerField() };
  await events.append({
    namespace: container.namespace,
    topic: '/tasks/exec-added',
    data: { v: 1, containerId: container.id, execId, args },
    cause,
  });
  return execId;
}

/**
 * Runs an exec between its events. `run` is handed the callback the runtime calls with the pid;
 * its result's exit code (a number, or `{ exitCode, timedOut }`) is recorded when it ends.
 */
export async function recordedExec<R extends number | { exitCode: number; timedOut?: boolean }>(
  events: Pick<EventsService, 'append'>,
  log: Logger,
  container: { namespace: string; id: string },
  args: string[],
  call: string,
  run: (onStarted: (pid: number) => void) => Promise<R>,
): Promise<R> {
  // Captured now: the pid arrives from a file watch, outside the request's async context.
  const cause: Cause = { kind: 'api', call, ...callerField() };
  const execId = await recordExecAdded(events, container, args, call);
  const append = (topic: ExecEventTopic, data: Record<string, unknown>) =>
    events.append({
      namespace: container.namespace,
      topic,
      data: { v: 1, containerId: container.id, execId, ...data },
      cause,
    });
  let started: Promise<unknown> = Promise.resolve();
  const onStarted = (pid: number): void => {
    started = append('/tasks/exec-started', { pid }).catch((err: unknown) =>
      log.warn({ err, id: container.id, execId }, 'recording an exec start failed'),
    );
  };
  let result: R;
  try {
    result = await run(onStarted);
  } catch (err) {
    await started;
    await append('/tasks/exec-exited', { error: errorMessage(err).slice(0, 1024) });
    throw err;
  }
  await started;
  const outcome: number | { exitCode: number; timedOut?: boolean } = result;
  const exit = typeof outcome === 'number' ? { exitCode: outcome } : outcome;
  await append('/tasks/exec-exited', {
    exitCode: exit.exitCode,
    ...(exit.timedOut ? { timedOut: true } : {}),
  });
  return result;
}
