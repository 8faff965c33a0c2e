/**
 * The root lock: one berthd per root. The lock file names its holder (pid and the process's
 * start time, so a recycled pid is not mistaken for a live holder); a lock whose holder is gone
 * is stale and taken over.
 */
import { link, readFile, rm, writeFile } from 'node:fs/promises';
import { FailedPreconditionError } from '../common/errors.js';
import { isRunning, procStat } from '../common/proc.js';

interface LockHolder {
  pid: number;
  /** Start time of the process in clock ticks since boot (field 22 of /proc/<pid>/stat). */
  startTicks: string;
  startedAt: string;
}

export class RootLock {
  private constructor(readonly path: string) {}

  static async acquire(path: string): Promise<RootLock> {
    const me: LockHolder = {
      pid: process.pid,
      startTicks: processStartTicks(process.pid) ?? '',
      startedAt: new Date().toISOString(),
    };
    const tmp = `${path}.${process.pid}`;
    await writeFile(tmp, JSON.stringify(me) + '\n', { mode: 0o600 });
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          await link(tmp, path); // atomic: fails if any lock file exists
          return new RootLock(path);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const holder = await readHolder(path);
        if (holder && isAlive(holder)) {
          throw new FailedPreconditionError(
            `another berthd (pid ${holder.pid}, started ${holder.startedAt}) holds ${path}: stop it or use another --root`,
          );
        }
        await rm(path, { force: true }); // stale: its holder is gone
      }
      throw new FailedPreconditionError(
        `cannot take the lock ${path}: another berthd is starting on this root`,
      );
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async release(): Promise<void> {
    const holder = await readHolder(this.path);
    if (holder?.pid === process.pid) await rm(this.path, { force: true });
  }
}

async function readHolder(path: string): Promise<LockHolder | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<LockHolder>;
    return typeof parsed.pid === 'number' ? (parsed as LockHolder) : undefined;
  } catch {
    return undefined; // unreadable or half-written lock files are treated as stale
  }
}

function isAlive(holder: LockHolder): boolean {
  const ticks = processStartTicks(holder.pid);
  return ticks !== undefined && (holder.startTicks === '' || ticks === holder.startTicks);
}

export function processStartTicks(pid: number): string | undefined {
  return isRunning(pid) ? procStat(pid)?.startTicks : undefined;
}
