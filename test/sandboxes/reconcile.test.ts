/**
 * berthd's startup reconcile: a sandbox whose record is gone while its pins, CNI attachment and
 * pod cgroup remain (a teardown cut short outside any workflow, or a lost state file) is torn down
 * at the next start, and the log gets its /sandboxes/delete, so nothing leaks and the projection
 * agrees with the node.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { logConsistency } from '../helpers/crash.js';
import {
  disposeDaemon,
  hostFootprint,
  idOf,
  podConfig,
  runPod,
  setupNetwork,
  startSandboxBerthd,
  teardownNetwork,
  type SandboxTestEnv,
} from './support.js';

let env: SandboxTestEnv;
let d: RunningBerthd | undefined;

beforeAll(async () => {
  env = await setupNetwork('recon');
  d = await startSandboxBerthd(env);
}, 120_000);

afterAll(async () => {
  await disposeDaemon(d);
  await teardownNetwork(env);
}, 120_000);

describe('startup reconcile', () => {
  it(
    'tears down a sandbox whose record vanished while berthd was down, and records its delete',
    { timeout: 300_000 },
    async () => {
      const pod = podConfig('orphan', {
        portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: 33000 + (process.pid % 9000) }],
      });
      const id = idOf(d!, pod);
      const before = await hostFootprint(env, d!, [id]);
      const sb = await runPod(d!, pod);
      expect(sb.state).toBe('ready');
      const killed = d!;
      killed.proc.kill('SIGKILL');
      await new Promise((r) => killed.proc.once('exit', r));
      await rm(path.join(killed.state, 'sandboxes', id), { recursive: true, force: true });
      d = await startBerthd({
        root: killed.root,
        state: killed.state,
        nodeId: killed.nodeId,
        args: env.args,
      });
      expect(await d.client.get('/v1/sandboxes')).toEqual([]);
      expect(await hostFootprint(env, d, [id])).toEqual(before);
      const log = await logConsistency(d, `sandbox:${id}:remove`);
      expect(log.events).toEqual([`/network/detach ${id}`, `/sandboxes/delete ${id}`]);
      expect(log.projection).toEqual({ equal: true, differences: [] });
    },
  );
});
