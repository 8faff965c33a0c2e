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
import { watchPidFile, type PidWatch } from '../runtime/exec-pid.js';

type ExecEventTopic = '/tasks/exec-added' | '/tasks/exec-started' | '/tasks/exec-exited';

/** How long berthd watches for the pid of an exec the CLI runs itself before giving up on its start. */
const OUTSIDE_EXEC_START_MS = 60_000;

/**
 * Records an exec the caller runs elsewhere (`berth exec -it` runs the runtime itself): its
 * addition now, its start (the pid) when the runtime writes `pidFile`, and its exit when the
 * caller reports it (recordOutsideExecExit).
 */
export async function recordOutsideExec(
  events: Pick<EventsService, 'append'>,
  log: Logger,
  container: { namespace: string; id: string },
  args: string[],
  call: string,
  pidFile: string,
): Promise<string> {
  const execId = randomBytes(8).toString('hex');
  const cause: Cause = { kind: 'api', call, ...callerField() };
  await appendExecEvent(events, container, execId, cause, '/tasks/exec-added', { args });
  const outside = {
    watch: undefined as PidWatch | undefined,
    started: Promise.resolve() as Promise<unknown>,
  };
  outside.watch = watchPidFile(pidFile, (pid) => {
    outside.started = appendExecEvent(events, container, execId, cause, '/tasks/exec-started', {
      pid,
    }).catch((err: unknown) => log.warn({ err, id: container.id, execId }, 'recording an exec start failed'));
  });
  outsideExecs.set(execId, outside);
  setTimeout(() => {
    if (outsideExecs.get(execId) !== outside) return;
    outsideExecs.delete(execId);
    void outside.watch?.stop();
  }, OUTSIDE_EXEC_START_MS).unref();
  return execId;
}

/** Execs the CLI runs itself whose start is still watched for, by exec id. */
const outsideExecs = new Map<string, { watch: PidWatch | undefined; started: Promise<unknown> }>();

/** The exit of an exec the caller ran itself, as it reports it (the caller is recorded with it). */
export async function recordOutsideExecExit(
  events: Pick<EventsService, 'append'>,
  container: { namespace: string; id: string },
  execId: string,
  exitCode: number,
): Promise<void> {
  // Its start first: the pid file is read now if the watch has not reported it yet.
  const outside = outsideExecs.get(execId);
  outsideExecs.delete(execId);
  await outside?.watch?.stop();
  await outside?.started;
  await appendExecEvent(
    events,
    container,
    execId,
    { kind: 'api', call: 'execCommand', ...callerField() },
    '/tasks/exec-exited',
    { exitCode },
  );
}

/**
 * Runs an exec between its events. `run` is handed the callback the runtime calls with the pid;
 * its result's exit code (a number, or `{ exitCode, timedOut }`) is recorded when it ends.
 * `/tasks/exec-added` takes its place in the log (its seq) before the exec starts and is synced
 * while the exec runs: a probe waits for one sync (its exit's), not three. An exec whose
 * addition could not be recorded still fails its caller.
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
  const execId = randomBytes(8).toString('hex');
  const append = (topic: ExecEventTopic, data: Record<string, unknown>) =>
    appendExecEvent(events, container, execId, cause, topic, data);
  const added = append('/tasks/exec-added', { args });
  // Seen by the exec's end at the latest; awaited there.
  added.catch(() => undefined);
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
    await added;
    await started;
    await append('/tasks/exec-exited', { error: errorMessage(err).slice(0, 1024) });
    throw err;
  }
  await added;
  await started;
  const outcome: number | { exitCode: number; timedOut?: boolean } = result;
  const exit = typeof outcome === 'number' ? { exitCode: outcome } : outcome;
  await append('/tasks/exec-exited', {
    exitCode: exit.exitCode,
    ...(exit.timedOut ? { timedOut: true } : {}),
  });
  return result;
}

function appendExecEvent(
  events: Pick<EventsService, 'append'>,
  container: { namespace: string; id: string },
  execId: string,
  cause: Cause,
  topic: ExecEventTopic,
  data: Record<string, unknown>,
) {
  return events.append({
    namespace: container.namespace,
    topic,
    data: { v: 1, containerId: container.id, execId, ...data },
    cause,
  });
}
