/**
 * CRI pod startup and teardown through crictl, Berth vs containerd in the same run:
 *  - startup: RunPodSandbox + PullImage (cached) + CreateContainer + StartContainer;
 *  - teardown: StopPodSandbox + RemovePodSandbox;
 *  - churn: create N pods in a row, then delete them in a row (total time).
 * Both pull the same busybox-static image from one loopback registry (pulled once before
 * timing, so every timed pull is the cached one). Runs alternate between the two runtimes so
 * load drifts hit both alike, and each side's processes go quiet before the other's turn.
 * containerd is the 2.x setup builds. Reports medians and the Berth/containerd ratio.
 * Usage: node scripts/build.mjs && node dist/bench/cri/startup.js [runs=30] [churnPods=50]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from '../../src/common/exec.js';
import { startRegistry } from '../../test/helpers/registry.js';
import { registryConfigArgs } from '../../test/images/support.js';
import { pushTinyImage } from '../common/tiny-image.js';
import { startBenchBerthd, stopBenchBerthd } from '../common/berthd.js';
import { isSleepWorkload, waitQuiet, type ProcessSetSpec } from '../common/process-set.js';
import { ContainerdHarness, CRICTL } from '../containerd/harness.js';
import { printTable, summarize } from '../stats.js';

const runs = Number(process.argv[2] ?? 30);
const churnPods = Number(process.argv[3] ?? 50);

interface Runtime {
  name: string;
  endpoint: string;
  /** Its processes: each side's trailing work ends before the other side's turn. */
  processes: ProcessSetSpec;
}

async function crictl(rt: Runtime, args: string[]): Promise<string> {
  return (
    await execFile(CRICTL, ['-r', rt.endpoint, '-i', rt.endpoint, '--timeout', '120s', ...args])
  ).trim();
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

const CALLS = ['runp', 'pull', 'create', 'start', 'stopp', 'rmp'] as const;
type CallTimes = Record<(typeof CALLS)[number], number>;

async function startupOnce(
  rt: Runtime,
  dir: string,
  image: string,
  container: string,
): Promise<{ up: number; down: number; calls: CallTimes }> {
  const pod = await podFile(dir, `${rt.name}-${randomBytes(4).toString('hex')}`);
  const calls: Partial<CallTimes> = {};
  const timed = async (call: (typeof CALLS)[number], args: string[]): Promise<string> => {
    const t = performance.now();
    const out = await crictl(rt, [call, ...args]);
    calls[call] = performance.now() - t;
    return out;
  };
  const t0 = performance.now();
  const podId = await timed('runp', [pod]);
  await timed('pull', [image]);
  const id = await timed('create', [podId, container, pod]);
  await timed('start', [id]);
  const t1 = performance.now();
  await timed('stopp', [podId]);
  await timed('rmp', [podId]);
  return { up: t1 - t0, down: performance.now() - t1, calls: calls as CallTimes };
}

async function churn(rt: Runtime, dir: string, n: number): Promise<number> {
  const t0 = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < n; i++)
    ids.push(await crictl(rt, ['runp', await podFile(dir, `${rt.name}-churn-${i}`)]));
  for (const id of ids) {
    await crictl(rt, ['stopp', id]);
    await crictl(rt, ['rmp', id]);
  }
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-bench-cri-'));
  const reg = await startRegistry();
  const image = await pushTinyImage(reg, dir);
  const containerd = await ContainerdHarness.start({
    release: '2.x',
    registryMirrors: { [reg.host]: `http://${reg.host}` },
  });
  const berthd = await startBenchBerthd(dir, await registryConfigArgs(dir, [reg.host]));
  try {
    const runtimes: Runtime[] = [
      {
        name: 'berth',
        endpoint: berthd.criEndpoint,
        processes: {
          rootPid: berthd.proc.pid!,
          mentions: [berthd.state, berthd.root],
          exclude: isSleepWorkload,
        },
      },
      {
        name: 'containerd',
        endpoint: `unix://${containerd.socket}`,
        processes: {
          rootPid: containerd.pid!,
          mentions: [containerd.socket, containerd.layout.dir],
          exclude: isSleepWorkload,
        },
      },
    ];
    const container = path.join(dir, 'container.json');
    await writeFile(
      container,
      JSON.stringify({ metadata: { name: 'app' }, image: { image }, command: ['sleep', '3600'], linux: {} }),
    );
    for (const rt of runtimes) {
      await crictl(rt, ['pull', image]);
      await startupOnce(rt, dir, image, container); // warm-up, not counted
    }
    const up: Record<string, number[]> = { berth: [], containerd: [] };
    const down: Record<string, number[]> = { berth: [], containerd: [] };
    const calls: Record<string, CallTimes[]> = { berth: [], containerd: [] };
    for (let i = 0; i < runs; i++) {
      for (const rt of i % 2 === 0 ? runtimes : [...runtimes].reverse()) {
        const r = await startupOnce(rt, dir, image, container);
        await waitQuiet(rt.processes);
        up[rt.name]!.push(r.up);
        down[rt.name]!.push(r.down);
        calls[rt.name]!.push(r.calls);
      }
    }
    const churnMs: Record<string, number> = {};
    for (const rt of runtimes) {
      churnMs[rt.name] = await churn(rt, dir, churnPods);
      await waitQuiet(rt.processes);
    }

    const b = { up: summarize(up.berth!), down: summarize(down.berth!) };
    const c = { up: summarize(up.containerd!), down: summarize(down.containerd!) };
    console.log(
      `CRI via crictl, ${runs} runs each (alternating), load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    printTable(
      ['measure', 'berth median ms', 'containerd median ms', 'ratio berth/containerd'],
      [
        ['pod startup (runp+pull+create+start)', b.up.median, c.up.median, b.up.median / c.up.median],
        ['pod teardown (stopp+rmp)', b.down.median, c.down.median, b.down.median / c.down.median],
        [
          `churn: ${churnPods} pods created then deleted (total)`,
          churnMs.berth!,
          churnMs.containerd!,
          churnMs.berth! / churnMs.containerd!,
        ],
      ],
    );
    const callMedian = (rt: string, call: (typeof CALLS)[number]) =>
      summarize(calls[rt]!.map((c) => c[call])).median;
    printTable(
      ['crictl call (process included)', 'berth median ms', 'containerd median ms', 'ratio'],
      CALLS.map((call) => [
        call,
        callMedian('berth', call),
        callMedian('containerd', call),
        callMedian('berth', call) / callMedian('containerd', call),
      ]),
    );
    console.log(
      JSON.stringify({
        runs,
        churnPods,
        berth: { ...b, churnMs: churnMs.berth },
        containerd: { ...c, churnMs: churnMs.containerd },
      }),
    );
  } finally {
    await stopBenchBerthd(berthd);
    await containerd.stop();
    await reg.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
