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
import type { InjectedSinks } from '@temporalio/worker';
import type { TransitionSinks } from '../workflows/hand-back.js';
import { BerthError, type ErrorCode } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { transitionSearchAttributes, type TransitionSubject } from './search-attributes.js';

export interface TransitionRequest {
  workflowType: string;
  workflowId: string;
  args: unknown[];
  /**
   * 'recorded': the transition happens once per entity (create, start, remove): a finished run's
   * result is returned. 'again': a finished run may be followed by a new one (pull after rmi).
   */
  onFinished: 'recorded' | 'again';
  /** What it is about, for the search attributes an operator queries (the node is always set). */
  subject?: TransitionSubject;
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

/** Told of each transition request (berthd's metrics). */
export interface TransitionObserver {
  started(workflowType: string): void;
  /** `stepSeconds`: the time its steps ran on this node while the request waited. */
  finished(
    req: TransitionRequest,
    outcome: { ok: true; result: unknown } | { ok: false; code: string },
    seconds: number,
    stepSeconds: number,
  ): void;
}

export class TransitionRunner {
  /** Set by berthd when metrics are on. */
  observer: TransitionObserver | undefined;

  constructor(
    private readonly client: () => Client,
    private readonly taskQueue: string,
    private readonly nodeId: string,
    private readonly log?: Logger,
  ) {}

  /** A step of `workflowId` took `seconds`: counted while a request waits for that transition. */
  stepFinished(workflowId: string | undefined, seconds: number): void {
    const w = workflowId === undefined ? undefined : this.waiting.get(workflowId);
    if (w) w.stepSeconds += seconds;
  }

  /**
   * Requests waiting for a transition, by workflow id: their hand-back callbacks (see
   * workflows/hand-back.ts) and the time its steps have taken on this node meanwhile.
   */
  private readonly waiting = new Map<
    string,
    { waiters: Set<(runId: string, result: unknown) => void>; stepSeconds: number }
  >();

  /** The worker's sink: a workflow run has computed its result. */
  readonly sinks: InjectedSinks<TransitionSinks> = {
    transitions: {
      finished: {
        fn: (info, result) => {
          for (const w of this.waiting.get(info.workflowId)?.waiters ?? []) w(info.runId, result);
        },
        callDuringReplay: false,
      },
    },
  };

  async run<R>(req: TransitionRequest): Promise<R> {
    const t0 = performance.now();
    // Registered before the start: an eager run may hand its result back before start() returns.
    const early: { runId: string; result: unknown }[] = [];
    let expectedRunId: string | undefined;
    let deliver: ((result: unknown) => void) | undefined;
    const waiter = (runId: string, result: unknown): void => {
      if (expectedRunId === undefined) early.push({ runId, result });
      else if (runId === expectedRunId) deliver?.(result);
    };
    const waiting = this.waiting.get(req.workflowId) ?? { waiters: new Set(), stepSeconds: 0 };
    waiting.waiters.add(waiter);
    this.waiting.set(req.workflowId, waiting);
    this.observer?.started(req.workflowType);
    let started = t0;
    let via = 'server';
    let outcome: { ok: true; result: unknown } | { ok: false; code: string } = {
      ok: false,
      code: 'internal',
    };
    try {
      const handle = await this.startOrJoin(req);
      started = performance.now();
      // Only this run's result (a finished run's handle has none: its recorded result answers).
      expectedRunId = handle.firstExecutionRunId ?? '';
      const handedBack = new Promise<{ result: unknown }>((resolve) => {
        deliver = (result) => resolve({ result });
        const found = early.find((e) => e.runId === expectedRunId);
        if (found) resolve({ result: found.result });
      });
      const recorded = handle.result();
      const settled = await Promise.race([recorded.then((result) => ({ result, server: true })), handedBack]);
      if (!('server' in settled)) {
        via = 'hand-back';
        recorded.catch(() => undefined); // the run completes on its own; nobody waits for it
      }
      outcome = { ok: true, result: settled.result };
      return settled.result as R;
    } catch (err) {
      const error = toBerthError(err, req.workflowId);
      outcome = { ok: false, code: error instanceof BerthError ? error.code : 'internal' };
      throw error;
    } finally {
      waiting.waiters.delete(waiter);
      if (waiting.waiters.size === 0) this.waiting.delete(req.workflowId);
      this.observer?.finished(req, outcome, (performance.now() - t0) / 1000, waiting.stepSeconds);
      // With the steps' own durations (step-timing.ts), what the transition adds around them.
      this.log?.debug(
        {
          workflowId: req.workflowId,
          startMs: Math.round((started - t0) * 10) / 10,
          ms: Math.round((performance.now() - t0) * 10) / 10,
          via,
        },
        'transition',
      );
    }
  }

  async startOrJoin(req: TransitionRequest): Promise<WorkflowHandle & { firstExecutionRunId?: string }> {
    const client = this.client();
    try {
      return await client.workflow.start(req.workflowType, {
        taskQueue: this.taskQueue,
        workflowId: req.workflowId,
        args: req.args,
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: req.onFinished === 'recorded' ? 'REJECT_DUPLICATE' : 'ALLOW_DUPLICATE',
        requestEagerStart: true,
        typedSearchAttributes: transitionSearchAttributes(this.nodeId, req.subject),
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
