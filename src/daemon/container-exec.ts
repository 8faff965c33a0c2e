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
import { resizeTerminal, spawnOnTerminal } from '../runtime/pty.js';
import type { OciSpec } from '../runtime/oci-types.js';
import type { NodeServices } from './node-services.js';

export interface ExecStreams {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  tty?: boolean;
  /** Terminal size changes (tty only): the runtime follows the size of the terminal it runs on. */
  resize?: AsyncIterable<{ width: number; height: number }>;
  signal?: AbortSignal;
}

export async function execStreaming(
  node: Pick<NodeServices, 'tasks' | 'handlers'>,
  id: string,
  cmd: string[],
  streams: ExecStreams,
): Promise<number> {
  const dir = node.tasks.taskDir(id);
  const meta = JSON.parse(await readFile(join(dir, 'task.json'), 'utf8')) as { handler: string };
  const handler = node.handlers.get(meta.handler);
  await handler.ensureUsable();
  const spec = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as OciSpec;
  const proc = { ...execProcess(spec.process, { args: cmd }), terminal: streams.tty === true };
  const tag = randomBytes(6).toString('hex');
  const processPath = join(dir, `exec-${tag}.json`);
  const pidPath = join(dir, `exec-${tag}.pid`);
  await writeFile(processPath, JSON.stringify(proc));
  try {
    const argv = [handler.runtimePath, ...handler.execArgs(id, processPath, pidPath)];
    const child = streams.tty
      ? spawnOnTerminal(argv)
      : spawn(argv[0]!, argv.slice(1), { stdio: [streams.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    if (streams.tty && streams.resize) {
      const sizes = streams.resize;
      void (async () => {
        for await (const size of sizes) resizeTerminal(child, size);
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
          reject(
            new FailedPreconditionError(`exec in ${id}: cannot run ${handler.runtimePath}: ${err.message}`),
          ),
        );
        child.on('close', (code, sig) => resolve(code ?? (sig ? 128 + 9 : 1)));
      });
    } finally {
      streams.signal?.removeEventListener('abort', abort);
      streams.stdin?.unpipe();
    }
  } finally {
    await rm(processPath, { force: true });
    await rm(pidPath, { force: true });
  }
}

/**
 * The command line of an exec for a local, root caller to run itself (`berth exec -it`): with its
 * own terminal as stdio, the runtime's pty follows the caller's window size. The process file stays
 * in the task's bundle (removed with it); the caller may delete it once the runtime started.
 */
export async function execCommand(
  node: Pick<NodeServices, 'tasks' | 'handlers'>,
  id: string,
  cmd: string[],
  tty: boolean,
): Promise<{ argv: string[]; processFile: string }> {
  const dir = node.tasks.taskDir(id);
  const meta = JSON.parse(await readFile(join(dir, 'task.json'), 'utf8')) as { handler: string };
  const handler = node.handlers.get(meta.handler);
  await handler.ensureUsable();
  const spec = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as OciSpec;
  const proc = { ...execProcess(spec.process, { args: cmd }), terminal: tty };
  const tag = randomBytes(6).toString('hex');
  const processFile = join(dir, `exec-${tag}.json`);
  await writeFile(processFile, JSON.stringify(proc));
  return {
    argv: [handler.runtimePath, ...handler.execArgs(id, processFile, join(dir, `exec-${tag}.pid`))],
    processFile,
  };
}
