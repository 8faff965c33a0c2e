/**
 * The processes a runtime needs on the node, found from /proc: its daemon and every descendant,
 * plus every process whose command line names one of its paths (conmon and the shims daemonize
 * away from the daemon's tree but name its state folder or socket), and their descendants.
 * Used to count a runtime's memory (PSS) and to wait until its trailing work has finished (its
 * processes stop using CPU) before the other runtime's turn.
 */
import { readdirSync, readFileSync } from 'node:fs';

interface ProcInfo {
  pid: number;
  ppid: number;
  cmdline: string[];
}

function readProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name is in parentheses and may hold spaces: fields after the last ')' are fixed.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(name), ppid: Number(fields[1]), cmdline: cmdlineOf(Number(name)) });
    } catch {
      // exited while we read it
    }
  }
  return out;
}

export interface ProcessSetSpec {
  /** The daemon's pid: it and every descendant belong to the set. */
  rootPid: number;
  /** Paths whose appearance in a command line puts a process (and its descendants) in the set. */
  mentions: string[];
  /** Leaves out the containers' own programs (the workload is not the runtime's cost). */
  exclude?: (cmdline: string[]) => boolean;
}

/** The benches' containers run `sleep 3600`: the workload, which is no runtime's cost. */
export function isSleepWorkload(cmdline: string[]): boolean {
  return cmdline[0] === 'sleep' && cmdline[1] === '3600';
}

/** The pids of the set now. */
export function processSet(spec: ProcessSetSpec): number[] {
  const procs = readProcs();
  const children = new Map<number, number[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const seeds = procs
    .filter((p) => p.pid === spec.rootPid || spec.mentions.some((m) => p.cmdline.some((a) => a.includes(m))))
    .map((p) => p.pid);
  const inSet = new Set<number>();
  const queue = [...seeds];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    if (inSet.has(pid)) continue;
    inSet.add(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  return [...inSet].filter((pid) => !spec.exclude?.(byPid.get(pid)?.cmdline ?? [])).sort((a, b) => a - b);
}

/** A process's arguments ([] once it has exited). */
export function cmdlineOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** The command name of each pid, for reports ("conmon", "containerd-shim-runc-v2", …). */
export function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** Proportional set size in KiB (shared pages divided among their users), 0 for an exited pid. */
export function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) of the pids, in clock ticks. */
function cpuTicks(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // exited
    }
  }
  return sum;
}

const TICKS_PER_SECOND = 100;

/**
 * Waits until the set uses at most `maxCpuShare` of one CPU over a `windowMs` window (an idle
 * Temporal server polls: zero is never reached). Throws when the set is still busy after `timeoutMs`.
 */
export async function waitQuiet(
  spec: ProcessSetSpec,
  opts: { windowMs?: number; maxCpuShare?: number; timeoutMs?: number } = {},
): Promise<void> {
  const windowMs = opts.windowMs ?? 300;
  const maxTicks = ((opts.maxCpuShare ?? 0.05) * windowMs * TICKS_PER_SECOND) / 1000;
  const t0 = performance.now();
  for (;;) {
    const pids = processSet(spec);
    const before = cpuTicks(pids);
    await new Promise((r) => setTimeout(r, windowMs));
    if (cpuTicks(pids) - before <= maxTicks) return;
    if (performance.now() - t0 > (opts.timeoutMs ?? 30_000))
      throw new Error(
        `the runtime's processes (${pids.join(' ')}) were still busy after ${opts.timeoutMs ?? 30_000} ms`,
      );
  }
}
