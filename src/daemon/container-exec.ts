/**
 * Streaming exec: a process in a running container wired to caller-supplied streams (the CRI
 * streaming server, `berth exec -i`). The runtime runs in the foreground. With a tty it makes the
 * container's terminal itself and copies between it and its own stdio, which must then be a
 * terminal too: src/runtime/pty.ts gives it one, and carries the client's resizes.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { FailedPreconditionError } from '../common/errors.js';
import { execProcess } from '../runtime/exec.js';
import { watchPidFile } from '../runtime/exec-pid.js';
import { resizeTerminal, spawnOnTerminal } from '../runtime/pty.js';
import type { OciProcess, OciSpec } from '../runtime/oci-types.js';
import type { NodeServices } from './node-services.js';

export interface ExecStreams {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  tty?: boolean;
  /** Terminal size changes (tty only): the runtime follows the size of the terminal it runs on. */
  resize?: AsyncIterable<{ width: number; height: number }>;
  signal?: AbortSignal;
  /** Told the process's pid once it runs in the container. */
  onStarted?: (pid: number) => void;
}

/** How long a tty exec waits for the client's first terminal size before starting without one. */
const FIRST_SIZE_WAIT_MS = 1000;

type Size = { width: number; height: number };

/**
 * The first size of `sizes` if it comes within `ms` (or before the stream ends), and the sizes
 * after it. A size that comes later is not lost: it is the first of `rest`.
 */
export async function firstSize(
  sizes: AsyncIterable<Size>,
  ms: number,
): Promise<{ first?: Size; rest: AsyncIterable<Size> }> {
  const iterator = sizes[Symbol.asyncIterator]();
  const pending = iterator.next();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const result = await Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
  const tail: AsyncIterable<Size> = { [Symbol.asyncIterator]: () => iterator };
  if (result === 'timeout') {
    const rest = async function* () {
      const late = await pending;
      if (late.done) return;
      yield late.value;
      yield* tail;
    };
    return { rest: rest() };
  }
  return { first: result.done ? undefined : result.value, rest: tail };
}

export async function execStreaming(
  node: Pick<NodeServices, 'tasks' | 'handlers'>,
  id: string,
  cmd: string[],
  streams: ExecStreams,
): Promise<number> {
  // The client's size must be in force when the command starts: runc copies its own terminal's
  // size to the container's only after the command runs, and a program that reads its size first
  // (`stty size`, a shell's line editor) would see 0x0. Clients send their size first thing.
  const sizes =
    streams.tty && streams.resize ? await firstSize(streams.resize, FIRST_SIZE_WAIT_MS) : undefined;
  const { argv, processPath, pidPath } = await prepareExec(node, id, cmd, streams.tty === true, sizes?.first);
  const pidWatch = streams.onStarted ? watchPidFile(pidPath, streams.onStarted) : undefined;
  try {
    const child = streams.tty
      ? spawnOnTerminal(argv, sizes?.first)
      : spawn(argv[0]!, argv.slice(1), { stdio: [streams.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    if (sizes) {
      const rest = sizes.rest;
      void (async () => {
        for await (const size of rest) resizeTerminal(child, size);
      })().catch(() => undefined);
    }
    if (streams.stdin && child.stdin) {
      streams.stdin.pipe(child.stdin);
      child.stdin.on('error', () => undefined);
    }
    child.stdout!.on('data', (b: Buffer) => streams.stdout?.write(b));
    // With a tty there is one stream; the runtime's own complaints still go to stderr.
    child.stderr!.on('data', (b: Buffer) => (streams.stderr ?? streams.stdout)?.write(b));
    const abort = () => {
      void readFile(pidPath, 'utf8')
        .then((pid) => process.kill(Number(pid.trim()), 'SIGKILL'))
        .catch(() => child.kill('SIGKILL'));
    };
    streams.signal?.addEventListener('abort', abort);
    try {
      return await new Promise<number>((resolve, reject) => {
        child.on('error', (err) =>
          reject(new FailedPreconditionError(`exec in ${id}: cannot run ${argv[0]}: ${err.message}`)),
        );
        child.on('close', (code, sig) => resolve(code ?? (sig ? 128 + 9 : 1)));
      });
    } finally {
      streams.signal?.removeEventListener('abort', abort);
      streams.stdin?.unpipe();
    }
  } finally {
    await pidWatch?.stop();
    await rm(processPath, { force: true });
    await rm(pidPath, { force: true });
  }
}

/**
 * The command line of an exec for a local, root caller to run itself (`berth exec -it`): with its
 * own terminal as stdio, the runtime's pty follows the caller's window size (`size`, the caller's
 * size now, is the container terminal's size from the start). The process file stays
 * in the task's bundle (removed with it); the caller may delete it once the runtime started.
 */
export async function execCommand(
  node: Pick<NodeServices, 'tasks' | 'handlers'>,
  id: string,
  cmd: string[],
  tty: boolean,
  size?: Size,
): Promise<{ argv: string[]; processFile: string; pidFile: string }> {
  const { argv, processPath, pidPath } = await prepareExec(node, id, cmd, tty, size);
  return { argv, processFile: processPath, pidFile: pidPath };
}

/**
 * Writes an exec's process file into the task's bundle (the container's process with `cmd`, a
 * terminal if `tty`, of `size` from the start when one is known: runc sets it before the program
 * runs) and returns the runtime's command line for it and where it will write the pid.
 */
async function prepareExec(
  node: Pick<NodeServices, 'tasks' | 'handlers'>,
  id: string,
  cmd: string[],
  tty: boolean,
  size: Size | undefined,
): Promise<{ argv: string[]; processPath: string; pidPath: string }> {
  const dir = node.tasks.taskDir(id);
  const meta = JSON.parse(await readFile(join(dir, 'task.json'), 'utf8')) as { handler: string };
  const handler = node.handlers.get(meta.handler);
  await handler.ensureUsable();
  const spec = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as OciSpec;
  const proc: OciProcess = { ...execProcess(spec.process, { args: cmd }), terminal: tty };
  if (tty && size && size.width > 0 && size.height > 0)
    proc.consoleSize = { height: size.height, width: size.width };
  const tag = randomBytes(6).toString('hex');
  const processPath = join(dir, `exec-${tag}.json`);
  const pidPath = join(dir, `exec-${tag}.pid`);
  await writeFile(processPath, JSON.stringify(proc));
  return { argv: [handler.runtimePath, ...handler.execArgs(id, processPath, pidPath)], processPath, pidPath };
}
