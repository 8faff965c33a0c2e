/**
 * berthd runs workflow code on its own thread (src/daemon/temporal.ts): the SDK's compiled options
 * must say so, and keep the 5 s limit on one activation that the SDK lifts in that mode (so a
 * workflow that never yields still fails its task instead of holding the daemon's thread); and
 * the SDK's promise hook, which would run for every promise on that thread, must be gone.
 */
import { describe, expect, it } from 'vitest';
import { Runtime } from '@temporalio/worker';
// The SDK's own option compiler, not a copy: it is what Worker.create runs.
import { compileWorkerOptions } from '@temporalio/worker/lib/worker-options.js';
import { globalHandlers } from '@temporalio/worker/lib/workflow/vm-shared.js';
import { stopWorkflowPromiseHook, WORKFLOWS_ON_MAIN_THREAD } from '../../src/daemon/temporal.js';

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

  it("removes the SDK's promise hook, which otherwise runs for every promise on the daemon's thread", async () => {
    // The hook finds a promise's workflow through promise.constructor.constructor (Function):
    // a stand-in there counts the hook's calls.
    let calls = 0;
    Object.defineProperty(Promise, 'constructor', {
      configurable: true,
      value: () => {
        calls++;
        return () => undefined;
      },
    });
    try {
      globalHandlers.install(); // what creating the worker does for workflows on this thread
      await Promise.resolve().then(() => undefined);
      expect(calls, 'the installed hook is seen').toBeGreaterThan(0);
      stopWorkflowPromiseHook();
      calls = 0;
      await Promise.resolve().then(() => undefined);
      expect(calls).toBe(0);
      expect(globalHandlers.promiseHookInstalled).toBe(false);
    } finally {
      delete (Promise as { constructor?: unknown }).constructor;
    }
  });
});
