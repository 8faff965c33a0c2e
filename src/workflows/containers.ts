/**
 * Container transitions: create (rootfs snapshot + task created under conmon), start, stop (stop
 * signal, a durable grace timer raced against the exit monitor's `taskExited` signal, then
 * SIGKILL) and remove. Ids: `container:<sandbox or ns>:<name>:<attempt>` for create (a retried
 * request joins), `container:<id>:<verb>` for the rest (container-types.ts).
 */
import {
  condition,
  defineSignal,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  uuid4,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import {
  TASK_EXITED_SIGNAL,
  type ContainerExit,
  type CreateContainerArgs,
  type CreatedContainer,
  type RemoveContainerArgs,
  type StopContainerArgs,
} from './container-types.js';
import { LOCAL_STEP, SHORT_STEP } from './conventions.js';
import { exitWaitPhase } from './exit-waits.js';
import { handBack } from './hand-back.js';
import { withCompensation } from './saga.js';

/**
 * The steps are short (a mount, a runtime call, an append) and on the CRI hot path: local
 * activities, run by this worker without a round trip through the Temporal server. Idempotence
 * covers the re-run a crash between the step and the workflow task's completion causes.
 */
const acts = proxyLocalActivities<Activities>(LOCAL_STEP);

/** Waiting for an exit: each attempt waits up to 5 s; retried while the task runs (about a minute). */
const { containerAwaitExit } = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: {
    initialInterval: '100 milliseconds',
    backoffCoefficient: 1.5,
    maximumInterval: '1 second',
    maximumAttempts: 60,
    nonRetryableErrorTypes: SHORT_STEP.retry?.nonRetryableErrorTypes ?? [],
  },
});

/** Sent by the exit monitor when the container's task exits. */
export const taskExited = defineSignal<[ContainerExit]>(TASK_EXITED_SIGNAL);

/** How long stop waits for the exit after SIGKILL before asking the exit file directly. */
const AFTER_KILL_MS = 10_000;

/**
 * How long a signalled task's exit is first waited for in a local activity, before the durable
 * wait (timer and exit signal) takes over: a task usually exits within this, and then the stop
 * needs no further round trip through the server.
 */
const QUICK_EXIT_MS = 1_000;
const QUICK_EXIT_PATCH = 'quick-exit-wait';
/** Create's two steps and remove's three teardown steps each run as one local activity. */
const ONE_STEP_PATCH = 'container-steps-merged';

export async function createContainer(args: CreateContainerArgs): Promise<CreatedContainer> {
  // Deterministic: uuid4() is seeded by the run, so a replay picks the same id.
  const id = uuid4().replace(/-/g, '');
  const ref = { namespace: args.namespace, id };
  const created = await withCompensation(async (saga) => {
    if (patched(ONE_STEP_PATCH)) {
      // Undoing is idempotent, so it is registered before the step that may leave a rootfs.
      saga.onFailureUndo('rootfs', () => acts.containerRemoveRootfs(ref));
      return acts.containerCreate({ ...args, id });
    }
    // Runs recorded before create and remove became one step each replay as they were.
    const rootfsPath = await acts.containerPrepareRootfs({ ...ref, chainId: args.chainId });
    saga.onFailureUndo('rootfs', () => acts.containerRemoveRootfs(ref));
    return acts.containerCreateTask({ ...args, id, rootfsPath });
  });
  return handBack(created);
}

export async function startContainer(ref: { namespace: string; id: string }): Promise<number> {
  return handBack(await acts.containerStartTask(ref));
}

export async function stopContainer(req: StopContainerArgs): Promise<ContainerExit> {
  try {
    return await stopUntilExited(req);
  } finally {
    exitWaitPhase('done');
  }
}

async function stopUntilExited(req: StopContainerArgs): Promise<ContainerExit> {
  const ref = { namespace: req.namespace, id: req.id };
  let exited: ContainerExit | undefined;
  setHandler(taskExited, (exit) => {
    exited = exit;
  });
  const graceMs = Math.round(req.timeoutSeconds * 1000);
  const stopRequest = { kind: 'stop', timeoutSeconds: req.timeoutSeconds } as const;
  exitWaitPhase('local');
  const already = await acts.containerSignal({ ...ref, kill: graceMs === 0, request: stopRequest });
  if (already) return handBack(already);
  // Runs recorded before the quick wait existed replay without it.
  const waitsLocally = patched(QUICK_EXIT_PATCH);
  let quickMs = 0;
  if (waitsLocally) {
    quickMs = graceMs === 0 ? QUICK_EXIT_MS : Math.min(graceMs, QUICK_EXIT_MS);
    const quick = await acts.containerWaitExit({ ...ref, timeoutMs: quickMs });
    if (quick) return handBack(quick);
  }
  // The rest of the grace period is durable: it survives a berthd restart and ends early on the exit signal.
  const restMs = graceMs - quickMs;
  if (graceMs > 0 && !(restMs > 0 && (await durably(() => condition(() => exited !== undefined, restMs))))) {
    const graceEnded = { kind: 'grace-ended', timeoutSeconds: req.timeoutSeconds } as const;
    exitWaitPhase('local');
    await acts.containerSignal({ ...ref, kill: true, request: graceEnded });
    const killed = waitsLocally && (await acts.containerWaitExit({ ...ref, timeoutMs: QUICK_EXIT_MS }));
    if (killed) return handBack(killed);
  }
  if (!exited) await durably(() => condition(() => exited !== undefined, AFTER_KILL_MS));
  // The exit file is the truth (and this records the exit if the monitor has not yet).
  return handBack(await containerAwaitExit(ref));
}

/** A wait the exit signal may end: the exit monitor sends it now rather than holding it. */
function durably<T>(wait: () => Promise<T>): Promise<T> {
  exitWaitPhase('durable');
  return wait();
}

export async function removeContainer(req: RemoveContainerArgs): Promise<void> {
  const ref = { namespace: req.namespace, id: req.id };
  if (await acts.containerCheckRemovable({ ...ref, force: req.force })) {
    await acts.containerSignal({ ...ref, kill: true, request: { kind: 'remove' } });
    const quick =
      patched(QUICK_EXIT_PATCH) && (await acts.containerWaitExit({ ...ref, timeoutMs: QUICK_EXIT_MS }));
    if (!quick) await containerAwaitExit(ref);
  }
  if (patched(ONE_STEP_PATCH)) {
    await acts.containerTearDown(ref);
    return handBack(undefined);
  }
  await acts.containerDeleteTask(ref);
  await acts.containerRemoveRootfs(ref);
  await acts.containerRecordDelete(ref);
}
