import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { EventLog } from '../../src/events/log.js';
import { Projections } from '../../src/events/projections/projections.js';
import type { BerthEvent } from '../../src/events/model.js';
import { containerCreate, tempRoot } from './helpers/fixtures.js';
import { podLifecycle } from './helpers/scenario.js';

let root: { dir: string; cleanup: () => Promise<void> };
let dir: string;
beforeEach(async () => {
  root = await tempRoot();
  dir = join(root.dir, 'events');
});
afterEach(async () => {
  await root.cleanup();
});

async function appendAll(log: EventLog, reqs: ReturnType<typeof podLifecycle>): Promise<BerthEvent[]> {
  const out: BerthEvent[] = [];
  for (const r of reqs) out.push(await log.append(r));
  return out;
}

describe('Projections', () => {
  it('folds a pod lifecycle into every entity kind', async () => {
    const log = await EventLog.open(dir);
    const p = await Projections.open(log);
    await appendAll(log, podLifecycle());
    const s = p.state;
    expect(s.seq).toBe(16);
    expect(Object.keys(s.namespaces)).toEqual(['k8s.io']);
    expect(s.images['k8s.io/docker.io/library/busybox:latest']?.target.size).toBe(1234);
    expect(s.content[`k8s.io/sha256:${'b'.repeat(64)}`]?.size).toBe(1234);
    expect(s.snapshots['k8s.io/sha256:layer1']).toMatchObject({ kind: 'committed' });
    expect(s.snapshots['k8s.io/extract-1']).toBeUndefined();
    expect(s.snapshots['k8s.io/c1']).toMatchObject({ kind: 'active', parent: 'sha256:layer1' });
    expect(s.sandboxes['k8s.io/pod1']).toMatchObject({ state: 'ready', network: { ips: ['10.88.0.2'] } });
    expect(s.containers['k8s.io/c1']).toMatchObject({
      image: 'docker.io/library/busybox:latest',
      sandboxId: 'pod1',
    });
    expect(p.list('containers', 'k8s.io').map((c) => c.id)).toEqual(['c1']);
    expect(p.list('containers', 'default')).toEqual([]);
    expect(p.get('sandboxes', 'k8s.io', 'pod1')?.state).toBe('ready');
    expect(p.get('namespaces', 'k8s.io')?.name).toBe('k8s.io');
    expect(s.tasks['k8s.io/c1']).toMatchObject({
      status: 'stopped',
      exitCode: 137,
      oomKilled: true,
      execs: { e1: { status: 'stopped', exitCode: 0 } },
    });
    await p.close();
    await log.close();
  });

  it('notifies subscribers after each event in seq order', async () => {
    const log = await EventLog.open(dir);
    const p = await Projections.open(log);
    const seen: number[] = [];
    p.subscribe((e, state) => seen.push(e.seq === state.seq ? e.seq : -1));
    await Promise.all([
      log.append(containerCreate('a')),
      log.append(containerCreate('b')),
      log.append(containerCreate('c')),
    ]);
    expect(seen).toEqual([1, 2, 3]);
    await p.close();
    await log.close();
  });

  it('loads the checkpoint written at close and replays only the tail', async () => {
    let log = await EventLog.open(dir);
    let p = await Projections.open(log, { checkpointEvery: 0 });
    await appendAll(log, podLifecycle());
    await p.close();
    await log.append(containerCreate('late'));
    const expected = JSON.parse(
      JSON.stringify((await Projections.open(log, { checkpointEvery: 0 })).state),
    ) as unknown;
    await log.close();
    log = await EventLog.open(dir);
    p = await Projections.open(log, { checkpointEvery: 0 });
    expect(p.loaded).toEqual({ checkpointSeq: 16, tailEvents: 1, ignored: [] });
    expect(JSON.parse(JSON.stringify(p.state))).toEqual(expected);
    await log.close();
  });

  it('writes periodic checkpoints and keeps only the newest', async () => {
    const log = await EventLog.open(dir);
    const p = await Projections.open(log, { checkpointEvery: 5, keepCheckpoints: 2 });
    for (let i = 0; i < 23; i++) await log.append(containerCreate(`c${i}`));
    await p.close();
    const seqs: number[] = [];
    for await (const cp of log.checkpoints()) seqs.push(cp.seq);
    expect(seqs).toEqual([23, 20]);
    await log.close();
  });

  it('detects a corrupt checkpoint, ignores it and rebuilds in full', async () => {
    const log = await EventLog.open(dir);
    let p = await Projections.open(log, { checkpointEvery: 0 });
    await appendAll(log, podLifecycle());
    await p.close();
    const key = 'c:0000000000000010';
    const body = (await log.rawDb.get(key))!;
    await log.rawDb.put(key, body.replace('"ready"', '"notready"'));
    p = await Projections.open(log, { checkpointEvery: 0 });
    expect(p.loaded).toEqual({
      checkpointSeq: 0,
      tailEvents: 16,
      ignored: [{ seq: 16, problem: 'state hash mismatch (damaged)' }],
    });
    expect(p.state.sandboxes['k8s.io/pod1']?.state).toBe('ready');
    await log.rawDb.put(key, '{"format":1,');
    p = await Projections.open(log, { checkpointEvery: 0 });
    expect(p.loaded.ignored).toEqual([{ seq: 16, problem: 'not valid JSON' }]);
    await log.close();
  });

  it('ignores a checkpoint that belongs to another history', async () => {
    const other = join(root.dir, 'other');
    const a = await EventLog.open(other);
    const pa = await Projections.open(a, { checkpointEvery: 0 });
    await appendAll(a, podLifecycle('elsewhere'));
    await pa.close();
    const foreign = (await a.rawDb.get('c:0000000000000010'))!;
    await a.close();
    const log = await EventLog.open(dir);
    await appendAll(log, podLifecycle());
    await log.rawDb.put('c:0000000000000010', foreign);
    const p = await Projections.open(log, { checkpointEvery: 0 });
    expect(p.loaded.ignored).toEqual([{ seq: 16, problem: "event hash at seq 16 differs from the log's" }]);
    expect(Object.keys(p.state.namespaces)).toEqual(['k8s.io']);
    await log.close();
  });

  it('replays the state as of a seq or a time', async () => {
    const log = await EventLog.open(dir);
    const p = await Projections.open(log, { checkpointEvery: 4 });
    const events = await appendAll(log, podLifecycle());
    const at8 = await p.replayAt({ seq: 8 });
    expect(at8.seq).toBe(8);
    expect(at8.sandboxes['k8s.io/pod1']?.state).toBe('ready');
    expect(at8.containers).toEqual({});
    const atTime = await p.replayAt({ time: new Date(events[15]!.time) });
    expect(atTime.seq).toBe(16);
    expect((await p.replayAt({ seq: 0 })).seq).toBe(0);
    await expect(p.replayAt({ seq: 99 })).rejects.toThrow(/past the end of the log \(last seq 16\)/);
    await p.close();
    await log.close();
  });

  it('check() finds no difference, then names one when the live state drifts', async () => {
    const log = await EventLog.open(dir);
    const p = await Projections.open(log);
    await appendAll(log, podLifecycle());
    expect(await p.check()).toEqual({ equal: true, seq: 16, differences: [] });
    p.state.containers['k8s.io/c1']!.image = 'tampered';
    const result = await p.check();
    expect(result.equal).toBe(false);
    expect(result.differences).toEqual([
      'containers.k8s.io/c1.image: live "tampered", rebuilt "docker.io/library/busybox:latest"',
    ]);
    await log.close();
  });

  it('explains an entity with its causes, oldest first, current incarnation only', async () => {
    const log = await EventLog.open(dir);
    const p = await Projections.open(log);
    await appendAll(log, podLifecycle());
    const ex = await p.explain('container:c1');
    expect(ex.events.map((e) => e.topic)).toEqual([
      '/containers/create',
      '/tasks/create',
      '/tasks/start',
      '/tasks/exec-added',
      '/tasks/exec-started',
      '/tasks/exit',
      '/tasks/exit',
    ]);
    expect(ex.events[0]!.cause).toEqual({
      kind: 'workflow',
      workflowId: 'container:c1:create',
      runId: 'run-1',
      step: 'record',
    });
    expect(ex.current).toHaveLength(1);
    await log.append({
      namespace: 'k8s.io',
      topic: '/containers/delete',
      data: { v: 1, id: 'c1' },
      cause: { kind: 'api', call: 'RemoveContainer' },
    });
    await log.append({ ...containerCreate('c1', 'k8s.io'), cause: { kind: 'api', call: 'CreateContainer' } });
    const again = await p.explain('container:c1');
    expect(again.events.map((e) => e.topic)).toEqual(['/containers/create']);
    expect(again.earlierEvents).toBe(8);
    const bare = await p.explain('pod1');
    expect(bare.events.map((e) => e.topic)).toEqual([
      '/sandboxes/create',
      '/network/attach',
      '/sandboxes/start',
    ]);
    await p.close();
    await log.close();
  });
});
