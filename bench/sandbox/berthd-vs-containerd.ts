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
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from '../../src/common/exec.js';
import type { SandboxView } from '../../src/daemon/sandboxes.js';
import {
  disposeDaemon,
  podConfig,
  setupNetwork,
  startSandboxBerthd,
  teardownNetwork,
} from '../../test/sandboxes/support.js';
import { ContainerdHarness, CRICTL } from '../containerd/harness.js';
import { printTable, summarize, timeIt } from '../stats.js';

const runs = Number(process.argv[2] ?? 20);

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
  const containerd = await ContainerdHarness.start();
  const berthd = await startSandboxBerthd(net);
  try {
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
    await disposeDaemon(berthd);
    await containerd.stop();
    await teardownNetwork(net);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
