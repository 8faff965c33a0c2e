import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FailedPreconditionError } from '../../src/common/errors.js';
import { CrunHandler, RuncHandler } from '../../src/runtime/handler.js';
import { logLines, runtimeFixture, uniqueId, type RuntimeFixture } from './helpers.js';

let fx: RuntimeFixture;

beforeAll(async () => {
  fx = await runtimeFixture('crun');
});

afterAll(async () => {
  await fx.cleanup();
});

/** A hybrid host: cgroup v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified holding controllers. */
async function isHybridHost(): Promise<boolean> {
  const controllers = await readFile('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').catch(() => '');
  return controllers.trim() !== '';
}

describe('crun handler', () => {
  it('runs echo hi through crun (through the hybrid wrapper exactly when the host is hybrid)', async () => {
    const handler = new CrunHandler({
      root: join(fx.dir, 'crun-probe'),
      wrapperDir: join(fx.dir, 'bin-probe'),
    });
    await handler.ensureUsable();
    expect(handler.usesHybridWrapper).toBe(await isHybridHost());

    const id = uniqueId('crun-echo');
    await fx.run(id, { command: ['sh', '-c', 'echo hi; cat /proc/self/cgroup'] }, { handler: 'crun' });
    const exit = await fx.manager.wait(id, 20_000);
    expect(exit?.exitCode).toBe(0);
    const out = logLines(await fx.logText(id), 'stdout');
    expect(out[0]).toBe('hi');
    // The container was placed in its own cgroup by crun.
    expect(out.some((l) => l.endsWith(`${fx.cgroupParent}/${id}`))).toBe(true);
    expect((await fx.manager.state(id)).handler).toBe('crun');
    await fx.manager.delete(id);
  });

  it('stops a crun task with its grace period and exec works', async () => {
    const id = uniqueId('crun-stop');
    await fx.run(
      id,
      { command: ['sh', '-c', 'trap "exit 5" TERM; while true; do sleep 0.1; done'] },
      { handler: 'crun' },
    );
    const r = await fx.manager.execSync(id, { args: ['echo', 'inside'], timeoutMs: 10_000 });
    expect(r.stdout.toString()).toBe('inside\n');
    expect((await fx.manager.stop(id, 20_000)).exitCode).toBe(5);
    await fx.manager.delete(id);
  });

  it('reports a runtime that cannot run containers as a FailedPrecondition with its reason, without hanging', async () => {
    const missing = new CrunHandler({
      binary: '/nonexistent/crun',
      root: join(fx.dir, 'x'),
      wrapperDir: join(fx.dir, 'y'),
    });
    await expect(missing.ensureUsable()).rejects.toThrow(FailedPreconditionError);
    await expect(missing.ensureUsable()).rejects.toThrow(
      /runtime handler crun cannot run containers here: .*nonexistent/,
    );
    // A runtime that refuses, like crun on a hybrid host without the wrapper: `false` exits 1 for every verb.
    const refusing = new RuncHandler({ binary: '/bin/false', root: join(fx.dir, 'z') }, 'broken');
    await expect(refusing.ensureUsable()).rejects.toThrow(
      /runtime handler broken cannot run containers here/,
    );
  });
});
