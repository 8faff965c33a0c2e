/**
 * Sandbox transitions under the crash harness: berthd is SIGKILLed before and after every activity
 * of createSandbox, stopSandbox and removeSandbox, restarted on the same root and state, and the
 * request re-issued. Each transition completes exactly once (one event of each kind, chain intact,
 * projection equal to a rebuild), and after remove nothing of the sandbox is left on the host.
 *
 * Each create step gets its own pod: the steps are local activities, so every crash inside one
 * create fails the same workflow task again, and Temporal backs off a workflow task's retries (up
 * to 10 minutes) after a few failed attempts. Ten crashes in one create measured about 11 minutes.
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
const pods = CREATE_STEPS.map((_, n) => (n === 0 ? config : podConfig(`crashy-${n}`)));
/** Every sandbox the test created: the one stopped and removed under crashes, and one per create step. */
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

  for (const [n, step] of CREATE_STEPS.entries()) {
    it(`createSandbox completes exactly once when killed around ${step}`, { timeout: 600_000 }, async () => {
      const specs = boundaries(step);
      const first = await restartWith(specs);
      // The first pod is the one stop and remove are crashed on later.
      const pod = pods[n]!;
      const podId = idOf(first, pod);
      ids.push(podId);
      if (n === 0) {
        id = podId;
        before = await hostFootprint(
          env,
          first,
          pods.map((p) => idOf(first, p)),
        );
      }
      const run = await runThroughCrashes(specs, (x) => runPod(x, pod), first);
      d = run.daemon;
      expect(run.crashes).toBe(specs.length);
      expect(run.result.id).toBe(podId);
      expect(run.result.state).toBe('ready');
      const status = await d.client.get<SandboxStatusView>(`/v1/sandboxes/${podId}`);
      expect(status.networkCheck).toEqual({ check: 'ok' });
      const log = await logConsistency(d, `sandbox:default:${pod.metadata.uid}:`);
      expect(log).toEqual({
        chain: { ok: true, checked: expect.any(Number) as number },
        projection: { equal: true, differences: [] },
        events: [`/sandboxes/create ${podId}`, `/network/attach ${podId}`, `/sandboxes/start ${podId}`],
      });
      // One attachment each: one lease and one bridge port per pod created so far.
      const now = (await hostFootprint(env, d, ids)) as { leases: string[]; bridgePorts: string[] };
      expect(now.leases).toHaveLength(ids.length);
      expect(now.bridgePorts).toHaveLength(ids.length);
    });
  }

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
    // Its lease, veth and plugin chains are gone; the other pods keep theirs.
    const now = (await hostFootprint(env, d, ids)) as { leases: string[]; bridgePorts: string[] };
    expect(now.leases).toHaveLength(ids.length - 1);
    expect(now.bridgePorts).toHaveLength(ids.length - 1);
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
    // The other pods go without crashes; then the host is as before any of them.
    for (const other of ids.slice(1)) await d.client.delete(`/v1/sandboxes/${other}`);
    expect(await d.client.get('/v1/sandboxes')).toEqual([]);
    expect(await hostFootprint(env, d, ids)).toEqual(before);
    await d.stop();
    const host = hostState(d.root, d.state);
    expect(host.processes).toEqual([]);
    expect(host.mounts.filter((m) => m !== path.join(d!.state, 'ns'))).toEqual([]);
  });
});
