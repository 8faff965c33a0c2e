/**
 * Pod sandbox latency, Berth through berthd vs containerd's CRI plugin, in the same run:
 *  - create+start: `crictl runp` against each runtime's CRI socket;
 *  - stop+remove: `crictl stopp` + `crictl rmp`;
 *  - Berth also through its own API in-process (POST /v1/sandboxes; POST …/stop + DELETE), which
 *    leaves out crictl's process start and the CRI gateway.
 * Both use a bridge + host-local + portmap network on a /24 of their own. Runs alternate between
 * the runtimes so load drifts hit both alike. Reports medians, p99 and the Berth/containerd ratio.
 * Usage: node scripts/build.mjs && node dist/bench/sandbox/berthd-vs-containerd.js [runs=20]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../src/api/client.js';
import { execFile } from '../../src/common/exec.js';
import type { SandboxView } from '../../src/daemon/sandboxes.js';
import type { RunningBerthd } from '../../test/helpers/berthd.js';
import {
  disposeDaemon,
  podConfig,
  setupNetwork,
  teardownNetwork,
  type SandboxTestEnv,
} from '../../test/sandboxes/support.js';
import { ContainerdHarness, CRICTL } from '../containerd/harness.js';
import { printTable, summarize, timeIt } from '../stats.js';

const runs = Number(process.argv[2] ?? 20);

// From dist/bench/sandbox (where this runs) or bench/sandbox: the repository holds package.json and dist/.
const REPO = [2, 3]
  .map((up) => fileURLToPath(new URL('../'.repeat(up), import.meta.url)))
  .find(
    (d) => existsSync(path.join(d, 'package.json')) && existsSync(path.join(d, 'dist/src/daemon/main.js')),
  )!;

/** The built berthd on its own root, pointed at the bench's CNI conf dir. */
async function startBerthd(dir: string, net: SandboxTestEnv): Promise<RunningBerthd> {
  const root = path.join(dir, 'berthd', 'root');
  const state = path.join(dir, 'berthd', 'state');
  const socket = path.join(state, 'berth.sock');
  const proc = spawn(
    process.execPath,
    [
      path.join(REPO, 'dist/src/daemon/main.js'),
      '--root',
      root,
      '--state',
      state,
      '--node-id',
      'bench-sbx',
      ...net.args,
    ],
    {
      env: { ...process.env, PATH: `${path.join(REPO, '.tools/bin')}:${process.env.PATH ?? ''}` },
      stdio: 'ignore',
    },
  );
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const client = new ApiClient(socket);
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null || i > 1200) throw new Error('berthd did not become ready');
    if (
      existsSync(socket) &&
      (await client.get('/v1/health').then(
        () => true,
        () => false,
      ))
    )
      break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    proc,
    root,
    state,
    socket,
    nodeId: 'bench-sbx',
    client,
    output: () => '',
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
    cleanup: () => rm(path.join(dir, 'berthd'), { recursive: true, force: true }),
  };
}

interface Runtime {
  name: string;
  endpoint: string;
}

async function crictl(rt: Runtime, args: string[]): Promise<string> {
  return (await execFile(CRICTL, ['-r', rt.endpoint, '-i', rt.endpoint, '--timeout', '60s', ...args])).trim();
}

async function podFile(dir: string, tag: string): Promise<string> {
  const file = path.join(dir, `pod-${tag}.json`);
  await writeFile(
    file,
    JSON.stringify({
      metadata: { name: `bench-${tag}`, namespace: 'bench', uid: `uid-${tag}`, attempt: 0 },
      hostname: 'bench',
      log_directory: path.join(dir, 'logs', tag),
      linux: {},
    }),
  );
  return file;
}

async function crictlOnce(rt: Runtime, dir: string): Promise<{ up: number; down: number }> {
  const pod = await podFile(dir, `${rt.name}-${randomBytes(4).toString('hex')}`);
  let id = '';
  const up = await timeIt(async () => (id = await crictl(rt, ['runp', pod])));
  const down = await timeIt(async () => {
    await crictl(rt, ['stopp', id]);
    await crictl(rt, ['rmp', id]);
  });
  return { up, down };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-bench-sbx-'));
  const net = await setupNetwork('bench');
  let containerd: ContainerdHarness | undefined;
  let daemon: RunningBerthd | undefined;
  try {
    containerd = await ContainerdHarness.start();
    const berthd = (daemon = await startBerthd(dir, net));
    const runtimes: Runtime[] = [
      { name: 'berth', endpoint: `unix://${path.join(berthd.state, 'cri.sock')}` },
      { name: 'containerd', endpoint: `unix://${containerd.socket}` },
    ];
    const apiOnce = async (): Promise<{ up: number; down: number }> => {
      const config = podConfig(`api-${randomBytes(4).toString('hex')}`);
      let sb: SandboxView | undefined;
      const up = await timeIt(
        async () => (sb = await berthd.client.post<SandboxView>('/v1/sandboxes', { config })),
      );
      const down = await timeIt(async () => {
        await berthd.client.post(`/v1/sandboxes/${sb!.id}/stop`);
        await berthd.client.delete(`/v1/sandboxes/${sb!.id}`);
      });
      return { up, down };
    };
    for (const rt of runtimes) await crictlOnce(rt, dir); // warm-up (bridge, caches), not counted
    await apiOnce();
    const up: Record<string, number[]> = { berth: [], containerd: [], 'berth-api': [] };
    const down: Record<string, number[]> = { berth: [], containerd: [], 'berth-api': [] };
    for (let i = 0; i < runs; i++) {
      for (const rt of i % 2 === 0 ? runtimes : [...runtimes].reverse()) {
        const r = await crictlOnce(rt, dir);
        up[rt.name]!.push(r.up);
        down[rt.name]!.push(r.down);
      }
      const r = await apiOnce();
      up['berth-api']!.push(r.up);
      down['berth-api']!.push(r.down);
    }
    const s = (xs: number[]) => summarize(xs);
    const [bu, cu, au] = [s(up.berth!), s(up.containerd!), s(up['berth-api']!)];
    const [bd, cd, ad] = [s(down.berth!), s(down.containerd!), s(down['berth-api']!)];
    console.log(
      `pod sandboxes, ${runs} runs each (alternating), load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    printTable(
      [
        'measure',
        'berth median ms',
        'berth p99',
        'containerd median ms',
        'containerd p99',
        'ratio (medians)',
      ],
      [
        ['create+start (crictl runp)', bu.median, bu.p99, cu.median, cu.p99, bu.median / cu.median],
        ['stop+remove (crictl stopp + rmp)', bd.median, bd.p99, cd.median, cd.p99, bd.median / cd.median],
        ['create+start (berth API, in-process)', au.median, au.p99, cu.median, cu.p99, au.median / cu.median],
        ['stop+remove (berth API, in-process)', ad.median, ad.p99, cd.median, cd.p99, ad.median / cd.median],
      ],
    );
    console.log(
      JSON.stringify({
        runs,
        berth: { up: bu, down: bd },
        berthApi: { up: au, down: ad },
        containerd: { up: cu, down: cd },
      }),
    );
  } finally {
    await disposeDaemon(daemon);
    await containerd?.stop();
    await teardownNetwork(net);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
