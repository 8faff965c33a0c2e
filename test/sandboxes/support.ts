/**
 * Support for sandbox tests against a real berthd: a CNI conf dir of the test's own (a bridge and
 * /24 no other test uses, host-local data under the test's temp dir), pod configs, and a snapshot
 * of everything a sandbox can leak on the host, to compare before and after.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile, execFileCapture } from '../../src/common/exec.js';
import { sandboxIdFor, type SandboxView } from '../../src/daemon/sandboxes.js';
import type { SandboxConfig } from '../../src/sandbox/config.js';
import { PodCgroups } from '../../src/sandbox/cgroups.js';
import { mountsUnder } from '../../src/sandbox/mounts.js';
import { startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import {
  bridgePorts,
  captureBaseline,
  hostLocalLeases,
  iptablesFootprint,
  restoreHost,
  stableLinks,
  uniqueNet,
  writeTestConflist,
  type HostBaseline,
  type TestNet,
} from '../network/host-state.js';

export interface SandboxTestEnv {
  dir: string;
  net: TestNet;
  confDir: string;
  dataDir: string;
  baseline: HostBaseline;
  /** berthd flags that point it at this test's CNI conf dir. */
  args: string[];
}

export async function setupNetwork(
  tag: string,
  conflist: Parameters<typeof writeTestConflist>[3] = {},
): Promise<SandboxTestEnv> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `berth-sbx-${tag}-`));
  const net = await uniqueNet(tag);
  const baseline = await captureBaseline();
  const confDir = path.join(dir, 'net.d');
  const dataDir = path.join(dir, 'ipam');
  await mkdir(confDir);
  await writeTestConflist(confDir, net, dataDir, conflist);
  return { dir, net, confDir, dataDir, baseline, args: ['--cni-conf-dir', confDir] };
}

/** Stops and deletes a daemon's dirs, unmounting anything left under its state first. */
export async function disposeDaemon(d: RunningBerthd | undefined): Promise<void> {
  if (!d) return;
  await d.stop();
  for (const m of (await mountsUnder(d.state)).reverse()) {
    await execFileCapture('umount', ['-l', m.mountPoint]);
  }
  await d.cleanup();
}

export async function teardownNetwork(env: SandboxTestEnv | undefined): Promise<void> {
  if (!env) return;
  await restoreHost(env.net, env.baseline);
  await rm(env.dir, { recursive: true, force: true });
}

export function startSandboxBerthd(
  env: SandboxTestEnv,
  opts: Omit<NonNullable<Parameters<typeof startBerthd>[0]>, 'args'> = {},
): Promise<RunningBerthd> {
  return startBerthd({ ...opts, args: env.args });
}

export function podConfig(name: string, extra: Partial<SandboxConfig> = {}): SandboxConfig {
  return {
    metadata: { name, namespace: 'sbx-test', uid: `uid-${name}`, attempt: 0 },
    ...extra,
  };
}

/** The id a berthd gives the pod (namespace `default`). */
export function idOf(d: Pick<RunningBerthd, 'nodeId'>, config: SandboxConfig, namespace = 'default'): string {
  return sandboxIdFor(d.nodeId, namespace, config.metadata.uid, config.metadata.attempt);
}

export const runPod = (d: RunningBerthd, config: SandboxConfig) =>
  d.client.post<SandboxView>('/v1/sandboxes', { config });

let podCgroups: Promise<PodCgroups> | undefined;

/** Everything a sandbox may leave on the host, restricted to this test's network and sandbox ids. */
export async function hostFootprint(
  env: SandboxTestEnv,
  d: Pick<RunningBerthd, 'state'>,
  ids: readonly string[],
): Promise<Record<string, unknown>> {
  podCgroups ??= PodCgroups.detect();
  const cgroups = await podCgroups;
  const cgroupDirs = ids.flatMap((id) => [...cgroups.dirs(id).values()].filter((dir) => existsSync(dir)));
  const netnsList = (await execFile('ip', ['netns', 'list'])).split('\n').filter(Boolean).sort();
  return {
    iptables: await iptablesFootprint(env.net, ids),
    links: await stableLinks(),
    bridgePorts: await bridgePorts(env.net),
    leases: await hostLocalLeases(env.dataDir, env.net),
    ipNetns: netnsList,
    // The shared `<state>/ns` mount point stays for the daemon's life; pins below it must not.
    mounts: (await mountsUnder(d.state))
      .map((m) => m.mountPoint)
      .filter((m) => m !== path.join(d.state, 'ns')),
    cgroups: cgroupDirs.sort(),
    records: await readdir(path.join(d.state, 'sandboxes')).catch(() => [] as string[]),
    cniCache: await readdir(path.join(d.state, 'cni', 'cache')).catch(() => [] as string[]),
  };
}

/**
 * Points every berthd this process starts at the test's CNI conf dir through BERTH_CONFIG (the
 * crash harness restarts berthd without extra flags). Returns the function that undoes it.
 */
export async function useConfigFile(env: SandboxTestEnv): Promise<() => void> {
  const file = path.join(env.dir, 'berthd.json');
  await writeFile(file, JSON.stringify({ cniConfDir: env.confDir }));
  const previous = process.env.BERTH_CONFIG;
  process.env.BERTH_CONFIG = file;
  return () => {
    if (previous === undefined) delete process.env.BERTH_CONFIG;
    else process.env.BERTH_CONFIG = previous;
  };
}
