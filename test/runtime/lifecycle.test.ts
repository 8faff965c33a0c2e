import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FailedPreconditionError, InvalidArgumentError } from '../../src/common/errors.js';
import { HandlerRegistry, RuncHandler } from '../../src/runtime/handler.js';
import { TaskManager } from '../../src/runtime/task.js';
import { logLines, runtimeFixture, uniqueId, type RuntimeFixture } from './helpers.js';

let fx: RuntimeFixture;

beforeAll(async () => {
  fx = await runtimeFixture('life');
});

afterAll(async () => {
  await fx.cleanup();
});

/** Waits until the container's script has printed `ready` (its trap is installed). */
async function waitReady(id: string): Promise<void> {
  await expect
    .poll(async () => logLines(await fx.logText(id), 'stdout'), { timeout: 10_000 })
    .toContain('ready');
}

describe('stop with a grace period', () => {
  it('a process that handles SIGTERM exits with its own code before the grace ends', async () => {
    const id = uniqueId('trap');
    await fx.run(id, {
      command: ['sh', '-c', 'trap "echo bye; exit 9" TERM; echo ready; while true; do sleep 0.1; done'],
    });
    await waitReady(id);
    const exit = await fx.manager.stop(id, 20_000);
    expect(exit.exitCode).toBe(9);
    expect(logLines(await fx.logText(id), 'stdout')).toEqual(['ready', 'bye']);
    await fx.manager.delete(id);
  });

  it('a process that ignores SIGTERM is killed with SIGKILL after the grace: 137', async () => {
    const id = uniqueId('ignore');
    await fx.run(id, { command: ['sh', '-c', 'trap "" TERM; echo ready; while true; do sleep 0.1; done'] });
    await waitReady(id);
    const exit = await fx.manager.stop(id, 1000);
    expect(exit.exitCode).toBe(137);
    expect(exit.oomKilled).toBe(false);
    await fx.manager.delete(id);
  });

  it('uses the task stop signal (the image StopSignal) when none is given', async () => {
    const id = uniqueId('stopsig');
    await fx.run(
      id,
      {
        command: [
          'sh',
          '-c',
          'trap "exit 21" USR1; trap "" TERM; echo ready; while true; do sleep 0.1; done',
        ],
      },
      { stopSignal: 'SIGUSR1' },
    );
    await waitReady(id);
    expect((await fx.manager.stop(id, 20_000)).exitCode).toBe(21);
    await fx.manager.delete(id);
  });

  it('stopping a stopped task returns its recorded exit; a paused task is stopped too', async () => {
    const id = uniqueId('paused');
    await fx.run(id, {
      command: ['sh', '-c', 'trap "exit 3" TERM; echo ready; while true; do sleep 0.1; done'],
    });
    await waitReady(id);
    await fx.manager.pause(id);
    const exit = await fx.manager.stop(id, 20_000);
    expect(exit.exitCode).toBe(3);
    expect(await fx.manager.stop(id, 500)).toEqual(exit);
    await fx.manager.delete(id);
  });

  it('kill delivers a signal', async () => {
    const id = uniqueId('kill');
    // As PID 1 of its namespace, sleep has no default action for SIGTERM: only SIGKILL ends it.
    await fx.run(id, { command: ['sleep', '60'] });
    await fx.manager.kill(id, 'SIGTERM');
    expect(await fx.manager.wait(id, 300)).toBeUndefined();
    await fx.manager.kill(id, 'SIGKILL');
    expect((await fx.manager.wait(id, 10_000))?.exitCode).toBe(137);
    await fx.manager.delete(id);
  });
});

describe('exec sync', () => {
  it('captures stdout, stderr and the exit code, with the container environment', async () => {
    const id = uniqueId('exec');
    await fx.run(id, { command: ['sleep', '60'], env: [{ key: 'GREETING', value: 'hello' }], user: 'user' });
    const r = await fx.manager.execSync(id, {
      args: ['sh', '-c', 'echo $GREETING; id -u; echo oops >&2; exit 4'],
    });
    expect(r).toMatchObject({ exitCode: 4, timedOut: false });
    expect(r.stdout.toString()).toBe('hello\n1000\n');
    expect(r.stderr.toString()).toBe('oops\n');
    const cwd = await fx.manager.execSync(id, { args: ['pwd'], cwd: '/tmp', env: ['X=1'] });
    expect(cwd.stdout.toString()).toBe('/tmp\n');
    await expect(fx.manager.execSync(id, { args: [] })).rejects.toThrow(InvalidArgumentError);
    await fx.manager.delete(id, true);
  });

  it('kills a process that outlives its timeout and says so', async () => {
    const id = uniqueId('exectimeout');
    await fx.run(id, { command: ['sleep', '60'] });
    const r = await fx.manager.execSync(id, { args: ['sleep', '30'], timeoutMs: 500 });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBe(137);
    // Nothing but the init process is left (the killed exec may take a moment to be reaped).
    await expect.poll(async () => (await fx.manager.stats(id)).pidsCurrent, { timeout: 10_000 }).toBe(1);
    await fx.manager.delete(id, true);
  });

  it('kills the process also when the timeout comes before runc has named it (a slow or loaded node)', async () => {
    const id = uniqueId('exec-early-timeout');
    await fx.run(id, { command: ['sleep', '60'] });
    // 1 ms: the timer fires before runc writes the exec's pid file.
    const r = await fx.manager.execSync(id, { args: ['sleep', '30'], timeoutMs: 1 });
    expect(r.timedOut).toBe(true);
    await expect.poll(async () => (await fx.manager.stats(id)).pidsCurrent, { timeout: 10_000 }).toBe(1);
    await fx.manager.delete(id, true);
  });

  it('refuses exec into a task that is not running', async () => {
    const id = uniqueId('execstopped');
    await fx.run(id, { command: ['true'] });
    await fx.manager.wait(id, 10_000);
    await expect(fx.manager.execSync(id, { args: ['true'] })).rejects.toThrow(FailedPreconditionError);
    await fx.manager.delete(id);
  });
});

describe('the task outlives the process that created it', () => {
  it('keeps running after its creator is SIGKILLed, and its exit is found later by a new manager', async () => {
    const id = uniqueId('orphan');
    const helper = fileURLToPath(new URL('./fixtures/create-task.ts', import.meta.url));
    const loader = fileURLToPath(new URL('./fixtures/register-ts.mjs', import.meta.url));
    const logPath = join(fx.dir, 'logs', `${id}.log`);
    const child = spawn(
      process.execPath,
      [
        '--import',
        loader,
        helper,
        fx.manager.root,
        join(fx.dir, 'runc'),
        fx.rootfs,
        id,
        logPath,
        fx.cgroupParent,
        'mkfifo /tmp/go; echo ready; read line < /tmp/go; exit 7',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const started = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      child.on('exit', (code) => reject(new Error(`helper exited ${code} before starting the task`)));
    });
    expect(started).toMatch(/^started \d+$/);
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    // A fresh manager, as after a daemon restart.
    const manager = new TaskManager({
      root: fx.manager.root,
      handlers: new HandlerRegistry([new RuncHandler({ root: join(fx.dir, 'runc') })]),
    });
    expect((await manager.state(id)).status).toBe('running');
    expect(await manager.wait(id, 100)).toBeUndefined();
    // Let the container finish while no manager waits, then find its exit.
    await expect
      .poll(async () => logLines(await fx.logText(id), 'stdout'), { timeout: 10_000 })
      .toContain('ready');
    await manager.execSync(id, { args: ['sh', '-c', 'echo go > /tmp/go'], timeoutMs: 10_000 });
    await expect.poll(async () => (await manager.readExit(id))?.exitCode, { timeout: 10_000 }).toBe(7);
    const watcher = manager.exitWatcher();
    const seen: number[] = [];
    watcher.on('exit', (e) => {
      if (e.id === id) seen.push(e.exitCode);
    });
    await watcher.start();
    watcher.stop();
    expect(seen).toEqual([7]);
    expect(logLines(await fx.logText(id), 'stdout')).toEqual(['ready']);
    await manager.delete(id);
  }, 120_000);
});
