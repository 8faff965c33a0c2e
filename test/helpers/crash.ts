/**
 * The crash harness: runs a transition against a real berthd that SIGKILLs itself at chosen step
 * boundaries (BERTH_TEST_CRASH_AT, a test-only hook), restarts it on the same root after each
 * crash, re-issues the same request (which joins the workflow in flight), and hands back the
 * result with what it takes to check exactly-once and leaks.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { crashMarker } from '../../src/common/crash-hooks.js';
import { isRunning } from '../../src/common/proc.js';
import { berthCgroups } from './cgroups.js';
import { BerthdExitedError, startBerthd, type RunningBerthd } from './berthd.js';

export interface HostState {
  /** Mount points under the daemon's root or state dir. */
  mounts: string[];
  /** Processes whose command line names the daemon's root or state dir (conmon, runc, services). */
  processes: string[];
  /**
   * cgroups below `berth` (each v1 controller's, or the v2 hierarchy's; test/helpers/cgroups.ts):
   * every Berth daemon's on this host, so a caller filters them by the ids it created.
   */
  cgroups: string[];
}

export function hostState(root: string, state: string): HostState {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(root) || m.startsWith(state))
    .sort();
  const processes: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (!isRunning(pid)) continue;
      if (cmd.includes(root) || cmd.includes(state)) processes.push(`${pid} ${cmd}`);
    } catch {
      // gone
    }
  }
  return { mounts, processes, cgroups: berthCgroups() };
}

export interface CrashRun<T> {
  result: T;
  daemon: RunningBerthd;
  /** How many times berthd was killed and restarted. */
  crashes: number;
}

/**
 * Issues `request` until it succeeds, restarting berthd (same root, state and node id) each time
 * a crash hook killed it. Every spec in `crashAt` must have fired by the end.
 */
export async function runThroughCrashes<T>(
  crashAt: string[],
  request: (d: RunningBerthd) => Promise<T>,
  first?: RunningBerthd,
): Promise<CrashRun<T>> {
  const env = { BERTH_TEST_HOOKS: '1', BERTH_TEST_CRASH_AT: crashAt.join(',') };
  let daemon = first ?? (await startBerthd({ env }));
  let crashes = 0;
  for (;;) {
    try {
      const result = await request(daemon);
      const missing = crashAt.filter((spec) => !existsSync(crashMarker(daemon.root, spec)));
      if (missing.length) throw new Error(`crash hooks never fired: ${missing.join(', ')}`);
      return { result, daemon, crashes };
    } catch (err) {
      const killed = await exitedWithin(daemon, 5_000);
      if (!killed || daemon.proc.signalCode !== 'SIGKILL') {
        // A real failure, not a crash. A daemon this harness restarted is unknown to the caller's
        // cleanup: stop it here, or it (and its Temporal and NATS) would outlive the test.
        if (daemon !== first) await daemon.stop();
        throw err;
      }
      daemon = await restartAfterCrashes(daemon, env, () => {
        if (++crashes > crashAt.length)
          throw new Error(`berthd crashed more often than the ${crashAt.length} hooks asked`);
      });
    }
  }
}

/** Restarts berthd on the same root; a resumed workflow may crash it again before it is ready. */
async function restartAfterCrashes(
  d: RunningBerthd,
  env: NodeJS.ProcessEnv,
  countCrash: () => void,
): Promise<RunningBerthd> {
  for (;;) {
    countCrash();
    try {
      return await startBerthd({ root: d.root, state: d.state, nodeId: d.nodeId, env });
    } catch (err) {
      if (!(err instanceof BerthdExitedError) || err.signal !== 'SIGKILL') throw err;
    }
  }
}

function exitedWithin(d: RunningBerthd, ms: number): Promise<boolean> {
  if (d.proc.exitCode !== null || d.proc.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    d.proc.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** What the harness checks in the event log after a crashed transition. */
export interface LogConsistency {
  /** The chain verifies from seq 1 to the head. */
  chain: { ok: boolean; checked: number; firstBad?: { seq: number; problem: string } };
  /** The live projection equals a rebuild from seq 0. */
  projection: { equal: boolean; differences: string[] };
  /** Events whose cause names `workflowIdPrefix`, as `<topic> <subject>`, oldest first. */
  events: string[];
}

/**
 * Reads back what a transition left in the log: chain verification, the projection against a
 * rebuild from scratch, and the events its workflow caused (to count exactly-once).
 */
export async function logConsistency(d: RunningBerthd, workflowIdPrefix: string): Promise<LogConsistency> {
  const chain = await d.client.get<LogConsistency['chain']>('/v1/audit/verify');
  const projection = await d.client.get<LogConsistency['projection']>('/v1/replay/check');
  const events: string[] = [];
  for await (const e of d.client.stream<{ topic: string; subject: string; cause: { workflowId?: string } }>(
    '/v1/events',
  )) {
    if (e.cause.workflowId?.startsWith(workflowIdPrefix)) events.push(`${e.topic} ${e.subject}`);
  }
  return {
    chain: { ok: chain.ok, checked: chain.checked, ...(chain.firstBad ? { firstBad: chain.firstBad } : {}) },
    projection: { equal: projection.equal, differences: projection.differences },
    events,
  };
}
