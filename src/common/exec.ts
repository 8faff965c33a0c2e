/** Running external programs (runc, conmon, CNI plugins, ip, mount) with captured output and clear errors. */
import { spawn, type SpawnOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import type { Spawner } from './spawner.js';

export interface ExecResult {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /**
   * Runs the program in a process group of its own and, on timeout, kills the whole group: a
   * program whose children inherit its output (runc's CRIU) would otherwise keep the call waiting
   * for the pipes to close after the program itself was killed.
   */
  killGroupOnTimeout?: boolean;
}

let spawner: Spawner | undefined;

/**
 * Routes every later execFile/execFileCapture through `s` (a daemon's spawner: see spawner.ts);
 * undefined goes back to spawning from this process.
 */
export function useSpawner(s: Spawner | undefined): void {
  spawner = s;
}

export function spawnerInUse(): Spawner | undefined {
  return spawner;
}

/** Runs a program to completion and returns its exit status and output; never throws for a non-zero exit. */
export function execFileCapture(
  file: string,
  args: readonly string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  if (spawner?.alive) return spawner.run(file, args, opts);
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: opts.killGroupOnTimeout === true,
    };
    const child = spawn(file, args, spawnOpts);
    const kill = () => {
      if (opts.killGroupOnTimeout && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
          return;
        } catch {
          // the group is gone already
        }
      }
      child.kill('SIGKILL');
    };
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(kill, opts.timeoutMs);
    }
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run ${file}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({
        code: code ?? -1,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input ?? '');
  });
}

/** Runs a program and returns its stdout; throws an error naming the program, its arguments and its stderr on failure. */
export async function execFile(
  file: string,
  args: readonly string[],
  opts: ExecOptions = {},
): Promise<string> {
  const r = await execFileCapture(file, args, opts);
  if (r.code !== 0) {
    const why = r.stderr.trim() || r.stdout.trim() || (r.signal ? `killed by ${r.signal}` : `exit ${r.code}`);
    throw new Error(`${file} ${args.join(' ')}: ${why}`);
  }
  return r.stdout;
}

/** The absolute path of `name` (returned as is when it has a '/'), searched on PATH; undefined if absent. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  if (name.includes('/')) return name;
  return path
    .split(':')
    .filter(Boolean)
    .map((dir) => `${dir}/${name}`)
    .find(isExecutable);
}

/** Whether `file` exists and this process may execute it. */
export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
