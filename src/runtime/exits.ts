/**
 * Container exits as conmon records them: `<exitDir>/<id>` holds the exit code (128+signal for a
 * signalled process), its mtime is the exit time, and `<persistDir>/oom` marks an OOM kill.
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** One container exit. */
export interface TaskExit {
  id: string;
  exitCode: number;
  exitedAt: Date;
  oomKilled: boolean;
}

/** Reads `<exitDir>/<id>`; undefined while the container has not exited (or conmon is still writing the file). */
export async function readExitFile(
  exitDir: string,
  id: string,
): Promise<{ exitCode: number; exitedAt: Date } | undefined> {
  const path = join(exitDir, id);
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    const trimmed = text.trim();
    if (!/^-?\d+$/.test(trimmed)) return undefined;
    return { exitCode: Number(trimmed), exitedAt: st.mtime };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Looks up the full exit record of a container (exit code plus OOM evidence). */
export type ExitReader = (id: string) => Promise<TaskExit | undefined>;

/**
 * Watches an exit directory and emits `exit` (a TaskExit) once per exit file. `start` scans the
 * directory after the watch is in place, so exits that happened while nobody watched are reported
 * too, and none that happens during start-up is missed. Emits `error` if the watch fails.
 */
export class ExitWatcher extends EventEmitter<{ exit: [TaskExit]; error: [Error] }> {
  private watcher: FSWatcher | undefined;
  /** Exit files already reported, keyed by id, with the mtime reported (a re-used id exits again). */
  private readonly reported = new Map<string, number>();
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly exitDir: string,
    private readonly readExit: ExitReader,
  ) {
    super();
  }

  async start(): Promise<void> {
    if (this.watcher) return;
    this.watcher = watch(this.exitDir, (_event, name) => {
      if (name) void this.check(name.toString());
    });
    this.watcher.on('error', (err) => this.emit('error', err));
    for (const name of await readdir(this.exitDir)) await this.check(name);
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Forget an id (after its task was deleted), so a new container with the same id is reported. */
  forget(id: string): void {
    this.reported.delete(id);
  }

  private async check(id: string): Promise<void> {
    if (id.startsWith('.') || this.inFlight.has(id)) return;
    this.inFlight.add(id);
    try {
      const exit = await this.readExit(id);
      if (!exit) return;
      const stamp = exit.exitedAt.getTime();
      if (this.reported.get(id) === stamp) return;
      this.reported.set(id, stamp);
      this.emit('exit', exit);
    } catch (err) {
      this.emit('error', err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.inFlight.delete(id);
    }
  }
}

/**
 * Resolves with the exit once `<exitDir>/<id>` holds an exit code, or undefined after `timeoutMs`.
 * The watch is set before the first read, so an exit between the two is not missed.
 */
export async function waitForExit(
  exitDir: string,
  id: string,
  readExit: ExitReader,
  timeoutMs: number,
): Promise<TaskExit | undefined> {
  return new Promise((resolve, reject) => {
    let done = false;
    let checking = false;
    let again = false;
    const finish = (exit: TaskExit | undefined, err?: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      watcher.close();
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else resolve(exit);
    };
    const check = async (): Promise<void> => {
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      try {
        do {
          again = false;
          const exit = await readExit(id);
          if (exit) return finish(exit);
        } while (again);
      } catch (err) {
        finish(undefined, err);
      } finally {
        checking = false;
      }
    };
    const watcher = watch(exitDir, (_event, name) => {
      if (name?.toString() === id) void check();
    });
    watcher.on('error', (err) => finish(undefined, err));
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    void check();
  });
}
