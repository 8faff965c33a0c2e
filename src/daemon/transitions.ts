/**
 * Starting transitions: one workflow per transition, its id derived from the entity, so a repeated
 * request joins the run in flight instead of starting a second one, and (where the transition
 * happens once per entity) a request for a finished transition gets the recorded result back
 * without redoing anything. Failures come back as BerthErrors with the activity's original code.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { BerthError, type ErrorCode } from '../common/errors.js';
import type { Logger } from '../common/logger.js';

export interface TransitionRequest {
  workflowType: string;
  workflowId: string;
  args: unknown[];
  /**
   * 'recorded': the transition happens once per entity (create, start, remove): a finished run's
   * result is returned. 'again': a finished run may be followed by a new one (pull after rmi).
   */
  onFinished: 'recorded' | 'again';
}

const BERTH_CODES = new Set<string>([
  'invalid_argument',
  'not_found',
  'already_exists',
  'failed_precondition',
  'unavailable',
  'permission_denied',
  'unimplemented',
  'internal',
]);

export class TransitionRunner {
  constructor(
    private readonly client: () => Client,
    private readonly taskQueue: string,
    private readonly log?: Logger,
  ) {}

  async run<R>(req: TransitionRequest): Promise<R> {
    const t0 = performance.now();
    const handle = await this.startOrJoin(req);
    const started = performance.now();
    try {
      return (await handle.result()) as R;
    } catch (err) {
      throw toBerthError(err, req.workflowId);
    } finally {
      // With the steps' own durations (step-timing.ts), what the transition adds around them.
      this.log?.debug(
        {
          workflowId: req.workflowId,
          startMs: Math.round((started - t0) * 10) / 10,
          ms: Math.round((performance.now() - t0) * 10) / 10,
        },
        'transition',
      );
    }
  }

  async startOrJoin(req: TransitionRequest): Promise<WorkflowHandle> {
    const client = this.client();
    try {
      return await client.workflow.start(req.workflowType, {
        taskQueue: this.taskQueue,
        workflowId: req.workflowId,
        args: req.args,
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: req.onFinished === 'recorded' ? 'REJECT_DUPLICATE' : 'ALLOW_DUPLICATE',
        requestEagerStart: true,
      });
    } catch (err) {
      // Only a finished run with REJECT_DUPLICATE gets here: its recorded outcome is the answer.
      if (err instanceof WorkflowExecutionAlreadyStartedError)
        return client.workflow.getHandle(req.workflowId);
      throw err;
    }
  }
}

/** Finds the innermost ApplicationFailure carrying a BerthError code and rebuilds that error. */
export function toBerthError(err: unknown, workflowId: string): Error {
  let cause: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  while (cause instanceof TemporalFailure) {
    if (cause instanceof ApplicationFailure && cause.type && BERTH_CODES.has(cause.type)) {
      return new BerthError(cause.type as ErrorCode, cause.message);
    }
    cause = cause.cause;
  }
  const message = err instanceof Error ? err.message : String(err);
  return new BerthError('internal', `transition ${workflowId} failed: ${message}`);
}
