/**
 * Callers in causes (model.ts): accepted in every cause kind, validated, absent when unknown; the
 * tasks projection keeps one outstanding stop/kill request and drops an exec when it exits; an
 * exit names the request it answers; the story `berth explain` tells.
 */
import { formatCause } from '../../src/events/render.js';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/common/errors.js';
import { validateRequest, type AppendRequest, type BerthEvent } from '../../src/events/model.js';
import { applyEvent, emptyState } from '../../src/events/projections/state.js';
import { storyOf } from '../../src/events/projections/story.js';
import { requestAnswered } from '../../src/activities/task-exits.js';

const kubelet = { via: 'cri', rpc: 'StopContainer', pid: 1234, uid: 0, gid: 0, comm: 'kubelet' } as const;
const cli = {
  via: 'api',
  method: 'POST',
  route: '/v1/containers/:id/stop',
  command: 'stop',
  pid: 42,
  uid: 0,
} as const;
const workflow = {
  kind: 'workflow',
  workflowId: 'container:c1:stop',
  runId: 'r1',
  step: 'containerSignal:stop-requested',
} as const;

const request = (cause: unknown): AppendRequest => ({
  namespace: 'k8s.io',
  topic: '/tasks/paused',
  data: { v: 1, containerId: 'c1' },
  cause: cause as AppendRequest['cause'],
});

describe('cause.caller', () => {
  it('is accepted in every cause kind, and may be absent', () => {
    for (const cause of [
      { ...workflow, caller: kubelet },
      { kind: 'api', call: 'pause', caller: cli },
      { kind: 'reconciler', reason: 'exit monitor', caller: { via: 'cri', rpc: 'Version' } },
      { kind: 'api', call: 'pause' },
    ])
      expect(validateRequest(request(cause)).cause).toEqual(cause);
  });

  it('is refused when it is not a caller, naming the field', () => {
    const bad: [unknown, RegExp][] = [
      [{ via: 'ssh', pid: 1 }, /field "cause\.caller\.via"/],
      [{ via: 'cri', pid: 1 }, /field "cause\.caller\.rpc"/],
      [{ ...kubelet, pid: 0 }, /field "cause\.caller\.pid"/],
      [{ ...kubelet, uid: -1 }, /field "cause\.caller\.uid"/],
      [{ ...cli, route: '' }, /field "cause\.caller\.route"/],
      ['kubelet', /field "cause\.caller"/],
    ];
    for (const [caller, message] of bad) {
      expect(() => validateRequest(request({ kind: 'api', call: 'pause', caller }))).toThrow(
        InvalidArgumentError,
      );
      expect(() => validateRequest(request({ kind: 'api', call: 'pause', caller }))).toThrow(message);
    }
  });
});

let seq = 0;
function event(
  topic: string,
  data: Record<string, unknown>,
  cause: BerthEvent['cause'] = workflow,
  time?: string,
): BerthEvent {
  seq++;
  return {
    seq,
    id: `e${seq}`,
    time: time ?? new Date(Date.UTC(2026, 11, 7, 4, 0, seq)).toISOString(),
    namespace: 'k8s.io',
    topic: topic as BerthEvent['topic'],
    subject: 'c1',
    data: { v: 1, containerId: 'c1', ...data },
    cause,
    prev: '',
    hash: '',
  };
}

describe('the tasks projection', () => {
  it('drops an exec when it exits: a thousand probes leave the task as it was', () => {
    const state = emptyState();
    applyEvent(state, event('/tasks/create', { pid: 100 }));
    applyEvent(state, event('/tasks/start', { pid: 100 }));
    const size = () => JSON.stringify(state).length;
    const before = size();
    for (let i = 0; i < 1000; i++) {
      const execId = `x${i}`;
      applyEvent(state, event('/tasks/exec-added', { execId, args: ['cat', '/tmp/healthy'] }));
      applyEvent(state, event('/tasks/exec-started', { execId, pid: 1000 + i }));
      if (i === 500) expect(state.tasks['k8s.io/c1']!.execs[execId]).toMatchObject({ status: 'running' });
      applyEvent(state, event('/tasks/exec-exited', { execId, exitCode: 0 }));
    }
    expect(state.tasks['k8s.io/c1']!.execs).toEqual({});
    // lastSeq and updatedAt grow by a few digits, nothing else.
    expect(size() - before).toBeLessThan(16);
  });

  it('keeps the outstanding request, its escalation, and forgets it at the exit', () => {
    const state = emptyState();
    applyEvent(state, event('/tasks/create', {}));
    applyEvent(state, event('/tasks/start', {}));
    const stop = event('/tasks/stop-requested', { signal: 'SIGTERM', timeoutSeconds: 10 });
    applyEvent(state, stop);
    const kill = event('/tasks/kill-requested', {
      signal: 'SIGKILL',
      afterGraceSeconds: 10,
      request: stop.seq,
    });
    applyEvent(state, kill);
    const task = state.tasks['k8s.io/c1']!;
    expect(task.request).toEqual({
      seq: stop.seq,
      topic: '/tasks/stop-requested',
      signal: 'SIGTERM',
      timeoutSeconds: 10,
      at: stop.time,
      killedAt: kill.time,
      afterGraceSeconds: 10,
    });
    const exitedAt = new Date(Date.parse(kill.time) + 50);
    expect(requestAnswered(task.request, { exitCode: 137, exitedAt })).toEqual({
      request: stop.seq,
      signal: 'SIGKILL',
      afterGraceSeconds: 10,
    });
    // A task that handled SIGTERM and exited 0 answers the request; no signal ended it.
    expect(requestAnswered({ ...task.request!, killedAt: undefined }, { exitCode: 0, exitedAt })).toEqual({
      request: stop.seq,
    });
    expect(requestAnswered({ ...task.request!, killedAt: undefined }, { exitCode: 143, exitedAt })).toEqual({
      request: stop.seq,
      signal: 'SIGTERM',
    });
    // An exit from before the request (the task ended on its own) does not answer it.
    expect(
      requestAnswered(task.request, { exitCode: 0, exitedAt: new Date(Date.parse(stop.time) - 5000) }),
    ).toEqual({});
    applyEvent(
      state,
      event('/tasks/exit', { v: 2, exitCode: 137, exitedAt: exitedAt.toISOString(), request: stop.seq }),
    );
    expect(state.tasks['k8s.io/c1']!.request).toBeUndefined();
  });
});

describe('the story', () => {
  it('tells who asked, which step acted and what happened', () => {
    seq = 100;
    const byKubelet = { ...workflow, caller: kubelet };
    const t0 = '2026-12-07T04:00:00.000Z';
    const stop = event('/tasks/stop-requested', { signal: 'SIGTERM', timeoutSeconds: 10 }, byKubelet, t0);
    const story = storyOf([
      event(
        '/tasks/start',
        { pid: 100 },
        { ...workflow, step: 'containerStartTask', caller: { ...kubelet, rpc: 'StartContainer' } },
      ),
      event(
        '/tasks/exec-added',
        { execId: 'a', args: ['cat', '/ready'] },
        { kind: 'api', call: 'execSync', caller: { ...kubelet, rpc: 'ExecSync' } },
      ),
      event('/tasks/exec-exited', { execId: 'a', exitCode: 1 }, { kind: 'api', call: 'execSync' }),
      stop,
      event(
        '/tasks/kill-requested',
        { signal: 'SIGKILL', afterGraceSeconds: 10, request: stop.seq },
        { ...byKubelet, step: 'containerSignal:grace-ended' },
        '2026-12-07T04:00:10.004Z',
      ),
      event(
        '/tasks/exit',
        {
          v: 2,
          exitCode: 137,
          exitedAt: '2026-12-07T04:00:10.010Z',
          request: stop.seq,
          signal: 'SIGKILL',
          afterGraceSeconds: 10,
        },
        { kind: 'reconciler', reason: 'exit monitor: conmon exit file' },
        '2026-12-07T04:00:10.020Z',
      ),
    ]);
    expect(story).toEqual([
      expect.stringMatching(
        / started \(pid 100\): StartContainer from kubelet \(pid 1234, uid 0\), workflow container:c1:stop step containerStartTask$/,
      ),
      '1 exec (1 not exiting 0); last: cat /ready by ExecSync from kubelet (pid 1234, uid 0) → exit 1',
      `StopContainer from kubelet (pid 1234, uid 0) at ${t0} → workflow container:c1:stop step containerSignal sent SIGTERM, grace 10 s → SIGKILL at 2026-12-07T04:00:10.004Z (+10.0 s) → exited 137 after SIGKILL at the end of a 10 s grace period (seq 106)`,
    ]);
  });
});

describe('the CAUSE column of berth events and audit', () => {
  it('names the caller after the cause, and nothing when none is known', () => {
    const step = {
      kind: 'workflow' as const,
      workflowId: 'container:c1:stop',
      runId: 'r1',
      step: 'containerSignal',
    };
    expect(formatCause(step)).toBe('workflow container:c1:stop step containerSignal (run r1)');
    expect(
      formatCause({
        ...step,
        caller: { via: 'cri', rpc: 'StopContainer', pid: 42, uid: 0, comm: 'kubelet' },
      }),
    ).toBe(
      'workflow container:c1:stop step containerSignal (run r1), asked by StopContainer from kubelet (pid 42, uid 0)',
    );
    expect(
      formatCause({
        kind: 'api',
        call: 'pause',
        caller: { via: 'api', method: 'POST', route: '/v1/containers/:id/pause', command: 'pause', uid: 0 },
      }),
    ).toBe('api pause, asked by berth pause by uid 0');
  });
});
