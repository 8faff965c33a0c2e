/**
 * The story `berth explain` tells about an entity: who asked (the caller in each event's cause),
 * which workflow and step acted, and what happened, one line per request and its consequences.
 * A stop reads: "StopContainer from kubelet (pid 1234, uid 0) at T → workflow container:c1:stop
 * step containerSignal sent SIGTERM, grace 10 s → SIGKILL at T+10 s → exited 137 (seq N)".
 * Execs (kubelet's probes run one every few seconds) are summed up in one line.
 */
import { describeCaller } from '../../common/caller.js';
import type { BerthEvent, Cause } from '../model.js';

type Data = Record<string, unknown>;

/** Who asked, from a cause: its caller, else what Berth itself was doing. */
export function whoAsked(cause: Cause): string {
  if (cause.caller) return describeCaller(cause.caller);
  switch (cause.kind) {
    case 'workflow':
      return 'berthd';
    case 'api':
      return `berthd (${cause.call})`;
    case 'reconciler':
      return `berthd's ${cause.reason}`;
  }
}

/** Which workflow and step acted, when a workflow did. */
function actor(cause: Cause): string {
  return cause.kind === 'workflow' ? `workflow ${cause.workflowId} step ${cause.step.split(':')[0]}` : '';
}

const seconds = (from: string, to: string) => `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)} s`;

const SIMPLE: Partial<Record<string, string>> = {
  '/containers/create': 'created',
  '/containers/update': 'resources updated',
  '/containers/delete': 'removed',
  '/tasks/create': 'task created',
  '/tasks/paused': 'paused',
  '/tasks/resumed': 'resumed',
  '/tasks/checkpoint': 'checkpointed',
  '/tasks/delete': 'task deleted',
  '/sandboxes/create': 'created',
  '/sandboxes/start': 'ready',
  '/sandboxes/stop': 'stopped',
  '/sandboxes/delete': 'removed',
  '/network/attach': 'network attached',
  '/network/detach': 'network detached',
};

export function storyOf(events: readonly BerthEvent[]): string[] {
  const lines: string[] = [];
  /** The line of each stop or kill request by seq, so its escalation and exit extend it. */
  const requests = new Map<number, { line: number; at: string }>();
  let lastRequest: number | undefined;
  const execs = { count: 0, line: -1, failed: 0, last: '' };
  for (const e of events) {
    const d = e.data as Data;
    const by = whoAsked(e.cause);
    const acted = actor(e.cause);
    switch (e.topic) {
      case '/tasks/start':
        lines.push(
          `${e.time} started${d.pid ? ` (pid ${String(d.pid)})` : ''}: ${by}${acted ? `, ${acted}` : ''}`,
        );
        break;
      case '/tasks/stop-requested':
      case '/tasks/kill-requested': {
        const escalation = typeof d.afterGraceSeconds === 'number';
        const asked = escalation && lastRequest !== undefined ? requests.get(lastRequest) : undefined;
        if (asked) {
          lines[asked.line] += ` → SIGKILL at ${e.time} (+${seconds(asked.at, e.time)})`;
          break;
        }
        const grace =
          e.topic === '/tasks/stop-requested'
            ? `, grace ${String(d.timeoutSeconds)} s`
            : ` (${String(d.reason ?? 'kill')})`;
        lines.push(`${by} at ${e.time} → ${acted || 'berthd'} sent ${String(d.signal)}${grace}`);
        requests.set(e.seq, { line: lines.length - 1, at: e.time });
        lastRequest = e.seq;
        break;
      }
      case '/tasks/exit': {
        if (typeof d.execId === 'string') break;
        const how = [
          typeof d.signal === 'string' ? ` after ${d.signal}` : '',
          typeof d.afterGraceSeconds === 'number'
            ? ` at the end of a ${d.afterGraceSeconds} s grace period`
            : '',
          d.oomKilled === true ? ' (OOM-killed)' : '',
        ].join('');
        const exited = `exited ${String(d.exitCode)}${how} (seq ${e.seq})`;
        const asked = typeof d.request === 'number' ? requests.get(d.request) : undefined;
        if (asked) lines[asked.line] += ` → ${exited}`;
        else lines.push(`${String(d.exitedAt ?? e.time)} ${exited}, on its own; recorded by ${by}`);
        lastRequest = undefined;
        break;
      }
      case '/tasks/exec-added':
        execs.count++;
        execs.last = `${Array.isArray(d.args) ? d.args.join(' ') : '?'} by ${by}`;
        if (execs.line < 0) {
          lines.push('');
          execs.line = lines.length - 1;
        }
        break;
      case '/tasks/exec-exited':
        if (typeof d.exitCode !== 'number' || d.exitCode !== 0) execs.failed++;
        execs.last += typeof d.exitCode === 'number' ? ` → exit ${d.exitCode}` : ` → ${String(d.error)}`;
        break;
      case '/tasks/exec-started':
      case '/tasks/oom':
        break; // told with the exec's or the exit's line
      default: {
        const what = SIMPLE[e.topic] ?? e.topic;
        lines.push(`${e.time} ${what}: ${by}${acted ? `, ${acted}` : ''}`);
      }
    }
  }
  if (execs.line >= 0)
    lines[execs.line] =
      `${execs.count} exec${execs.count === 1 ? '' : 's'} (${execs.failed} not exiting 0); last: ${execs.last}`;
  return lines;
}
