/**
 * A small process that forks programs on the daemon's behalf. fork() copies the parent's page
 * tables, so its cost grows with the parent's memory: measured here, a spawn blocks a 50 MB Node
 * process for about 1.3 ms and one of 250 MB for 3–17 ms, and berthd runs a few hundred programs
 * (runc, CNI plugins, mount) per hundred pods. berthd starts one spawner (a Node process doing
 * nothing else) and routes exec.ts through it; libraries and tests spawn directly unless one is
 * installed. If the spawner dies, its calls in flight fail, later ones spawn directly, and a new
 * spawner is started (forked from the daemon, once: at most one attempt per `RESPAWN_DELAY_MS`).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { builtModule } from './built-module.js';
import type { ExecOptions, ExecResult } from './exec.js';

/** A program to run: execFileCapture's arguments (`env` always given: the daemon's may have changed since the fork). */
export interface SpawnRequest {
  id: number;
  file: string;
  args: readonly string[];
  opts: ExecOptions & { env: NodeJS.ProcessEnv };
}

/** execFileCapture's outcome in the spawner: its result, or the message of the error it threw. */
export type SpawnReply = { id: number } & ({ result: ExecResult } | { error: string });

const CHILD = builtModule(import.meta.url, 'spawner-child.js', 'src/common');

/** How long after an unexpected exit the spawner is started again (and at most how often). */
const RESPAWN_DELAY_MS = 1_000;

async function forkChild(): Promise<ChildProcess> {
  if (!CHILD) throw new Error('spawner-child.js is not built (run node scripts/build.mjs)');
  const child = fork(CHILD, [], {
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    execArgv: [],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return child;
}

export class Spawner {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (r: ExecResult) => void; reject: (e: Error) => void }
  >();
  private child: ChildProcess | undefined;
  private stopped = false;
  private respawn: NodeJS.Timeout | undefined;

  private constructor(child: ChildProcess) {
    this.attach(child);
  }

  private attach(child: ChildProcess): void {
    this.child = child;
    child.on('message', (r: SpawnReply) => {
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      if ('error' in r) p?.reject(new Error(r.error));
      else p?.resolve(r.result);
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      const why = new Error(`the spawner process exited (${signal ?? code}) while running a program`);
      for (const p of this.pending.values()) p.reject(why);
      this.pending.clear();
      if (!this.stopped) this.scheduleRespawn();
    });
    child.on('error', () => undefined);
  }

  private scheduleRespawn(): void {
    this.respawn ??= setTimeout(() => {
      this.respawn = undefined;
      if (this.stopped) return;
      forkChild().then(
        (child) => (this.stopped ? child.disconnect() : this.attach(child)),
        () => this.scheduleRespawn(),
      );
    }, RESPAWN_DELAY_MS);
    // Nothing else to do in a process that is otherwise done.
    this.respawn.unref();
  }

  /** Starts the spawner process; resolves once it runs. */
  static async start(): Promise<Spawner> {
    return new Spawner(await forkChild());
  }

  get alive(): boolean {
    return this.child?.connected === true;
  }

  /** execFileCapture, run by the spawner process. */
  run(file: string, args: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    const child = this.child;
    if (!child?.connected) return Promise.reject(new Error('the spawner process is not running'));
    const id = this.nextId++;
    const req: SpawnRequest = { id, file, args, opts: { ...opts, env: opts.env ?? process.env } };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      child.send(req, (err) => {
        if (!err) return;
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  /** Ends the spawner process (programs it started run to their end on their own); no respawn after. */
  stop(): void {
    this.stopped = true;
    if (this.respawn) clearTimeout(this.respawn);
    this.respawn = undefined;
    this.child?.disconnect();
  }
}
