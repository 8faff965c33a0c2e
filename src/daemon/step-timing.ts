/**
 * Times each activity (workflow step): logged at debug level, so `--log-level debug` shows where
 * a slow transition spends its time without a profiler, and handed to `onStep` (berthd's metrics,
 * and the transition runner's sum of step time, from which Temporal's share is computed).
 */
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { Logger } from '../common/logger.js';

export type StepObserver = (step: {
  type: string;
  workflowId: string | undefined;
  ok: boolean;
  seconds: number;
}) => void;

export function stepTimingInterceptor(
  log: Logger,
  onStep?: StepObserver,
): ActivityInterceptorsFactory | undefined {
  const debug = log.isLevelEnabled('debug');
  if (!debug && !onStep) return undefined;
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const t0 = performance.now();
        let outcome = 'ok';
        try {
          return await next(input);
        } catch (err) {
          outcome = 'failed';
          throw err;
        } finally {
          const seconds = (performance.now() - t0) / 1000;
          onStep?.({
            type: ctx.info.activityType,
            workflowId: ctx.info.workflowExecution?.workflowId,
            ok: outcome === 'ok',
            seconds,
          });
          if (debug)
            log.debug(
              {
                step: ctx.info.activityType,
                workflowId: ctx.info.workflowExecution?.workflowId,
                local: ctx.info.isLocal,
                attempt: ctx.info.attempt,
                ms: Math.round(seconds * 10_000) / 10,
                outcome,
              },
              'step',
            );
        }
      },
    },
  });
}
