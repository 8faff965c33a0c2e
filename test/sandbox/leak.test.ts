import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from '../../src/common/exec.js';
import { CniNetwork } from '../../src/network/cni.js';
import { PodCgroups } from '../../src/sandbox/cgroups.js';
import type { SandboxConfig } from '../../src/sandbox/config.js';
import { mountsUnder } from '../../src/sandbox/mounts.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
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

const COUNT = 50;
const BATCH = 5;
let root: string;
let testNet: TestNet;
let baseline: HostBaseline;
let dataDir: string;
let confDir: string;
let cgroups: PodCgroups;
const cgroupRoot = `berth-test-leak-${process.pid}`;
const portBase = 40000 + Math.floor(Math.random() * 20000);
const ids = Array.from({ length: COUNT }, (_, i) => `leak-${i}`);

/** A fresh manager on the same state dir: what a restarted daemon would build. */
function newManager(): SandboxManager {
  return new SandboxManager({
    stateDir: path.join(root, 'state'),
    cgroups,
    network: new CniNetwork({
      confDir,
      berthConfDir: path.join(root, 'berth-net.d'),
      cacheDir: path.join(root, 'state', 'cni'),
    }),
  });
}

function config(i: number): SandboxConfig {
  return {
    metadata: { name: `leak-${i}`, uid: `uid-${i}`, namespace: 'leak', attempt: 0 },
    hostname: `leak-${i}`,
    // Every third sandbox publishes a host port, so portmap rules are part of the check.
    ...(i % 3 === 0
      ? { portMappings: [{ protocol: 'TCP' as const, containerPort: 80, hostPort: portBase + i }] }
      : {}),
  };
}

async function hostState(): Promise<Record<string, unknown>> {
  const cgroupDirs: string[] = [];
  for (const dir of cgroups.dirs('x').values()) {
    const parent = path.dirname(dir);
    const entries = await readdir(parent, { withFileTypes: true }).catch(() => []);
    cgroupDirs.push(...entries.filter((e) => e.isDirectory()).map((e) => `${parent}/${e.name}`));
  }
  return {
    iptables: await iptablesFootprint(testNet, ids),
    links: await stableLinks(),
    bridgePorts: await bridgePorts(testNet),
    leases: await hostLocalLeases(dataDir, testNet),
    mounts: (await mountsUnder(path.join(root, 'state')))
      .map((m) => m.mountPoint)
      .filter((m) => !m.endsWith('/ns')),
    cgroups: cgroupDirs.sort(),
    sandboxes: await readdir(path.join(root, 'state', 'sandboxes')).catch(() => []),
    cniCache: await readdir(path.join(root, 'state', 'cni')).catch(() => []),
  };
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'berth-leak-'));
  testNet = await uniqueNet('leak');
  baseline = await captureBaseline();
  dataDir = path.join(root, 'ipam');
  confDir = path.join(root, 'net.d');
  await mkdir(confDir);
  await writeTestConflist(confDir, testNet, dataDir);
  cgroups = await PodCgroups.detect(cgroupRoot);
});

afterAll(async () => {
  const m = newManager();
  for (const id of ids) await m.remove(id).catch(() => undefined);
  await m.pinner.dispose().catch(() => undefined);
  for (const mnt of await mountsUnder(root))
    await execFile('umount', [mnt.mountPoint]).catch(() => undefined);
  for (const dir of cgroups.dirs('x').values())
    await execFile('rmdir', [path.dirname(dir)]).catch(() => undefined);
  await restoreHost(testNet, baseline);
  await rm(root, { recursive: true, force: true });
});

describe(`create and remove ${COUNT} sandboxes`, () => {
  it('leaves iptables, links, leases, mounts, cgroups and state exactly as before, including after interrupted steps', async () => {
    // One sandbox first, so the bridge (which stays by design) exists before the baseline.
    const warm = newManager();
    await warm.create(config(0), ids[0]);
    await warm.remove(ids[0] as string);
    const before = await hostState();

    let manager = newManager();
    for (let start = 0; start < COUNT; start += BATCH) {
      const batch = ids.slice(start, start + BATCH);
      const created = await Promise.all(batch.map((id, j) => manager.create(config(start + j), id)));
      expect(new Set(created.map((r) => r.network?.ips[0]?.ip)).size).toBe(batch.length);
      // A third of the batches stop first (as kubelet does); the rest go straight to remove.
      if ((start / BATCH) % 3 === 0) await Promise.all(batch.map((id) => manager.stop(id)));
      await Promise.all(batch.map((id) => manager.remove(id)));
    }
    expect(await hostState()).toEqual(before);

    // Interrupted creates, then a "restarted" manager removes them: every prefix of the steps.
    const steps: ((m: SandboxManager, id: string) => Promise<unknown>)[] = [
      (m, id) => m.pinNamespaces(id),
      (m, id) => m.createCgroup(id),
      (m, id) => m.writeFiles(id),
      (m, id) => m.attachNetwork(id),
    ];
    for (let upTo = 0; upTo <= steps.length; upTo++) {
      const id = ids[upTo] as string;
      await manager.register(id, config(upTo));
      for (const step of steps.slice(0, upTo)) await step(manager, id);
      manager = newManager();
      await manager.remove(id);
    }
    expect(await hostState()).toEqual(before);

    // A crash after the last plugin's ADD but before its result was recorded: DEL must still undo it.
    const id = ids[9] as string;
    await manager.create(config(9), id);
    const cacheFile = path.join(root, 'state', 'cni', id, 'eth0.json');
    const entry = JSON.parse(await readFile(cacheFile, 'utf8'));
    await writeFile(cacheFile, JSON.stringify({ ...entry, result: null }));
    manager = newManager();
    await manager.remove(id);
    expect(await hostState()).toEqual(before);
  }, 600_000);
});
