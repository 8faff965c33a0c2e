/**
 * The transition backbone against a real berthd and the Temporal dev server it embeds, through the
 * demo transition (three steps, compensation): joining, recorded results, non-retryable bad input,
 * compensation, and crash recovery at every step boundary.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { NodeInfo } from '../../src/api/types.js';
import { startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { hostState, logConsistency, runThroughCrashes } from '../helpers/crash.js';

const effects = (d: RunningBerthd, id: string) =>
  readFileSync(join(d.root, 'demo', id, 'effects.log'), 'utf8')
    .trim()
    .split('\n');

describe('transitions', () => {
  let d: RunningBerthd;
  let temporal: Client;
  let connection: Connection;
  beforeAll(async () => {
    d = await startBerthd({ env: { BERTH_TEST_HOOKS: '1' } });
    const info = await d.client.get<NodeInfo>('/v1/info');
    connection = await Connection.connect({ address: info.services[0]!.address });
    temporal = new Client({ connection });
  });
  afterAll(async () => {
    await connection?.close();
    await d?.stop();
    await d?.cleanup();
  });

  const activityAttempts = async (workflowId: string) => {
    const history = await temporal.workflow.getHandle(workflowId).fetchHistory();
    return (history.events ?? [])
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
  };

  it('50 concurrent identical requests start one run and all get its result', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        d.client.post<{ id: string; steps: string[] }>('/v1/test/demo', { id: 'joined' }),
      ),
    );
    for (const r of results) expect(r).toEqual({ id: 'joined', steps: ['reserve', 'write', 'publish'] });
    const runs = [];
    for await (const wf of temporal.workflow.list({ query: `WorkflowId = 'demo:joined'` }))
      runs.push(wf.runId);
    expect(runs).toHaveLength(1);
    expect(effects(d, 'joined')).toEqual(['do reserve', 'do write', 'do publish']);
  });

  it('answers a request for a finished transition with the recorded result, without redoing it', async () => {
    const first = await d.client.post('/v1/test/demo', { id: 'once' });
    const again = await d.client.post('/v1/test/demo', { id: 'once' });
    expect(again).toEqual(first);
    expect(effects(d, 'once')).toEqual(['do reserve', 'do write', 'do publish']);
  });

  it('fails bad input at once, without retries, with the error intact at the API, and compensates', async () => {
    await expect(
      d.client.post('/v1/test/demo', { id: 'refused', refuseAt: 'publish' }),
    ).rejects.toMatchObject({
      code: 'invalid_argument',
      message: 'demo step "publish" refused its input for "refused"',
    });
    expect(await activityAttempts('demo:refused')).toEqual([1, 1, 1, 1, 1]); // 3 steps + 2 undos, each once
    expect(effects(d, 'refused')).toEqual(['do reserve', 'do write', 'undo write', 'undo reserve']);
  });

  it("refuses an invalid id with the activity's own message and code", async () => {
    await expect(d.client.post('/v1/test/demo', { id: 'Not Valid' })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: 'demo id "Not Valid" is not valid',
    });
  });
});

describe('crash recovery', () => {
  it(
    'completes exactly once when berthd is killed at every step boundary',
    { timeout: 900_000 },
    async () => {
      const boundaries = ['demoReserve', 'demoWrite', 'demoPublish'].flatMap((a) => [
        `${a}:before`,
        `${a}:after`,
      ]);
      const run = await runThroughCrashes(boundaries, (d) =>
        d.client.post('/v1/test/demo', { id: 'crashy' }),
      );
      const { daemon } = run;
      try {
        expect(run.crashes).toBe(boundaries.length);
        expect(run.result).toEqual({ id: 'crashy', steps: ['reserve', 'write', 'publish'] });
        expect(effects(daemon, 'crashy')).toEqual(['do reserve', 'do write', 'do publish']);
        // The reservation's event was appended exactly once, the chain holds and the live
        // projection equals a rebuild from scratch.
        expect(await logConsistency(daemon, 'demo:crashy')).toEqual({
          chain: { ok: true, checked: expect.any(Number) as number },
          projection: { equal: true, differences: [] },
          events: ['/namespaces/create demo-crashy'],
        });
      } finally {
        expect(await daemon.stop()).toBe(0);
        // The demo makes no cgroups; berth cgroups on the host may belong to tests running beside it.
        const { mounts, processes } = hostState(daemon.root, daemon.state);
        expect({ mounts, processes }).toEqual({ mounts: [], processes: [] });
        await daemon.cleanup();
      }
    },
  );

  it(
    'finishes compensation exactly once when berthd is killed while undoing',
    { timeout: 600_000 },
    async () => {
      const run = await runThroughCrashes(['demoUndo:before', 'demoUndo:after'], (d) =>
        d.client.post('/v1/test/demo', { id: 'crashy-undo', refuseAt: 'publish' }).then(
          () => 'completed',
          (err: { code?: string }) => {
            if (err.code === 'invalid_argument') return 'refused';
            throw err;
          },
        ),
      );
      const { daemon } = run;
      try {
        expect(run.result).toBe('refused');
        expect(run.crashes).toBe(2);
        expect(effects(daemon, 'crashy-undo')).toEqual([
          'do reserve',
          'do write',
          'undo write',
          'undo reserve',
        ]);
        // The undo is recorded too, once, after what it undoes.
        expect(await logConsistency(daemon, 'demo:crashy-undo')).toEqual({
          chain: { ok: true, checked: expect.any(Number) as number },
          projection: { equal: true, differences: [] },
          events: ['/namespaces/create demo-crashy-undo', '/namespaces/delete demo-crashy-undo'],
        });
      } finally {
        expect(await daemon.stop()).toBe(0);
        await daemon.cleanup();
      }
    },
  );
});
