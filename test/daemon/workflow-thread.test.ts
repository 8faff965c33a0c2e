/**
 * berthd runs workflow code on its own thread (src/daemon/temporal.ts): the SDK's compiled options
 * must say so, and keep the 5 s limit on one activation that the SDK lifts in that mode (so a
 * workflow that never yields still fails its task instead of holding the daemon's thread).
 */
import { describe, expect, it } from 'vitest';
import { Runtime } from '@temporalio/worker';
// The SDK's own option compiler, not a copy: it is what Worker.create runs.
import { compileWorkerOptions } from '@temporalio/worker/lib/worker-options.js';
import { WORKFLOWS_ON_MAIN_THREAD } from '../../src/daemon/temporal.js';

describe('workflow thread', () => {
  it('workflows run on the main thread, with the 5 s activation limit kept', () => {
    const runtime = Runtime.instance();
    const compiled = compileWorkerOptions(
      { taskQueue: 'berth.test', workflowBundle: { code: '' }, ...WORKFLOWS_ON_MAIN_THREAD },
      runtime.logger,
      runtime.metricMeter,
    );
    expect(compiled.debugMode).toBe(true);
    expect(compiled.isolateExecutionTimeoutMs).toBe(5_000);
  });
});
