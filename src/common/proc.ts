/** Reading /proc/<pid>/stat: the fields callers need, parsed one way. */
import { readFileSync } from 'node:fs';

export interface ProcStat {
  /** R, S, D, Z (zombie), X (dead), … */
  state: string;
  ppid: number;
  /** Start time in clock ticks since boot: with the pid, identifies a process across pid reuse. */
  startTicks: string;
}

/** The process's stat fields, or undefined when it does not exist (or cannot be read). */
export function procStat(pid: number | string): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: fields after it follow the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '', ppid: Number(rest[1]), startTicks: rest[19] ?? '' };
}

/** True when the process runs (exists and is neither a zombie nor dead). */
export function isRunning(pid: number | string): boolean {
  const s = procStat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X';
}

/**
 * The process's file mode creation mask, read from /proc (since Linux 4.7). `process.umask()`
 * reads it by setting it to 0 and back, which a thread creating a file meanwhile would see.
 * Undefined where /proc does not say.
 */
export function currentUmask(): number | undefined {
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? parseInt(m[1] as string, 8) : undefined;
  } catch {
    return undefined;
  }
}
