/** Attach through conmon's attach socket: output, stdin (held open, or once), terminals, and refusals. */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../src/common/errors.js';
import { runtimeFixture, uniqueId, type RuntimeFixture, textSink } from './helpers.js';

let fx: RuntimeFixture;

beforeAll(async () => {
  fx = await runtimeFixture('attach');
});

afterAll(async () => {
  await fx.cleanup();
});

describe('attach through conmon', () => {
  it('forwards stdin to a shell and its stdout and stderr back, apart; a second session finds stdin still open', async () => {
    const id = uniqueId('shell');
    await fx.run(id, { command: ['sh'] }, { stdin: true });
    const stdin = new PassThrough();
    const stdout = textSink();
    const stderr = textSink();
    const leave = new AbortController();
    const first = fx.manager.attach(id, { stdin, stdout, stderr, signal: leave.signal });
    stdin.write('echo hello; echo oops >&2\n');
    await Promise.all([stdout.waitFor(/hello\n/), stderr.waitFor(/oops\n/)]);
    expect(stdout.text()).toBe('hello\n');
    expect(stderr.text()).toBe('oops\n');
    leave.abort();
    await first;
    // Not stdinOnce: the shell still has its stdin after the first client left.
    expect((await fx.manager.state(id)).status).toBe('running');
    const again = new PassThrough();
    const out = textSink();
    const second = fx.manager.attach(id, { stdin: again, stdout: out });
    again.write('echo back; exit 3\n');
    await second; // ends when the process exits
    expect(out.text()).toBe('back\n');
    expect((await fx.manager.wait(id, 20_000))?.exitCode).toBe(3);
    await fx.manager.delete(id);
  });

  it('stdinOnce: the end of the first session input is the end of the process stdin', async () => {
    const id = uniqueId('once');
    await fx.run(id, { command: ['sh'] }, { stdin: true, stdinOnce: true });
    const stdin = new PassThrough();
    const stdout = textSink();
    const session = fx.manager.attach(id, { stdin, stdout });
    stdin.end('echo once\n');
    await session;
    expect(stdout.text()).toBe('once\n');
    expect((await fx.manager.wait(id, 20_000))?.exitCode).toBe(0);
    await fx.manager.delete(id);
  });

  it('an output-only session follows a running process and leaving it leaves the process running', async () => {
    const id = uniqueId('ticker');
    await fx.run(id, { command: ['sh', '-c', 'while true; do echo tick; sleep 0.2; done'] });
    const stdout = textSink();
    const leave = new AbortController();
    const session = fx.manager.attach(id, { stdout, signal: leave.signal });
    await stdout.waitFor(/tick\ntick\n/);
    leave.abort();
    await session;
    expect((await fx.manager.state(id)).status).toBe('running');
    await fx.manager.delete(id, true);
  });

  it('a terminal is resized through conmon and the shell sees the new size', async () => {
    const id = uniqueId('tty');
    await fx.run(id, { command: ['sh'], tty: true }, { stdin: true });
    await fx.manager.resize(id, { width: 100, height: 40 });
    const stdin = new PassThrough();
    const stdout = textSink();
    const session = fx.manager.attach(id, { stdin, stdout });
    // conmon applies a resize when it reads its control FIFO: ask until the shell sees it.
    for (let i = 0; i < 50 && !/^40 100\r$/m.test(stdout.text()); i++) {
      stdin.write('stty size\n');
      await new Promise((r) => setTimeout(r, 100));
    }
    stdin.write('exit\n');
    await session;
    // The terminal echoes the input and turns \n into \r\n.
    expect(stdout.text()).toMatch(/^40 100\r$/m);
    await fx.manager.delete(id);
  });

  it('refuses an unknown task, a task whose conmon is gone, and bad resizes, with errors that say so', async () => {
    await expect(fx.manager.attach('no-such-task', {})).rejects.toThrow(NotFoundError);
    const id = uniqueId('gone');
    await fx.run(id, { command: ['true'] });
    await fx.manager.wait(id, 20_000);
    // conmon exits right after the container; wait until its socket refuses connections.
    let err: unknown;
    for (let i = 0; i < 50 && !err; i++) {
      err = await fx.manager.attach(id, {}).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (!err) await new Promise((r) => setTimeout(r, 100));
    }
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toMatch(/cannot attach: cannot connect to conmon's attach socket/);
    await expect(fx.manager.resize(id, { width: 80, height: 24 })).rejects.toThrow(/has no terminal/);
    await fx.manager.delete(id);

    const tty = uniqueId('ttyarg');
    await fx.run(tty, { command: ['sleep', '30'], tty: true });
    await expect(fx.manager.resize(tty, { width: 80, height: 5000 })).rejects.toThrow(InvalidArgumentError);
    await expect(fx.manager.resize(tty, { width: -1, height: 24 })).rejects.toThrow(/width -1/);
    await fx.manager.delete(tty, true);
  });
});
