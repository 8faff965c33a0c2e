/**
 * Transition results handed back through the worker's sink (src/workflows/hand-back.ts): the
 * request gets the result from the workflow itself, the run still completes in Temporal, and a
 * failure still comes from the recorded outcome.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import type { NodeInfo } from '../../src/api/types.js';
import { startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { disposeDaemon } from '../sandboxes/support.js';

interface TransitionLine {
  msg: string;
  workflowId: string;
  via: string;
}

/** The transition log lines of `workflowId`, once there are `count` (berthd's log is written asynchronously). */
async function transitionLines(
  d: RunningBerthd,
  workflowId: string,
  count: number,
): Promise<TransitionLine[]> {
  for (let i = 0; ; i++) {
    const lines = d
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"transition"'))
      .map((l) => JSON.parse(l) as TransitionLine)
      .filter((l) => l.workflowId === workflowId);
    if (lines.length >= count || i === 200) return lines;
    await new Promise((r) => setTimeout(r, 25));
  }
}

const podConfig = (attempt: number, hostname = 'hb') => ({
  metadata: { name: 'hand-back', uid: 'hand-back-uid', namespace: 'default', attempt },
  hostname,
  // Host networking: no CNI network is needed for this test.
  linux: { namespaceOptions: { network: 'node' } },
});

describe('transition results handed back by the workflow', () => {
  let d: RunningBerthd;
  let temporal: Client;
  let connection: Connection;
  beforeAll(async () => {
    d = await startBerthd({ args: ['--log-level', 'debug'] });
    const info = await d.client.get<NodeInfo>('/v1/info');
    connection = await Connection.connect({ address: info.services[0]!.address });
    temporal = new Client({ connection });
  });
  afterAll(async () => {
    await connection?.close();
    await disposeDaemon(d); // stops berthd, unmounts its namespace directory, removes its roots
  });

  it('answers create and remove from the workflow, and each run still completes in Temporal', async () => {
    const created = await d.client.post<{ id: string }>('/v1/sandboxes', { config: podConfig(0) });
    await d.client.delete(`/v1/sandboxes/${created.id}`);
    const [create] = await transitionLines(d, `sandbox:${d.nodeId}:default:hand-back-uid:0`, 1);
    const [remove] = await transitionLines(d, `sandbox:${created.id}:remove`, 1);
    expect(create?.via).toBe('hand-back');
    expect(remove?.via).toBe('hand-back');
    for (const id of [create!.workflowId, remove!.workflowId]) {
      const handle = temporal.workflow.getHandle(id);
      await handle.result(); // the run completes on its own after handing its result back
      expect((await handle.describe()).status.name).toBe('COMPLETED');
    }
  });

  it('a refused transition fails with its own error, from the recorded outcome', async () => {
    const created = await d.client.post<{ id: string }>('/v1/sandboxes', { config: podConfig(1) });
    const clash = d.client.post('/v1/sandboxes', { config: podConfig(1, 'other-hostname') });
    await expect(clash).rejects.toMatchObject({ code: 'already_exists' });
    const lines = await transitionLines(d, `sandbox:${d.nodeId}:default:hand-back-uid:1`, 2);
    expect(lines.map((l) => l.via)).toEqual(['hand-back', 'server']);
    await d.client.delete(`/v1/sandboxes/${created.id}`);
  });
});
