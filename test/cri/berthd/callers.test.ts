/**
 * Callers in the event log, against a real berthd: a stop or kill is recorded before its effect,
 * naming who asked (the CRI RPC and crictl's pid and uid from SO_PEERCRED, or the `berth` command
 * and its uid), and the task's exit names the request it answers; ExecSync records
 * exec-added/started/exited; `berth explain` tells the story.
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BerthEvent } from '../../../src/events/model.js';
import type { Explanation } from '../../../src/events/projections/explain.js';
import { BERTH_CLI, testEnv } from '../../helpers/berthd.js';
import { rpc } from '../harness.js';
import { CRICTL } from './env.js';
import { createInPod, criPodSuite } from './pod-suite.js';

const suite = criPodSuite({ name: 'callers', namespace: 'callers', uid: 'uid-callers', attempt: 0 });

/** Runs a command to its end; resolves with the pid it ran as (the caller berthd should see) and its output. */
function run(argv: string[]): Promise<{ pid: number; code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: testEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ pid: child.pid!, code, stdout, stderr }));
  });
}

const crictl = (...args: string[]) => run([CRICTL, '--config', suite.env.crictlConfig, ...args]);
const berth = (...args: string[]) =>
  run([process.execPath, BERTH_CLI, '--socket', suite.env.berthd.socket, ...args]);

async function runningContainer(name: string): Promise<string> {
  // sleep is the container's pid 1: the kernel drops the SIGTERM it has no handler for, so only SIGKILL ends it.
  const id = await createInPod(suite, {
    metadata: { name, attempt: 0 },
    image: { image: suite.env.image },
    command: ['sleep', '3600'],
  });
  await rpc((cb) => suite.runtime.StartContainer({ container_id: id }, cb));
  return id;
}

async function eventsOf(id: string): Promise<BerthEvent[]> {
  return (await suite.env.berthd.client.get<Explanation>(`/v1/explain/container:${id}`)).events;
}

function only(events: BerthEvent[], topic: string): BerthEvent {
  const found = events.filter((e) => e.topic === topic);
  expect(
    found.map((e) => e.topic),
    `one ${topic} in ${events.map((e) => e.topic).join(' ')}`,
  ).toEqual([topic]);
  return found[0]!;
}

describe('callers and stop requests in the event log', () => {
  it('StopContainer from crictl: the request names the RPC, pid and uid; the exit links to it', async () => {
    const id = await runningContainer('crictl-stop');
    const stop = await crictl('stop', '--timeout', '2', id);
    expect(stop.code, stop.stderr).toBe(0);
    const events = await eventsOf(id);
    const requested = only(events, '/tasks/stop-requested');
    expect(requested.data).toMatchObject({ containerId: id, signal: 'SIGTERM', timeoutSeconds: 2 });
    expect(requested.cause).toMatchObject({
      kind: 'workflow',
      workflowId: `container:${id}:stop`,
      caller: { via: 'cri', rpc: 'StopContainer', pid: stop.pid, uid: 0, gid: 0, comm: 'crictl' },
    });
    const killed = only(events, '/tasks/kill-requested');
    expect(killed.data).toMatchObject({ signal: 'SIGKILL', afterGraceSeconds: 2, request: requested.seq });
    expect(killed.cause.caller).toEqual(requested.cause.caller);
    const exit = only(events, '/tasks/exit');
    expect(exit.seq).toBeGreaterThan(killed.seq);
    expect(exit.data).toMatchObject({
      exitCode: 137,
      request: requested.seq,
      signal: 'SIGKILL',
      afterGraceSeconds: 2,
    });
    // Events of the create and start name their RPCs too (through the workflows' header).
    expect(only(events, '/containers/create').cause.caller).toMatchObject({
      via: 'cri',
      rpc: 'CreateContainer',
      uid: 0,
    });
    expect(only(events, '/tasks/start').cause.caller).toMatchObject({ via: 'cri', rpc: 'StartContainer' });

    const explained = await berth('explain', id);
    expect(explained.code, explained.stderr).toBe(0);
    const story = explained.stdout.split('\n').find((l) => l.includes('StopContainer'));
    expect(story, explained.stdout).toContain(`StopContainer from crictl (pid ${stop.pid}, uid 0)`);
    expect(story).toContain(`workflow container:${id}:stop step containerSignal sent SIGTERM, grace 2 s`);
    expect(story).toMatch(/→ SIGKILL at \S+ \(\+2\.\d s\)/);
    expect(story).toContain(`→ exited 137 after SIGKILL at the end of a 2 s grace period (seq ${exit.seq})`);
  });

  it("berth stop: the request names the command and the CLI's uid and pid", async () => {
    const id = await runningContainer('berth-stop');
    const stop = await berth('stop', '--time', '1', id);
    expect(stop.code, stop.stderr).toBe(0);
    const events = await eventsOf(id);
    const requested = only(events, '/tasks/stop-requested');
    expect(requested.cause.caller).toEqual({
      via: 'api',
      method: 'POST',
      route: '/v1/containers/:id/stop',
      command: 'stop',
      pid: stop.pid,
      uid: 0,
      gid: 0,
      comm: 'node',
    });
    expect(only(events, '/tasks/exit').data).toMatchObject({ request: requested.seq, exitCode: 137 });
    const explained = await berth('explain', id);
    expect(explained.stdout).toContain(`berth stop by uid 0 (pid ${stop.pid}, node) at `);
  });

  it('RemoveContainer of a running container: a kill request without grace, answered by the exit', async () => {
    const id = await runningContainer('remove-running');
    // This process is the CRI client here (crictl rm -f would stop the container first).
    await rpc((cb) => suite.runtime.RemoveContainer({ container_id: id }, cb));
    const events = await eventsOf(id);
    const killed = only(events, '/tasks/kill-requested');
    expect(killed.data).toMatchObject({ signal: 'SIGKILL', reason: 'remove' });
    expect(killed.data).not.toHaveProperty('afterGraceSeconds');
    expect(killed.cause.caller).toEqual({
      via: 'cri',
      rpc: 'RemoveContainer',
      pid: process.pid,
      uid: process.getuid!(),
      gid: process.getgid!(),
      comm: 'node',
    });
    expect(only(events, '/tasks/exit').data).toMatchObject({
      request: killed.seq,
      signal: 'SIGKILL',
      exitCode: 137,
    });
  });

  it('ExecSync: exec-added, exec-started and exec-exited, with the caller; the task keeps no exec', async () => {
    const id = await runningContainer('execs');
    const exec = await crictl('exec', '-s', id, 'sh', '-c', 'echo hi; exit 3');
    expect(exec.code, exec.stderr).not.toBe(0);
    const events = await eventsOf(id);
    const added = only(events, '/tasks/exec-added');
    const started = only(events, '/tasks/exec-started');
    const exited = only(events, '/tasks/exec-exited');
    expect(added.data).toMatchObject({ containerId: id, args: ['sh', '-c', 'echo hi; exit 3'] });
    expect(added.cause).toMatchObject({
      kind: 'api',
      call: 'execSync',
      caller: { via: 'cri', rpc: 'ExecSync', pid: exec.pid, uid: 0 },
    });
    const execId = added.data.execId;
    expect(started.data).toMatchObject({ execId, pid: expect.any(Number) });
    expect(Number(started.data.pid)).toBeGreaterThan(1);
    expect(exited.data).toMatchObject({ execId, exitCode: 3 });
    expect(added.seq < started.seq && started.seq < exited.seq).toBe(true);

    const probes = Number(process.env.BERTH_EXEC_PROBES ?? 50);
    const before = (await eventsOf(id)).length;
    const logBytes = () =>
      Number(
        execFileSync('du', ['-sb', join(suite.env.berthd.root, 'events')], { encoding: 'utf8' }).split(
          '\t',
        )[0],
      );
    const diskBefore = logBytes();
    const t0 = performance.now();
    for (let i = 0; i < probes; i++)
      await rpc((cb) => suite.runtime.ExecSync({ container_id: id, cmd: ['true'], timeout: 5 }, cb));
    const ms = (performance.now() - t0) / probes;
    const diskGrowth = logBytes() - diskBefore;
    const after = await eventsOf(id);
    const probeEvents = after.slice(before);
    expect(probeEvents.map((e) => e.topic).filter((t) => t === '/tasks/exec-exited')).toHaveLength(probes);
    const bytes = probeEvents.reduce((sum, e) => sum + JSON.stringify(e).length, 0);
    const task = (await suite.env.berthd.client.get<Explanation>(`/v1/explain/task:${id}`)).current[0] as {
      execs: Record<string, unknown>;
    };
    expect(task.execs).toEqual({});
    console.log(
      `${probes} ExecSync: ${probeEvents.length} events, ${Math.round(bytes / probes)} bytes of event JSON per exec (the log's directory grew ${Math.round(diskGrowth / probes)} bytes per exec), ${ms.toFixed(1)} ms per ExecSync; task record ${JSON.stringify(task).length} bytes`,
    );
    const explained = await berth('explain', id);
    expect(explained.stdout).toContain(
      `${probes + 1} execs (1 not exiting 0); last: true by ExecSync from node`,
    );
  }, 300_000);
});
