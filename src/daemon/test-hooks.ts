/**
 * Test-only hooks, active only when berthd runs with BERTH_TEST_HOOKS=1 (never in production):
 * BERTH_TEST_CRASH_AT="<activityType>:before|after" makes berthd SIGKILL itself at that step
 * boundary, once per root, so crash tests can prove a transition resumes and completes exactly once.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

export function testHooksEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.BERTH_TEST_HOOKS === '1';
}

export function crashHookInterceptor(
  root: string,
  env: NodeJS.ProcessEnv = process.env,
): ActivityInterceptorsFactory | undefined {
  const spec = env.BERTH_TEST_CRASH_AT;
  if (!testHooksEnabled(env) || !spec) return undefined;
  const [activityType, when] = spec.split(':');
  const marker = join(root, 'test-hooks', `crashed-${spec.replace(/[^a-zA-Z0-9-]/g, '_')}`);
  const crash = () => {
    if (existsSync(marker)) return; // already crashed here once on this root
    mkdirSync(join(root, 'test-hooks'), { recursive: true });
    writeFileSync(marker, '');
    process.kill(process.pid, 'SIGKILL');
  };
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        if (ctx.info.activityType !== activityType) return next(input);
        if (when === 'before') crash();
        const result = await next(input);
        if (when === 'after') crash();
        return result;
      },
    },
  });
}
