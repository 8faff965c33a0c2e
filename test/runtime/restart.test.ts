import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskExit } from '../../src/runtime/exits.js';
import { CrunHandler, HandlerRegistry, RuncHandler } from '../../src/runtime/handler.js';
import { TaskManager } from '../../src/runtime/task.js';
import { logLines, runtimeFixture, uniqueId, type RuntimeFixture } from './helpers.js';

let fx: RuntimeFixture;

beforeAll(async () => {
  fx = await runtimeFixture('restart');
});

afterAll(async () => {
  await fx.cleanup();
});

describe('exits while no manager is running (library level of the daemon restart test)', () => {
  it('20 running tasks, 5 exit while unwatched: a new manager finds exactly those 5 with their codes, 15 untouched', async () => {
    // Each task waits on a FIFO for its exit code, so the test decides who exits and with what.
    const script = 'mkfifo /tmp/go; echo ready; read code < /tmp/go; echo bye; exit $code';
    const ids = Array.from({ length: 20 }, (_, i) => uniqueId(`r${i}`));
    const pids = new Map<string, number>();
    for (const id of ids) {
      // The rootfs is shared by all tasks of the fixture: each gets its own /tmp for its FIFO.
      await fx.run(id, { command: ['sh', '-c', script], tmpfs: [{ containerPath: '/tmp' }] });
      pids.set(id, (await fx.manager.state(id)).pid);
    }
    for (const id of ids) {
      await expect
        .poll(async () => logLines(await fx.logText(id), 'stdout'), { timeout: 10_000 })
        .toContain('ready');
    }

    // "Daemon down": nothing watches. Five tasks exit with distinct codes.
    const exiting = ids.slice(0, 5);
    for (const [i, id] of exiting.entries()) {
      await fx.manager.execSync(id, { args: ['sh', '-c', `echo ${11 + i} > /tmp/go`], timeoutMs: 10_000 });
    }
    for (const id of exiting) {
      await expect
        .poll(async () => (await fx.manager.readExit(id)) !== undefined, { timeout: 10_000 })
        .toBe(true);
    }

    // "Restart": a fresh manager over the same root.
    const manager = new TaskManager({
      root: fx.manager.root,
      handlers: new HandlerRegistry([
        new RuncHandler({ root: join(fx.dir, 'runc') }),
        new CrunHandler({ root: join(fx.dir, 'crun'), wrapperDir: join(fx.dir, 'bin') }),
      ]),
    });
    const seen: TaskExit[] = [];
    const watcher = manager.exitWatcher();
    watcher.on('exit', (e) => seen.push(e));
    await watcher.start();
    watcher.stop();
    expect(seen.map((e) => [e.id, e.exitCode]).sort()).toEqual(exiting.map((id, i) => [id, 11 + i]).sort());
    for (const id of exiting) expect(logLines(await fx.logText(id), 'stdout')).toEqual(['ready', 'bye']);
    for (const id of ids.slice(5)) {
      const st = await manager.state(id);
      expect(st.status).toBe('running');
      expect(st.pid).toBe(pids.get(id));
    }
    for (const id of ids) await manager.delete(id, true);
    // Twenty containers on a loaded two-core machine: a generous budget, not a timing assertion.
  }, 240_000);
});
