/**
 * Sandbox transitions under the crash harness: berthd is SIGKILLed before and after every activity
 * of createSandbox, stopSandbox and removeSandbox, restarted on the same root and state, and the
 * request re-issued. Each transition completes exactly once (one event of each kind, chain intact,
 * projection equal to a rebuild), and after remove nothing of the sandbox is left on the host.
 *
 * All ten create boundaries are crashed in one create: the steps are local activities, so every
 * crash fails the same workflow task again. Temporal's server slows the retries of a workflow task
 * that keeps failing (by up to 10 minutes by default; ten crashes took about 11 minutes); the
 * embedded server bounds that delay, and this test is what shows the bound holds.
 */
import path from 'node:path';
import { execFile } from '../../src/common/exec.js';
import { pluginChains } from '../network/host-state.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxStatusView, SandboxView } from '../../src/daemon/sandboxes.js';
import { startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { hostState, logConsistency, runThroughCrashes } from '../helpers/crash.js';
import {
  disposeDaemon,
  hostFootprint,
  idOf,
  podConfig,
  runPod,
  setupNetwork,
  teardownNetwork,
  useConfigFile,
  type SandboxTestEnv,
} from './support.js';

const boundaries = (...activities: string[]) => activities.flatMap((a) => [`${a}:before`, `${a}:after`]);
// Since sandboxSetUp runs the last four as one activity, their boundaries are crash points inside it.
const CREATE_STEPS = [
  'sandboxRegister',
  'sandboxPinNamespaces',
  'sandboxCreateCgroup',
  'sandboxWriteFiles',
  'sandboxAttachNetwork',
];
const STOP = boundaries('sandboxStop');
const REMOVE = boundaries('sandboxRemove');

let env: SandboxTestEnv;
let d: RunningBerthd | undefined;
let restoreConfig: () => void;

beforeAll(async () => {
  env = await setupNetwork('crash');
  // The harness restarts berthd with its own flags; the CNI conf dir reaches it through BERTH_CONFIG.
  restoreConfig = await useConfigFile(env);
}, 120_000);

afterAll(async () => {
  if (d) for (const x of ids) await d.client.delete(`/v1/sandboxes/${x}`).catch(() => undefined);
  await disposeDaemon(d);
  restoreConfig?.();
  await teardownNetwork(env);
}, 120_000);

const config = podConfig('crashy', {
  portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: 31000 + (process.pid % 9000) }],
});
let id = '';
/** Every sandbox the test created. */
const ids: string[] = [];

/** Starts berthd on the previous daemon's root (or a new one) with these crash hooks armed. */
async function restartWith(specs: string[]): Promise<RunningBerthd> {
  const prev = d;
  if (prev) await prev.stop();
  d = await startBerthd({
    ...(prev ? { root: prev.root, state: prev.state, nodeId: prev.nodeId } : {}),
    env: { BERTH_TEST_HOOKS: '1', BERTH_TEST_CRASH_AT: specs.join(',') },
  });
  return d;
}

describe('sandbox transitions survive SIGKILL at every step boundary', () => {
  let before: Record<string, unknown>;

  it(
    'createSandbox completes exactly once when killed at all 10 boundaries of one create and inside its attach',
    { timeout: 600_000 },
    async () => {
      // Every boundary, and the point inside the attach step where the node is ready but the log
      // does not know yet (a create resumed from there once skipped its remaining events).
      const specs = [...boundaries(...CREATE_STEPS), 'sandboxAttachNetwork:attached'];
      const first = await restartWith(specs);
      id = idOf(first, config);
      ids.push(id);
      before = await hostFootprint(env, first, ids);
      const run = await runThroughCrashes(specs, (x) => runPod(x, config), first);
      d = run.daemon;
      expect(run.crashes).toBe(specs.length);
      expect(run.result.id).toBe(id);
      expect(run.result.state).toBe('ready');
      const status = await d.client.get<SandboxStatusView>(`/v1/sandboxes/${id}`);
      expect(status.networkCheck).toEqual({ check: 'ok' });
      const log = await logConsistency(d, `sandbox:${d.nodeId}:default:${config.metadata.uid}:`);
      expect(log).toEqual({
        chain: { ok: true, checked: expect.any(Number) as number },
        projection: { equal: true, differences: [] },
        events: [`/sandboxes/create ${id}`, `/network/attach ${id}`, `/sandboxes/start ${id}`],
      });
      // One attachment: one lease and one bridge port.
      const now = (await hostFootprint(env, d, ids)) as { leases: string[]; bridgePorts: string[] };
      expect(now.leases).toHaveLength(1);
      expect(now.bridgePorts).toHaveLength(1);
    },
  );

  it('stopSandbox completes exactly once', { timeout: 600_000 }, async () => {
    const run = await runThroughCrashes(
      STOP,
      (x) => x.client.post<SandboxView>(`/v1/sandboxes/${id}/stop`),
      await restartWith(STOP),
    );
    d = run.daemon;
    expect(run.crashes).toBe(STOP.length);
    expect(run.result.state).toBe('notready');
    const log = await logConsistency(d, `sandbox:${id}:stop`);
    expect(log.events).toEqual([`/network/detach ${id}`, `/sandboxes/stop ${id}`]);
    expect(log.chain.ok).toBe(true);
    expect(log.projection).toEqual({ equal: true, differences: [] });
    // Its lease, veth and plugin chains are gone.
    const now = (await hostFootprint(env, d, ids)) as { leases: string[]; bridgePorts: string[] };
    expect(now.leases).toHaveLength(0);
    expect(now.bridgePorts).toHaveLength(0);
    const iptables = await execFile('iptables-save', []);
    for (const chain of pluginChains(env.net.name, id)) expect(iptables).not.toContain(chain);
  });

  it('removeSandbox completes exactly once and leaves the host as before', { timeout: 600_000 }, async () => {
    const run = await runThroughCrashes(
      REMOVE,
      (x) =>
        x.client.delete(`/v1/sandboxes/${id}`).catch((err: { code?: string }) => {
          // A re-issued remove after the crashed run finished finds nothing: that is success.
          if (err.code !== 'not_found') throw err;
        }),
      await restartWith(REMOVE),
    );
    d = run.daemon;
    expect(run.crashes).toBe(REMOVE.length);
    const log = await logConsistency(d, `sandbox:${id}:remove`);
    expect(log.events).toEqual([`/sandboxes/delete ${id}`]);
    expect(log.chain.ok).toBe(true);
    expect(log.projection).toEqual({ equal: true, differences: [] });
    expect(await d.client.get('/v1/sandboxes')).toEqual([]);
    expect(await hostFootprint(env, d, ids)).toEqual(before);
    await d.stop();
    const host = hostState(d.root, d.state);
    expect(host.processes).toEqual([]);
    expect(host.mounts.filter((m) => m !== path.join(d!.state, 'ns'))).toEqual([]);
  });
});
