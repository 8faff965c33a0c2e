/**
 * What every activity gets: the node's subsystems, and `recordEvent`, which appends an event
 * caused by the running activity's workflow step. The idempotency key is derived from the
 * workflow id, its run and the step, so an activity retried after a crash appends nothing twice,
 * while a later run of the same transition (a second stop, say) records its own events.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Context } from '@temporalio/activity';
import { defaultPayloadConverter } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { callerField, withCaller, withoutCaller, type Caller } from '../common/caller.js';
import { crashPoint } from '../common/crash-hooks.js';
import type { AppendRequest, BerthEvent, Cause } from '../events/index.js';
import { callerSchema } from '../events/model.js';
import { CALLER_HEADER } from '../workflows/caller-propagation.js';
import type { NodeServices } from '../daemon/node-services.js';

export type ActivityContext = NodeServices;

export interface RecordRequest extends Omit<AppendRequest, 'cause' | 'key'> {
  /**
   * Names the event within the step; required when one activity appends several events (one per
   * layer, say). Defaults to the activity's own name.
   */
  step?: string;
}

const partOfStep = new AsyncLocalStorage<string>();

/**
 * Runs one part of an activity that does what several steps did (containerCreate,
 * sandboxSetUp...) under that step's name: its events keep the step's cause and key, and the
 * crash points `<step>:before|after` keep the step's boundaries for the crash tests.
 */
export async function runAsStep<T>(root: string, step: string, part: () => Promise<T>): Promise<T> {
  crashPoint(root, `${step}:before`);
  const result = await partOfStep.run(step, part);
  crashPoint(root, `${step}:after`);
  return result;
}

/** The cause of an event appended by the current activity (or the reconciler, outside one). */
export function currentCause(step?: string): Cause & { kind: 'workflow' } {
  const info = Context.current().info;
  const execution = info.workflowExecution;
  if (!execution) throw new Error(`activity ${info.activityType} runs outside a workflow; it has no cause`);
  return {
    kind: 'workflow',
    workflowId: execution.workflowId,
    runId: execution.runId,
    step: step ?? partOfStep.getStore() ?? info.activityType,
    ...callerField(),
  };
}

/**
 * Runs each activity as its workflow's caller (the `berth-caller` header the workflow interceptors
 * copy onto it), so `currentCause` names who asked. Without the header (a workflow started by
 * berthd itself, or before callers were recorded) the activity has no caller, whatever async
 * context the worker runs it in.
 */
export const callerInterceptor: ActivityInterceptorsFactory = () => ({
  inbound: {
    execute(input, next) {
      const caller = callerFromHeader(input.headers[CALLER_HEADER]);
      return caller ? withCaller(caller, () => next(input)) : withoutCaller(() => next(input));
    },
  },
});

function callerFromHeader(payload: Parameters<typeof defaultPayloadConverter.fromPayload>[0] | undefined) {
  if (!payload) return undefined;
  try {
    const parsed = callerSchema.safeParse(defaultPayloadConverter.fromPayload(payload));
    return parsed.success ? (parsed.data as Caller) : undefined;
  } catch {
    return undefined; // not ours to fail a step over: the event is recorded without a caller
  }
}

export function recordEvent(ctx: Pick<NodeServices, 'events'>, req: RecordRequest): Promise<BerthEvent> {
  const { step, ...rest } = req;
  const stepName = partOfStep.getStore() ?? Context.current().info.activityType;
  const cause = currentCause(step ? `${stepName}:${step}` : undefined);
  return ctx.events.append({
    ...rest,
    cause,
    key: `${cause.workflowId}/${cause.runId}/${cause.step}`,
  });
}

/** Heartbeats from long activities (pull, unpack); a no-op outside an activity (unit tests). */
export function heartbeat(details?: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // not in an activity
  }
}
