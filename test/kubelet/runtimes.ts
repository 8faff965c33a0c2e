/**
 * The node runtime under the kubelet suite: berthd (on its own test network), or, as the
 * reference, the bench's isolated containerd (its own root, CNI network and runc root). Both
 * pull the suite's image from the loopback registry.
 */
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from '../../src/common/exec.js';
import { ContainerdHarness, CRI_NAMESPACE } from '../../bench/containerd/harness.js';
import type { ContainerdRelease } from '../../bench/containerd/config.js';
import { pidsMentioning } from '../../bench/containerd/host-state.js';
import { runCli, startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { conmonsUnder, leftoverSweep, mountsUnder } from '../containers/support.js';
import { registryConfigArgs } from '../images/support.js';
import { stableLinks } from '../network/host-state.js';
import {
  disposeDaemon,
  hostFootprint,
  setupNetwork,
  teardownNetwork,
  type SandboxTestEnv,
} from '../sandboxes/support.js';

export type RuntimeName = 'berth' | 'containerd';

export interface NodeRuntime {
  readonly name: RuntimeName;
  readonly criEndpoint: string;
  /** The CNI network its pods join; the masquerade rules of its pods name it. */
  readonly network: string;
  /** SIGKILLs the runtime's daemon and starts it again on the same root and state. */
  killAndRestart(): Promise<void>;
  /**
   * What pods may leak on the host (network, mounts, records, per-container processes as
   * `runtimeProcesses`), to compare with a baseline taken before any pod ran.
   */
  footprint(sandboxIds: readonly string[]): Promise<Record<string, unknown>>;
  /** Copies the daemon's log (and Berth's event log) into `dir`, for debugging a run. */
  keepLogs(dir: string): Promise<void>;
  /**
   * The reference only: when `containerId` shows a known bug of the reference runtime that
   * leaves it unremovable, clears it (so the rest of the leak check still runs) and names the
   * bug; undefined for any other container, which the check then reports as a leak.
   */
  clearKnownLeak?(containerId: string): Promise<string | undefined>;
  /** Stops the daemon and removes what it left; safe to call twice. */
  stop(): Promise<void>;
}

export async function startRuntime(
  name: RuntimeName,
  work: string,
  registry: RuntimeRegistry | undefined,
  /** containerd only: Debian's 1.6 (the reference failures were recorded on it) or the 2.x setup builds. */
  containerdRelease: ContainerdRelease = '1.6',
  /** berthd only: more arguments (a bench's `--metrics-address`). */
  berthArgs: readonly string[] = [],
): Promise<NodeRuntime> {
  return name === 'berth'
    ? startBerth(work, registry, berthArgs)
    : startContainerd(registry, containerdRelease);
}

/** A loopback registry the runtime reaches over plain HTTP, and the registries it mirrors. */
export interface RuntimeRegistry {
  host: string;
  /** Upstream registries (registry.k8s.io, …) whose names the runtime pulls from `host`. */
  mirrorOf?: string[];
}

async function startBerth(
  work: string,
  registry: RuntimeRegistry | undefined,
  extraArgs: readonly string[],
): Promise<NodeRuntime> {
  const net: SandboxTestEnv = await setupNetwork('kl');
  const mirrors = (registry?.mirrorOf ?? []).map((r) => [r, { mirrors: [`http://${registry!.host}`] }]);
  const args = [
    ...net.args,
    ...(registry ? await registryConfigArgs(work, [registry.host], {}, Object.fromEntries(mirrors)) : []),
    ...extraArgs,
  ];
  let berthd: RunningBerthd | undefined;
  try {
    berthd = await startBerthd({ args });
  } catch (err) {
    await teardownNetwork(net);
    throw err;
  }
  let stopped = false;
  return {
    name: 'berth',
    criEndpoint: `unix://${path.join(berthd.state, 'cri.sock')}`,
    network: net.net.name,
    async killAndRestart() {
      const d = berthd!;
      d.proc.kill('SIGKILL');
      await new Promise<void>((resolve) => {
        if (d.proc.exitCode !== null || d.proc.signalCode !== null) resolve();
        else d.proc.once('exit', () => resolve());
      });
      berthd = await startBerthd({ root: d.root, state: d.state, nodeId: d.nodeId, args });
    },
    async footprint(sandboxIds) {
      return {
        ...(await hostFootprint(net, berthd!, sandboxIds)),
        runtimeProcesses: conmonsUnder(berthd!.state),
      };
    },
    async keepLogs(dir) {
      const events = await runCli(berthd!.socket, ['events', '--json']);
      await writeFile(path.join(dir, 'events.jsonl'), events.stdout);
      await writeFile(path.join(dir, 'berthd.log'), berthd!.output());
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await berthd!.stop();
      await leftoverSweep(berthd!);
      await disposeDaemon(berthd);
      await teardownNetwork(net);
    },
  };
}

async function startContainerd(
  registry: RuntimeRegistry | undefined,
  release: ContainerdRelease,
): Promise<NodeRuntime> {
  // The loopback registry speaks plain HTTP: containerd reaches it as its own mirror.
  const hosts = registry ? [registry.host, ...(registry.mirrorOf ?? [])] : [];
  const h = await ContainerdHarness.start({
    release,
    registryMirrors: Object.fromEntries(hosts.map((r) => [r, `http://${registry!.host}`])),
  });
  return {
    name: 'containerd',
    criEndpoint: `unix://${h.socket}`,
    network: h.layout.networkName,
    killAndRestart: () => h.killAndRestart(),
    async footprint() {
      const netns = (await execFile('ip', ['netns', 'list'])).split('\n').filter(Boolean).sort();
      return {
        ipNetns: netns,
        links: await stableLinks(),
        mounts: mountsUnder(h.layout.dir).sort(),
        // Shims name containerd's socket on their command line; containerd itself does not.
        runtimeProcesses: (await pidsMentioning(h.socket)).filter((pid) => pid !== h.pid),
      };
    },
    async keepLogs(dir) {
      await copyFile(h.layout.logPath, path.join(dir, 'containerd.log'));
    },
    clearKnownLeak: (containerId) => clearOrphanTask(h, containerId),
    stop: () => h.stop(),
  };
}

/**
 * containerd/containerd#11037 (and #10581): containerd's CRI can record a container as not
 * running (exited with a StartError after its StartContainer was cancelled — kubelet cancels a
 * pod's sync when the pod is deleted — or still created) while its task stays in the shim;
 * RemoveContainer then refuses forever ("cannot delete running task") and the pod is never
 * removed. Recognised by that disagreement; cleared by killing and deleting the task, after
 * which kubelet's next garbage collection removes the container.
 */
export async function clearOrphanTask(
  h: ContainerdHarness,
  containerId: string,
): Promise<string | undefined> {
  const inspected = await h.crictl(['inspect', containerId]).catch(() => '');
  if (!inspected) return undefined;
  const { status } = JSON.parse(inspected) as {
    status: { state: string; reason?: string; message?: string };
  };
  if (status.state === 'CONTAINER_RUNNING') return undefined;
  const tasks = await h.ctr(['tasks', 'ls', '-q'], CRI_NAMESPACE);
  if (!tasks.split('\n').includes(containerId)) return undefined;
  await h.ctr(['tasks', 'kill', '--signal', 'SIGKILL', containerId], CRI_NAMESPACE).catch(() => '');
  await h.ctr(['tasks', 'delete', '--force', containerId], CRI_NAMESPACE);
  const record = [status.state, status.reason, status.message].filter(Boolean).join(', ');
  return `containerd/containerd#11037: container ${containerId.slice(0, 12)} is ${record} to the CRI but kept its task`;
}
