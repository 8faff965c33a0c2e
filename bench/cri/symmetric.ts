/**
 * Berth against containerd 2.x and Debian's containerd 1.6, through the same client on every side:
 * crictl (one process per call, as a person or a script drives a node) against each CRI socket.
 *  - cold pull: a many-file, three-layer image of this host's Debian files (host-tree-image.ts),
 *    removed with `crictl rmi` before each run and checked gone from the content store;
 *  - the pod lifecycle, call by call: runp, create, start, stopp+rmp (a tiny busybox image, pulled
 *    before timing).
 * Every runtime's roots are on one fresh ext4 (scratch-fs.ts); each pulls from one loopback
 * registry; the order rotates each run; after each side's turn its processes must go quiet (its
 * trailing work: Berth's hand-back and sync-behind, containerd's collector) and the filesystem is
 * synced before the next side starts; the time to quiet is reported beside each row, charged to
 * that side. Medians, and each runtime's ratio to containerd 2.x. Berth's metrics endpoint is on:
 * from it, over the same lifecycle runs, Temporal's floor per transition and each CRI call's
 * server-side time.
 *
 * Usage: node dist/bench/cri/symmetric.js [--runs 15] [--pull-runs 7] [--only berth,containerd-2.x,containerd-1.6] [--json FILE]
 */
import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execFile } from '../../src/common/exec.js';
import { writeOciLayout } from '../../test/helpers/oci-images.js';
import { freePort, startRegistry } from '../../test/helpers/registry.js';
import { registryConfigArgs } from '../../test/images/support.js';
import { pushTinyImage } from '../common/tiny-image.js';
import { startBenchBerthd, stopBenchBerthd, type BenchBerthd } from '../common/berthd.js';
import { describeLayer, HOST_TREE_LAYERS, hostTreeLayer } from '../common/host-tree-image.js';
import { isSleepWorkload, waitQuiet, type ProcessSetSpec } from '../common/process-set.js';
import { ScratchFs } from '../common/scratch-fs.js';
import { printTemporalFloor, scrapeMetrics } from '../common/temporal-floor.js';
import { ContainerdHarness, CRICTL } from '../containerd/harness.js';
import { sharedRuncLine, type ContainerdRelease } from '../containerd/config.js';
import { printTable, summarize } from '../stats.js';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    'pull-runs': { type: 'string', default: '7' },
    only: { type: 'string', default: 'berth,containerd-2.x,containerd-1.6' },
    json: { type: 'string' },
  },
});
const RUNS = Number(opts.runs);
const PULL_RUNS = Number(opts['pull-runs']);
const ONLY = opts.only.split(',');

/** One runtime under test: its CRI endpoint, where its content lives, and its process set. */
interface Side {
  name: string;
  endpoint: string;
  blobPath: (hex: string) => string;
  processes: ProcessSetSpec;
}

async function crictl(side: Side, args: string[]): Promise<string> {
  return (
    await execFile(CRICTL, ['-r', side.endpoint, '-i', side.endpoint, '--timeout', '300s', ...args])
  ).trim();
}

const STEPS = ['pull (cold)', 'runp', 'create', 'start', 'stopp+rmp'] as const;
type Step = (typeof STEPS)[number];
type Samples = Record<Step, { ms: number[]; settleMs: number[] }>;

async function main(): Promise<void> {
  const fs = await ScratchFs.create();
  const reg = await startRegistry();
  const sides: Side[] = [];
  /** Berth's metrics endpoint: Temporal's floor over the lifecycle runs, from the same runs. */
  let metricsAddress: string | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  try {
    // Images: the tiny one for the lifecycle, the host-tree one for cold pulls.
    const tiny = await pushTinyImage(reg, fs.dir);
    const layers = HOST_TREE_LAYERS.map((roots) => hostTreeLayer(roots));
    const treeLayout = path.join(fs.dir, 'tree-layout');
    const built = await writeOciLayout(treeLayout, 'tree', {
      layers: layers.map((files) => ({ files })),
      cmd: ['/bin/sh'],
    });
    await reg.push(treeLayout, 'tree', 'bench/host-tree', { destTag: '1' });
    const tree = `${reg.host}/bench/host-tree:1`;
    const layerDigests = built.images[0]!.layers.map((l) => l.digest.replace(/^sha256:/, ''));

    if (ONLY.includes('berth')) {
      const berthDir = await mkdtemp(path.join(fs.dir, 'berth-'));
      metricsAddress = `127.0.0.1:${await freePort()}`;
      const b: BenchBerthd = await startBenchBerthd(berthDir, [
        ...(await registryConfigArgs(berthDir, [reg.host])),
        '--metrics-address',
        metricsAddress,
      ]);
      cleanups.push(async () => {
        await stopBenchBerthd(b);
      });
      sides.push({
        name: 'berth',
        endpoint: b.criEndpoint,
        blobPath: (hex) => path.join(b.root, 'content', 'blobs', 'sha256', hex),
        processes: { rootPid: b.proc.pid!, mentions: [b.state, b.root], exclude: isSleepWorkload },
      });
    }
    for (const release of ['2.x', '1.6'] as ContainerdRelease[]) {
      if (!ONLY.includes(`containerd-${release}`)) continue;
      const cd = await ContainerdHarness.start({
        release,
        parentDir: fs.dir,
        registryMirrors: { [reg.host]: `http://${reg.host}` },
      });
      cleanups.push(() => cd.stop());
      sides.push({
        name: `containerd-${release}`,
        endpoint: `unix://${cd.socket}`,
        blobPath: (hex) =>
          path.join(cd.layout.root, 'io.containerd.content.v1.content', 'blobs', 'sha256', hex),
        processes: { rootPid: cd.pid!, mentions: [cd.socket, cd.layout.dir], exclude: isSleepWorkload },
      });
    }

    const podConfig = async (side: Side, tag: string): Promise<string> => {
      const file = path.join(fs.dir, `pod-${side.name}-${tag}.json`);
      await writeFile(
        file,
        JSON.stringify({
          metadata: { name: `bench-${tag}`, namespace: 'bench', uid: `uid-${side.name}-${tag}`, attempt: 0 },
          log_directory: path.join(fs.dir, 'logs', side.name, tag),
          linux: {},
        }),
      );
      return file;
    };
    const containerConfig = path.join(fs.dir, 'container.json');
    await writeFile(
      containerConfig,
      JSON.stringify({
        metadata: { name: 'app' },
        image: { image: tiny },
        command: ['sleep', '3600'],
        linux: {},
      }),
    );

    /** Ends a side's turn: its trailing work done, the filesystem synced; returns the time to quiet. */
    const settle = async (side: Side): Promise<number> => {
      const t = performance.now();
      await waitQuiet(side.processes);
      await execFile('sync', ['-f', fs.dir]);
      return performance.now() - t;
    };
    const samples = new Map<string, Samples>(sides.map((s) => [s.name, emptySamples()]));
    const record = (side: Side, step: Step, ms: number, settleMs: number) => {
      samples.get(side.name)![step].ms.push(ms);
      samples.get(side.name)![step].settleMs.push(settleMs);
    };
    const rotated = (i: number) => sides.map((_, k) => sides[(i + k) % sides.length]!);

    // Warm-up: the tiny image, one pod lifecycle and one tree pull per side, none counted.
    for (const side of sides) {
      await crictl(side, ['pull', tiny]);
      await lifecycle(side, 'warm', () => 0);
      await crictl(side, ['pull', tree]);
      await settle(side);
    }

    for (let i = 0; i < PULL_RUNS; i++) {
      for (const side of rotated(i)) {
        await crictl(side, ['rmi', tree]);
        await settle(side);
        const left = await presentBlobs(side, layerDigests);
        if (left.length > 0)
          throw new Error(
            `${side.name}: not a cold pull: layer blobs still stored after rmi: ${left.join(' ')}`,
          );
        const t = performance.now();
        await crictl(side, ['pull', tree]);
        const ms = performance.now() - t;
        record(side, 'pull (cold)', ms, await settle(side));
      }
    }

    async function lifecycle(side: Side, tag: string, settleOf: (s: Side) => Promise<number> | number) {
      const timed = async (args: string[]) => {
        const t = performance.now();
        const out = await crictl(side, args);
        return { out, ms: performance.now() - t };
      };
      const pod = await podConfig(side, tag);
      const runp = await timed(['runp', pod]);
      const create = await timed(['create', runp.out, containerConfig, pod]);
      const start = await timed(['start', create.out]);
      const stopp = await timed(['stopp', runp.out]);
      const rmp = await timed(['rmp', runp.out]);
      return {
        runp: runp.ms,
        create: create.ms,
        start: start.ms,
        teardown: stopp.ms + rmp.ms,
        settle: await settleOf(side),
      };
    }

    const metricsBefore = metricsAddress ? await scrapeMetrics(metricsAddress) : undefined;
    for (let i = 0; i < RUNS; i++) {
      for (const side of rotated(i)) {
        const r = await lifecycle(side, String(i), settle);
        record(side, 'runp', r.runp, NaN);
        record(side, 'create', r.create, NaN);
        record(side, 'start', r.start, NaN);
        record(side, 'stopp+rmp', r.teardown, r.settle);
      }
    }

    const metricsAfter = metricsAddress ? await scrapeMetrics(metricsAddress) : undefined;
    report(sides, samples, { layers: layers.map(describeLayer), runs: RUNS, pullRuns: PULL_RUNS });
    if (metricsBefore && metricsAfter) printTemporalFloor(metricsBefore, metricsAfter);
    if (opts.json) await writeFile(opts.json, JSON.stringify(Object.fromEntries(samples), null, 1));
  } finally {
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => console.error('cleanup:', err));
    await reg.stop();
    await fs.remove();
  }
}

function emptySamples(): Samples {
  const out: Partial<Samples> = {};
  for (const step of STEPS) out[step] = { ms: [], settleMs: [] };
  return out as Samples;
}

async function presentBlobs(side: Side, hexes: string[]): Promise<string[]> {
  const present: string[] = [];
  for (const hex of hexes)
    if (
      await stat(side.blobPath(hex)).then(
        () => true,
        () => false,
      )
    )
      present.push(hex.slice(0, 12));
  return present;
}

function report(
  sides: Side[],
  samples: Map<string, Samples>,
  info: { layers: { entries: number; bytes: number }[]; runs: number; pullRuns: number },
): void {
  console.log(
    `crictl ${CRICTL.split('/').pop()} against each CRI socket; ${info.runs} lifecycle runs and ${info.pullRuns} cold pulls per runtime, order rotated; load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log(sharedRuncLine());
  console.log(
    `cold-pull image: ${info.layers.length} layers, ${info.layers.map((l) => `${l.entries} entries / ${(l.bytes / 1e6).toFixed(1)} MB`).join(', ')}`,
  );
  const anchor = sides.find((s) => s.name === 'containerd-2.x');
  const median = (side: Side, step: Step) => summarize(samples.get(side.name)![step].ms).median;
  const settleMedian = (side: Side, step: Step) => {
    const v = samples.get(side.name)![step].settleMs.filter((x) => !Number.isNaN(x));
    return v.length ? summarize(v).median : NaN;
  };
  const headers = ['step (median ms)', ...sides.map((s) => s.name)];
  if (anchor) headers.push(...sides.filter((s) => s !== anchor).map((s) => `${s.name} / 2.x`));
  const rows = STEPS.map((step) => {
    const row: (string | number)[] = [step, ...sides.map((s) => median(s, step))];
    if (anchor)
      row.push(...sides.filter((s) => s !== anchor).map((s) => median(s, step) / median(anchor, step)));
    return row;
  });
  rows.push(['create+start', ...sides.map((s) => median(s, 'create') + median(s, 'start'))]);
  printTable(headers, rows);
  console.log(
    'time for each side to go quiet and its data to reach the disk after its turn (median ms, charged to it, not in the figures above; at least one 300 ms quiet window):',
  );
  printTable(
    ['after', ...sides.map((s) => s.name)],
    (['pull (cold)', 'stopp+rmp'] as Step[]).map((step) => [
      step === 'stopp+rmp' ? 'a whole pod lifecycle' : step,
      ...sides.map((s) => settleMedian(s, step)),
    ]),
  );
}

await main();
