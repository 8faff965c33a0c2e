/**
 * Starts the built berthd (dist/) as a real child process with its own temporary root and state
 * dir, for integration tests; stops it and removes what it made.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../src/api/client.js';
import { isRunning, procStat } from '../../src/common/proc.js';

/** The repository: two levels up from test/helpers, three from dist/test/helpers (benches import this built). */
const HERE = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
export const REPO = basename(HERE) === 'dist' ? dirname(HERE) : HERE;
export const BERTHD = join(REPO, 'dist/src/daemon/main.js');
export const BERTH_CLI = join(REPO, 'dist/src/cli/main.js');
export const TOOLS_BIN = join(REPO, '.tools/bin');

/** The environment berthd and the CLI run with: the Go tools built by setup on PATH. */
export function testEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${TOOLS_BIN}:${process.env.PATH ?? ''}`, ...extra };
}

export interface RunningBerthd {
  proc: ChildProcess;
  root: string;
  state: string;
  socket: string;
  nodeId: string;
  client: ApiClient;
  output: () => string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** Removes root and state (after stop). */
  cleanup(): Promise<void>;
}

/** berthd exited (or was killed) before it became ready. */
export class BerthdExitedError extends Error {
  constructor(
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly output: string,
    readonly root: string,
    readonly state: string,
    readonly nodeId: string,
  ) {
    super(`berthd exited (${signal ?? `code ${code}`}) before ready:\n${output}`);
  }
}

export async function makeRoots(): Promise<{ root: string; state: string }> {
  const base = await mkdtemp(join(tmpdir(), 'berth-test-'));
  // mkdtemp makes 0700: a pod with its own user namespace has a mapped (non-root) root that must
  // pass through to its rootfs, as it does through a node's /run/berth.
  await chmod(base, 0o711);
  return { root: join(base, 'root'), state: join(base, 'state') };
}

export async function startBerthd(
  opts: {
    root?: string;
    state?: string;
    nodeId?: string;
    args?: string[];
    env?: NodeJS.ProcessEnv;
    readyTimeoutMs?: number;
  } = {},
): Promise<RunningBerthd> {
  const roots = opts.root && opts.state ? { root: opts.root, state: opts.state } : await makeRoots();
  const nodeId = opts.nodeId ?? `test-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const socket = join(roots.state, 'berth.sock');
  const args = [
    BERTHD,
    '--root',
    roots.root,
    '--state',
    roots.state,
    '--node-id',
    nodeId,
    '--log-level',
    'info',
    ...(opts.args ?? []),
  ];
  const proc = spawn(process.execPath, args, { env: testEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const client = new ApiClient(socket);
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new BerthdExitedError(proc.exitCode, proc.signalCode, out, roots.root, roots.state, nodeId);
    }
    if (existsSync(socket)) {
      try {
        await client.get('/v1/health');
        break;
      } catch {
        // not answering yet
      }
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`berthd not ready in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    proc,
    ...roots,
    socket,
    nodeId,
    client,
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
    async cleanup() {
      await rm(join(roots.root, '..'), { recursive: true, force: true });
    },
  };
}

/** Runs berthd to its exit (a start expected to fail); resolves with its exit code and stderr. */
export function runBerthd(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BERTHD, ...args], { env: testEnv() });
    let stderr = '';
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('close', (code) => resolve({ code, stderr }));
  });
}

/** Runs the built `berth` CLI against a socket; resolves with its exit code and output. */
export function runCli(
  socket: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BERTH_CLI, '--socket', socket, ...args], { env: testEnv() });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Pids of the direct and indirect children of a process (from /proc). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(entry);
    if (!stat) continue; // went away
    const list = children.get(stat.ppid) ?? [];
    list.push(Number(entry));
    children.set(stat.ppid, list);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** True when a process no longer runs (gone, or a zombie waiting for PID 1 to reap it). */
export function isGone(pid: number): boolean {
  return !isRunning(pid);
}
