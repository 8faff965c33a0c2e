/**
 * Logs each activity (workflow step) with its duration at debug level, so `--log-level debug`
 * shows where a slow transition spends its time without a profiler.
 */
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { Logger } from '../common/logger.js';

export function stepTimingInterceptor(log: Logger): ActivityInterceptorsFactory | undefined {
  if (!log.isLevelEnabled('debug')) return undefined;
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
          log.debug(
            {
              step: ctx.info.activityType,
              workflowId: ctx.info.workflowExecution?.workflowId,
              local: ctx.info.isLocal,
              attempt: ctx.info.attempt,
              ms: Math.round((performance.now() - t0) * 10) / 10,
              outcome,
            },
            'step',
          );
        }
      },
    },
  });
}
