/**
 * The crash points at activity boundaries: an activity interceptor that, when test hooks are on
 * (see common/crash-hooks.ts), SIGKILLs berthd before or after the activities named in
 * BERTH_TEST_CRASH_AT as `<activityType>:before|after`.
 */
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { armedCrashPoints, crashPoint } from '../common/crash-hooks.js';

export function crashHookInterceptor(
  root: string,
  env: NodeJS.ProcessEnv = process.env,
): ActivityInterceptorsFactory | undefined {
  const armed = armedCrashPoints(env);
  if (armed.length === 0) return undefined;
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        crashPoint(root, `${ctx.info.activityType}:before`, armed);
        const result = await next(input);
        crashPoint(root, `${ctx.info.activityType}:after`, armed);
        return result;
      },
    },
  });
}
