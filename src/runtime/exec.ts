/**
 * Synchronous exec: run a process inside a running container through the runtime's `exec`, capture its
 * output and exit code, and kill it when it outlives its timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../common/errors.js';
import type { RuntimeHandler } from './handler.js';
import { watchPidFile } from './exec-pid.js';
import type { OciProcess } from './oci-types.js';

export interface ExecSyncRequest {
  args: string[];
  /** `KEY=value` entries added over the container's environment. */
  env?: string[];
  cwd?: string;
  /** Zero or absent: no timeout. */
  timeoutMs?: number;
  /** Told the process's pid (in the host's pid namespace) once it runs. */
  onStarted?: (pid: number) => void;
}

export interface ExecSyncResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  /** True when the process was killed because it ran past the timeout. */
  timedOut: boolean;
}

/** Output beyond this is dropped (kept: the first bytes), so a chatty process cannot exhaust the daemon. */
export const EXEC_OUTPUT_LIMIT = 16 * 1024 * 1024;
const EXEC_DRAIN_MS = 500;

/** The exec'd process: the container's own process settings (user, caps, env) with new args. */
export function execProcess(base: OciProcess, req: ExecSyncRequest): OciProcess {
  if (req.args.length === 0 || req.args[0] === '')
    throw new InvalidArgumentError('exec: args must name a program');
  if (req.cwd !== undefined && !req.cwd.startsWith('/')) {
    throw new InvalidArgumentError(`exec: cwd "${req.cwd}" is not an absolute path`);
  }
  const env = new Map(base.env.map((e) => [e.slice(0, e.indexOf('=')), e] as const));
  for (const e of req.env ?? []) env.set(e.slice(0, e.indexOf('=')), e);
  const { oomScoreAdj: _ignored, ...rest } = base;
  return { ...rest, terminal: false, args: [...req.args], env: [...env.values()], cwd: req.cwd ?? base.cwd };
}

function collector(): { push(b: Buffer): void; value(): Buffer } {
  const parts: Buffer[] = [];
  let size = 0;
  return {
    push(b) {
      if (size >= EXEC_OUTPUT_LIMIT) return;
      const slice = b.subarray(0, EXEC_OUTPUT_LIMIT - size);
      parts.push(slice);
      size += slice.length;
    },
    value: () => Buffer.concat(parts),
  };
}

/** How long a timed-out exec waits for runc to name the process it started before killing runc. */
const EXEC_PID_WAIT_MS = 10_000;

/**
 * Kills the exec'd process once runc has written its pid file. The timeout can come first on a
 * slow or loaded node; killing runc then instead would leave the process running in the container.
 */
async function killExecProcess(pidPath: string, runc: ChildProcess): Promise<void> {
  const until = Date.now() + EXEC_PID_WAIT_MS;
  while (runc.exitCode === null && runc.signalCode === null && Date.now() < until) {
    const pid = await readFile(pidPath, 'utf8').then(
      (t) => Number(t.trim()),
      () => NaN,
    );
    if (pid > 0) {
      try {
        globalThis.process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs `process` in container `id` with `handler`; scratch files go to `workDir`. */
export async function execSync(
  handler: RuntimeHandler,
  id: string,
  workDir: string,
  process: OciProcess,
  timeoutMs: number | undefined,
  onStarted?: (pid: number) => void,
): Promise<ExecSyncResult> {
  const tag = randomBytes(6).toString('hex');
  const processPath = join(workDir, `exec-${tag}.json`);
  const pidPath = join(workDir, `exec-${tag}.pid`);
  await writeFile(processPath, JSON.stringify(process));
  const pidWatch = onStarted ? watchPidFile(pidPath, onStarted) : undefined;
  try {
    const out = collector();
    const err = collector();
    let timedOut = false;
    const child = spawn(handler.runtimePath, handler.execArgs(id, processPath, pidPath), {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timer: NodeJS.Timeout | undefined;
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        // Kill the process in the container (runc then exits with its status), and runc itself if it is stuck.
        void killExecProcess(pidPath, child).finally(() =>
          setTimeout(() => child.kill('SIGKILL'), 2000).unref(),
        );
      }, timeoutMs);
    }
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', () => {
        // A background child of the exec'd process may hold the pipes open: stop reading soon after runc exits.
        setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
        }, EXEC_DRAIN_MS).unref();
      });
      child.on('close', (c, signal) => resolve(c ?? (signal === 'SIGKILL' ? 137 : 128)));
    }).finally(() => clearTimeout(timer));
    return { exitCode: code, stdout: out.value(), stderr: err.value(), timedOut };
  } finally {
    await pidWatch?.stop();
    await rm(processPath, { force: true });
    await rm(pidPath, { force: true });
  }
}
