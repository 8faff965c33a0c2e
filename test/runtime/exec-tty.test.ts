/** Streaming exec with a terminal: runc on a pty of ours, input, ^D at the end of input, resizes, exit codes. */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execStreaming, firstSize } from '../../src/daemon/container-exec.js';
import { spawnOnTerminal } from '../../src/runtime/pty.js';
import { runtimeFixture, uniqueId, type RuntimeFixture, textSink } from './helpers.js';

let fx: RuntimeFixture;
let id: string;

beforeAll(async () => {
  fx = await runtimeFixture('exectty');
  id = uniqueId('host');
  await fx.run(id, { command: ['sleep', '300'] });
});

const node = () => ({ tasks: fx.manager, handlers: fx.handlers });

afterAll(async () => {
  await fx.cleanup();
});

/** An async iterable of terminal sizes the test pushes into. */
function sizes(): AsyncIterable<{ width: number; height: number }> & {
  push: (s: { width: number; height: number }) => void;
} {
  const queue: Array<{ width: number; height: number }> = [];
  let wake: (() => void) | undefined;
  return {
    push(s) {
      queue.push(s);
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        await new Promise<void>((r) => (wake = r));
      }
    },
  };
}

describe('exec with a tty', () => {
  it('the helper terminal is raw before the command starts: early input is neither echoed nor translated', async () => {
    const helper = spawnOnTerminal(['head', '-1']);
    let out = '';
    helper.stdout!.on('data', (b: Buffer) => (out += b.toString('utf8')));
    helper.stdin!.write('typed-early\n');
    const code = await new Promise((resolve) => helper.on('close', resolve));
    expect(code).toBe(0);
    expect(out).toBe('typed-early\n');
  });

  it('runs a command on a terminal: its output with the terminal line endings, exit code 0', async () => {
    const stdout = textSink();
    const code = await execStreaming(node(), id, ['sh', '-c', 'tty; echo hello'], { stdout, tty: true });
    expect(code).toBe(0);
    // Line endings depend on whether the output came before runc finished setting up the
    // terminals (seen: \r\n and \r\r\n), so they are not compared.
    expect(stdout.text().replace(/\r/g, '')).toMatch(/^\/dev\/pts\/\d+\nhello\n$/);
  });

  // Busybox's interactive line editor queries the cursor position and redraws its input, so
  // these use programs that leave the container's terminal in its cooked default.
  it('feeds input through the terminal, echoed once (by the container terminal), and returns the exit code', async () => {
    const stdin = new PassThrough();
    const stdout = textSink();
    const session = execStreaming(node(), id, ['sh', '-c', 'read line; echo "got:$line"; exit 4'], {
      stdin,
      stdout,
      tty: true,
    });
    stdin.write('the-input\n');
    expect(await session).toBe(4);
    // Our terminal is raw: the only echo is the container terminal's. (Its line endings depend on
    // whether the input arrived before runc finished setting the terminal up.)
    expect(stdout.text().replace(/\r/g, '')).toBe('the-input\ngot:the-input\n');
  });

  it('the end of input is an end-of-file on the terminal: cat ends with exit code 0', async () => {
    const stdin = new PassThrough();
    const stdout = textSink();
    const session = execStreaming(node(), id, ['cat'], { stdin, stdout, tty: true });
    stdin.end('last line\n');
    expect(await session).toBe(0);
    expect(stdout.text().replace(/\r/g, '')).toBe('last line\nlast line\n');
  });

  it('the client size is in force when the command starts, and follows it while it runs', async () => {
    const stdin = new PassThrough();
    const stdout = textSink();
    const resize = sizes();
    resize.push({ width: 132, height: 50 });
    // The command reads its size before anything else: no poll, the first answer must be right.
    const session = execStreaming(node(), id, ['sh', '-c', 'stty size; exec sh'], {
      stdin,
      stdout,
      tty: true,
      resize,
    });
    for (let i = 0; i < 50 && !/\d+ \d+\r$/m.test(stdout.text()); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(stdout.text()).toMatch(/^50 132\r$/m);
    resize.push({ width: 100, height: 40 });
    for (let i = 0; i < 50 && !/^40 100\r$/m.test(stdout.text()); i++) {
      stdin.write('stty size\n');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(stdout.text()).toMatch(/^40 100\r$/m);
    stdin.end('exit\n');
    expect(await session).toBe(0);
  });

  it('a size that comes after the wait for the first one is still applied', async () => {
    const resize = sizes();
    const split = await firstSize(resize, 20);
    expect(split.first).toBeUndefined();
    resize.push({ width: 90, height: 30 });
    const next = await split.rest[Symbol.asyncIterator]().next();
    expect(next.value).toEqual({ width: 90, height: 30 });
  });
});
