/**
 * The container transitions crash-tested at every activity boundary: berthd SIGKILLs itself
 * before and after each step of create, start, stop and remove, is restarted on the same root,
 * the request is re-issued (joining the resumed workflow), and the outcome must be exactly once:
 * one container, one conmon, each event once, a chain that verifies, a projection equal to a
 * rebuild, and nothing left behind after remove.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { hostState, logConsistency, runThroughCrashes, type HostState } from '../helpers/crash.js';
import { writeOciLayout } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { pullViaApi, registryConfigArgs } from '../images/support.js';
import type { ContainerStatus } from '../../src/daemon/containers.js';
import type { Explanation } from '../../src/events/projections/explain.js';
import { conmonsUnder, leftoverSweep, tinyImageFiles } from './support.js';

let reg: TestRegistry;
let work: string;
let daemon: RunningBerthd;
let registryArgs: string[];
let image: string;
let before: HostState;
let id: string;

/** Starts berthd on the same root with this phase's crash points. */
async function phase(crashAt: string[]): Promise<RunningBerthd> {
  await daemon.stop();
  daemon = await startBerthd({
    root: daemon.root,
    state: daemon.state,
    nodeId: daemon.nodeId,
    args: registryArgs,
    env: { BERTH_TEST_HOOKS: '1', BERTH_TEST_CRASH_AT: crashAt.join(',') },
  });
  return daemon;
}

async function topicsOf(subject: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of daemon.client.stream<{ topic: string }>('/v1/events', { entity: subject }))
    out.push(e.topic);
  return out;
}

async function expectConsistent(): Promise<void> {
  const log = await logConsistency(daemon, 'container:');
  expect(log.chain.ok).toBe(true);
  expect(log.projection).toEqual({ equal: true, differences: [] });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-container-crash-'));
  reg = await startRegistry();
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, 'tiny', { layers: [{ files: await tinyImageFiles() }], cmd: ['/bin/sh'] });
  await reg.push(layout, 'tiny', 'test/tiny', { destTag: 'latest' });
  registryArgs = await registryConfigArgs(work, [reg.host]);
  image = `${reg.host}/test/tiny:latest`;
  daemon = await startBerthd({ args: registryArgs, env: { BERTH_TEST_HOOKS: '1' } });
  const pulled = await pullViaApi(daemon.client, image);
  expect(pulled.error).toBeUndefined();
  before = hostState(daemon.root, daemon.state);
}, 180_000);

afterAll(async () => {
  await daemon?.stop();
  if (daemon) await leftoverSweep(daemon);
  await daemon?.cleanup();
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
}, 60_000);

describe('container transitions through crashes', () => {
  it('create: crashed before and after each step and inside the task create, one container and one conmon', async () => {
    const crashAt = [
      'containerPrepareRootfs:before',
      'containerPrepareRootfs:after',
      'containerCreateTask:before',
      // Inside: the task recorded, conmon not started; then the runtime's container created.
      'task:recorded',
      'task:created',
      'containerCreateTask:after',
    ];
    const first = await phase(crashAt);
    const run = await runThroughCrashes(
      crashAt,
      (d) =>
        d.client.post<ContainerStatus>('/v1/containers', {
          name: 'crashy',
          image,
          command: ['sh', '-c', 'trap "exit 3" TERM; echo up; while true; do sleep 0.1; done'],
        }),
      first,
    );
    daemon = run.daemon;
    expect(run.crashes).toBe(crashAt.length);
    id = run.result.id;
    expect(run.result).toMatchObject({ name: 'crashy', state: 'created' });
    const list = await daemon.client.get<ContainerStatus[]>('/v1/containers');
    expect(list.map((c) => c.id)).toEqual([id]);
    expect(conmonsUnder(daemon.state)).toHaveLength(1);
    expect(await topicsOf(id)).toEqual(['/containers/create', '/tasks/create']);
    expect(await topicsOf(`container-${id}`)).toEqual(['/snapshot/prepare']);
    await expectConsistent();
  }, 240_000);

  it('start: crashed before and after, started once', async () => {
    const crashAt = ['containerStartTask:before', 'containerStartTask:after'];
    const first = await phase(crashAt);
    const run = await runThroughCrashes(
      crashAt,
      (d) => d.client.post<ContainerStatus>(`/v1/containers/${id}/start`),
      first,
    );
    daemon = run.daemon;
    expect(run.result.state).toBe('running');
    expect(await topicsOf(id)).toEqual(['/containers/create', '/tasks/create', '/tasks/start']);
    await expectConsistent();
  }, 240_000);

  it('stop: crashed around the signal and the wait, the exit recorded once with its own code', async () => {
    // (A crash right after the signal, before the wait, lets the task exit while berthd is down:
    // the retried signal step then finds the exit and the workflow ends without waiting; the
    // restart test covers it. A crash after the wait also re-runs the signal step, which finds
    // the exit the wait recorded.)
    const crashAt = ['containerSignal:before', 'containerWaitExit:after'];
    const first = await phase(crashAt);
    const run = await runThroughCrashes(
      crashAt,
      (d) => d.client.post<ContainerStatus>(`/v1/containers/${id}/stop`, { timeout: 60 }),
      first,
    );
    daemon = run.daemon;
    expect(run.result).toMatchObject({ state: 'exited', exitCode: 3 });
    // The request once, however often its step ran, and the exit names it.
    expect(await topicsOf(id)).toEqual([
      '/containers/create',
      '/tasks/create',
      '/tasks/start',
      '/tasks/stop-requested',
      '/tasks/exit',
    ]);
    const { events } = await daemon.client.get<Explanation>(`/v1/explain/container:${id}`);
    const request = events.find((e) => e.topic === '/tasks/stop-requested');
    expect(events.find((e) => e.topic === '/tasks/exit')?.data.request).toBe(request?.seq);
    await expectConsistent();
  }, 240_000);

  it('remove: crashed before and after each step, nothing left behind', async () => {
    const crashAt = [
      'containerCheckRemovable:before',
      'containerDeleteTask:before',
      'containerDeleteTask:after',
      'containerRemoveRootfs:before',
      'containerRemoveRootfs:after',
      'containerRecordDelete:before',
      'containerRecordDelete:after',
    ];
    const first = await phase(crashAt);
    const run = await runThroughCrashes(
      crashAt,
      async (d) => {
        // A retry after the container is gone finds nothing to remove: that is the success.
        const list = await d.client.get<ContainerStatus[]>('/v1/containers');
        if (!list.some((c) => c.id === id)) return { removed: id };
        return d.client.delete<{ removed: string }>(`/v1/containers/${id}`);
      },
      first,
    );
    daemon = run.daemon;
    expect(await daemon.client.get<ContainerStatus[]>('/v1/containers')).toEqual([]);
    expect(await topicsOf(id)).toEqual([
      '/containers/create',
      '/tasks/create',
      '/tasks/start',
      '/tasks/stop-requested',
      '/tasks/exit',
      '/tasks/delete',
      '/containers/delete',
    ]);
    expect(await topicsOf(`container-${id}`)).toEqual(['/snapshot/prepare', '/snapshot/remove']);
    await expectConsistent();
    const after = hostState(daemon.root, daemon.state);
    // The daemon's own children (Temporal, NATS) have new pids after restarts: compare the rest.
    const ours = (s: HostState) => ({
      mounts: s.mounts,
      cgroups: s.cgroups.filter((c) => c.includes(id)),
      processes: s.processes.filter((p) => p.includes('conmon') || p.includes('runc')),
    });
    expect(ours(after)).toEqual(ours(before));
  }, 300_000);
});
