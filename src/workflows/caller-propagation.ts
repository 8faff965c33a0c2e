/**
 * Workflow interceptors (bundled by scripts/build.mjs through `workflowInterceptorModules`): the
 * caller of the request that started a workflow (src/common/caller.ts) arrives as the workflow's
 * `berth-caller` header and is copied onto every activity and child workflow it schedules, where
 * the activity interceptor (activities/context.ts) puts it in each event's cause. It lives in the
 * workflow's history, so a step re-run after a crash records the same caller. Workflows never
 * read it: their inputs stay as they are.
 */
import type { Payload } from '@temporalio/common';
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';

export const CALLER_HEADER = 'berth-caller';

export const interceptors: WorkflowInterceptorsFactory = () => {
  // One instance per workflow run: the factory is called for each.
  let caller: Payload | undefined;
  const withCaller = <T extends { headers: Record<string, Payload> }>(input: T): T =>
    caller === undefined || input.headers[CALLER_HEADER] !== undefined
      ? input
      : { ...input, headers: { ...input.headers, [CALLER_HEADER]: caller } };
  return {
    inbound: [
      {
        execute(input, next) {
          caller = input.headers[CALLER_HEADER];
          return next(input);
        },
      },
    ],
    outbound: [
      {
        scheduleActivity: (input, next) => next(withCaller(input)),
        scheduleLocalActivity: (input, next) => next(withCaller(input)),
        startChildWorkflowExecution: (input, next) => next(withCaller(input)),
      },
    ],
  };
};
