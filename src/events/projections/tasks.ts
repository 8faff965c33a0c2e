/**
 * The tasks projection's records and their fold (called from state.ts's applyEvent). Like the
 * rest of the fold: deterministic, no I/O, no clock. Two things here are bounded on purpose: an
 * exec's entry leaves its task when the exec exits (kubelet probes exec every few seconds), and a
 * task keeps only the stop or kill request outstanding, until its exit answers it.
 */
import type { BerthEvent } from '../model.js';
import type { NodeState, Times } from './state.js';

export interface ExecRecord {
  execId: string;
  status: 'created' | 'running' | 'stopped';
  pid?: number;
  exitCode?: number;
}

/** A stop or kill request not yet answered by the task's exit. */
export interface TaskRequest {
  /** The seq of its `/tasks/stop-requested` or `/tasks/kill-requested` event. */
  seq: number;
  topic: '/tasks/stop-requested' | '/tasks/kill-requested';
  /** The signal asked for first (the stop signal, or SIGKILL). */
  signal: string;
  /** A stop's grace period before SIGKILL. */
  timeoutSeconds?: number;
  /** Event time of the request. */
  at: string;
  /** When the grace period ran out and SIGKILL was sent, and how long it was. */
  killedAt?: string;
  afterGraceSeconds?: number;
}

export interface TaskRecord extends Times {
  namespace: string;
  containerId: string;
  status: 'created' | 'running' | 'paused' | 'stopped';
  pid?: number;
  exitCode?: number;
  exitedAt?: string;
  oomKilled: boolean;
  /** Execs in flight (an exited exec's entry is dropped). */
  execs: Record<string, ExecRecord>;
  /** Time of the /tasks/start event. */
  startedAt?: string;
  /** The stop or kill request outstanding, if any; the exit that answers it names its seq. */
  request?: TaskRequest;
}

type Data = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

export function applyTaskEvent(
  state: NodeState,
  e: BerthEvent,
  k: string,
  fresh: Times,
  touch: (r: Times | undefined) => void,
): void {
  const d = e.data as Data;
  const t = state.tasks[k];
  switch (e.topic) {
    case '/tasks/create':
      state.tasks[k] = {
        namespace: e.namespace,
        containerId: e.subject,
        status: 'created',
        ...(num(d.pid) !== undefined ? { pid: num(d.pid) } : {}),
        oomKilled: false,
        execs: {},
        ...fresh,
      };
      return;
    case '/tasks/start':
      // An exit recorded by the exit monitor may precede the start event of a short-lived task.
      if (t && t.status !== 'stopped') {
        t.status = 'running';
        if (num(d.pid) !== undefined) t.pid = num(d.pid);
      }
      if (t) t.startedAt = e.time;
      break;
    case '/tasks/exit': {
      const execId = str(d.execId);
      if (t && execId) {
        // Exec exits recorded before /tasks/exec-exited existed.
        const x = t.execs[execId];
        if (x) Object.assign(x, { status: 'stopped', exitCode: num(d.exitCode) });
      } else if (t) {
        t.status = 'stopped';
        t.exitCode = num(d.exitCode);
        t.exitedAt = str(d.exitedAt);
        if (d.oomKilled === true) t.oomKilled = true;
        delete t.request;
      }
      break;
    }
    case '/tasks/delete':
      delete state.tasks[k];
      return;
    case '/tasks/oom':
      if (t) t.oomKilled = true;
      break;
    case '/tasks/exec-added':
      if (t) t.execs[String(d.execId)] = { execId: String(d.execId), status: 'created' };
      break;
    case '/tasks/exec-started': {
      const x = t?.execs[String(d.execId)];
      if (x) Object.assign(x, { status: 'running', pid: num(d.pid) });
      break;
    }
    case '/tasks/exec-exited':
      if (t) delete t.execs[String(d.execId)];
      break;
    case '/tasks/stop-requested':
    case '/tasks/kill-requested':
      if (t && t.status !== 'stopped') applyRequest(t, e, d);
      break;
    case '/tasks/paused':
    case '/tasks/resumed':
      if (t) t.status = e.topic === '/tasks/paused' ? 'paused' : 'running';
      break;
    case '/tasks/checkpoint':
      // A copy of the task's state was written; the task itself is unchanged.
      break;
  }
  touch(t);
}

function applyRequest(t: TaskRecord, e: BerthEvent, d: Data): void {
  const afterGraceSeconds = num(d.afterGraceSeconds);
  // The SIGKILL a stop sends when its grace period runs out belongs to that stop.
  if (afterGraceSeconds !== undefined && t.request && (num(d.request) ?? t.request.seq) === t.request.seq) {
    t.request.killedAt = e.time;
    t.request.afterGraceSeconds = afterGraceSeconds;
    return;
  }
  const timeoutSeconds = num(d.timeoutSeconds);
  t.request = {
    seq: e.seq,
    topic: e.topic as TaskRequest['topic'],
    signal: str(d.signal) ?? 'SIGKILL',
    ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
    at: e.time,
  };
}
