/**
 * Test-only hooks, active only when berthd runs with BERTH_TEST_HOOKS=1 (never in production):
 * BERTH_TEST_CRASH_AT="<activityType>:before|after[,...]" makes berthd SIGKILL itself at each of
 * those step boundaries, once each per root (a marker file remembers), so crash tests can prove a
 * transition resumes after every boundary and completes exactly once.
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
  const specs = (env.BERTH_TEST_CRASH_AT ?? '').split(',').filter(Boolean);
  if (!testHooksEnabled(env) || specs.length === 0) return undefined;
  const crashOnce = (activityType: string, when: 'before' | 'after') => {
    const spec = `${activityType}:${when}`;
    if (!specs.includes(spec)) return;
    const marker = crashMarker(root, spec);
    if (existsSync(marker)) return; // already crashed here once on this root
    mkdirSync(join(root, 'test-hooks'), { recursive: true });
    writeFileSync(marker, '');
    process.kill(process.pid, 'SIGKILL');
  };
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        crashOnce(ctx.info.activityType, 'before');
        const result = await next(input);
        crashOnce(ctx.info.activityType, 'after');
        return result;
      },
    },
  });
}

/** The file that records that berthd crashed at `spec` on this root. */
export function crashMarker(root: string, spec: string): string {
  return join(root, 'test-hooks', `crashed-${spec.replace(/[^a-zA-Z0-9-]/g, '_')}`);
}
