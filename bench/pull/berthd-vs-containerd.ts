/**
 * Cold pull + unpack through berthd against `ctr image pull` (which unpacks too) into an isolated
 * containerd, same registry, same run: a ~105 MB five-layer image and a tiny one. Each iteration
 * starts cold: the image is removed (and its content and snapshots collected) on both sides first.
 * Prints per-side medians and berth/containerd (targets: ≤ 0.8 large, ≤ 1.0 tiny). Both roots are
 * on one fresh ext4 made for the run (bench/common/scratch-fs.ts).
 *
 *   node scripts/build.mjs && node dist/bench/pull/berthd-vs-containerd.js [runs]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { PullStreamItem } from '../../src/api/routes/images.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../src/api/client.js';
import { execFile } from '../../src/common/exec.js';
import { randomBytesSeeded, writeOciLayout } from '../../test/helpers/oci-images.js';
import { startRegistry } from '../../test/helpers/registry.js';
import { ScratchFs } from '../common/scratch-fs.js';
import { ContainerdHarness } from '../containerd/harness.js';

const runs = Number(process.argv[2] ?? 3);

// From dist/bench/pull (where this runs) or bench/pull: the repository is where package.json is.
const REPO = [1, 2, 3]
  .map((up) => fileURLToPath(new URL('../'.repeat(up), import.meta.url)))
  .find(
    (d) => existsSync(path.join(d, 'package.json')) && existsSync(path.join(d, 'dist/src/daemon/main.js')),
  )!;

/** A berthd of its own (root and state under `base`), ready when this resolves. */
async function startBerthd(base: string, args: string[]): Promise<{ proc: ChildProcess; client: ApiClient }> {
  const state = path.join(base, 'state');
  const socket = path.join(state, 'berth.sock');
  const logPath = process.env.BERTH_BENCH_BERTHD_LOG;
  const proc = spawn(
    process.execPath,
    [
      // BERTH_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles berthd.
      ...(process.env.BERTH_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      path.join(REPO, 'dist/src/daemon/main.js'),
      '--root',
      path.join(base, 'root'),
      '--state',
      state,
      '--node-id',
      'bench-pull',
      ...args,
    ],
    {
      env: { ...process.env, PATH: `${path.join(REPO, '.tools/bin')}:${process.env.PATH ?? ''}` },
      // BERTH_BENCH_BERTHD_LOG=file keeps berthd's log (with BERTH_LOG_LEVEL=debug: each step's duration).
      stdio: ['ignore', 'ignore', logPath ? openSync(logPath, 'a') : 'ignore'],
    },
  );
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
  return { proc, client };
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function time(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function main(): Promise<void> {
  const fs = await ScratchFs.create();
  const work = await mkdtemp(path.join(fs.dir, 'berth-bench-pull-cd-'));
  const reg = await startRegistry();
  let containerd: ContainerdHarness | undefined;
  let berthd: Awaited<ReturnType<typeof startBerthd>> | undefined;
  const stopBerthd = async (): Promise<void> => {
    const proc = berthd?.proc;
    if (!proc || proc.exitCode !== null) return;
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  };
  try {
    const layout = path.join(work, 'layout');
    const layers = Array.from({ length: 5 }, (_, i) => ({
      files: [{ path: `data/${i}`, content: randomBytesSeeded(20 * 1024 * 1024, 100 + i) }],
    }));
    const large = await writeOciLayout(layout, 'large', { layers });
    const tiny = await writeOciLayout(layout, 'tiny', {
      layers: [{ files: [{ path: 'hello', content: 'hi\n' }] }],
    });
    await reg.push(layout, 'large', 'bench/large');
    await reg.push(layout, 'tiny', 'bench/tiny');
    const registries = path.join(work, 'registries.json');
    await writeFile(registries, JSON.stringify({ hosts: { [reg.host]: { plainHttp: true } } }));
    berthd = await startBerthd(work, [
      '--registry-config',
      registries,
      '--log-level',
      process.env.BERTH_LOG_LEVEL ?? 'warn',
    ]);
    containerd = await ContainerdHarness.start({ parentDir: fs.dir });

    const rows: string[][] = [];
    for (const [name, built] of [
      ['large', large],
      ['tiny', tiny],
    ] as const) {
      const bytes = built.images[0]!.layers.reduce((n, l) => n + l.size, 0);
      const ref = `${reg.host}/bench/${name}:${name}`;
      const berth: number[] = [];
      const ctr: number[] = [];
      // Where berthd's time goes, from the progress stream: until the downloads start (workflow
      // start + resolve), downloading (unpacking overlapped), then the rest of the unpack and the record step.
      const phases = { resolve: [] as number[], fetch: [] as number[], tail: [] as number[] };
      // Neither side syncs before it answers (Berth syncs behind its commits, containerd 1.6 not at
      // all): a syncfs after each pull, untimed in the ratio, shows how long until the data is on
      // disk, and leaves no writeback to be charged to the next run.
      const timeline = process.env.BERTH_BENCH_TIMELINE === '1';
      const settle = () => time(async () => void (await execFile('sync', ['--file-system', fs.dir])));
      const synced = { berth: [] as number[], ctr: [] as number[] };
      await settle();
      for (let i = 0; i < runs; i++) {
        const b = berthd;
        berth.push(
          await time(async () => {
            const t0 = performance.now();
            const seen: Record<string, number> = {};
            for await (const item of b.client.postStream<PullStreamItem>('/v1/images/pull', { ref })) {
              if ('error' in item) throw new Error(item.error.message);
              const tag = 'type' in item && item.type === 'progress' ? item.phase : 'result';
              seen[tag] ??= performance.now() - t0;
              // BERTH_BENCH_TIMELINE=1: when each layer reached each status (progress is sampled, ≤ 4/s).
              if (timeline && 'type' in item && item.type === 'progress')
                item.layers.forEach((l, n) => (seen[`L${n}:${l.status}`] ??= performance.now() - t0));
            }
            if (timeline)
              console.log(
                name,
                Object.entries(seen)
                  .map(([k, v]) => `${k}@${v.toFixed(0)}`)
                  .join(' '),
              );
            const end = performance.now() - t0;
            const fetchAt = seen.fetch ?? 0;
            const unpackAt = seen.unpack ?? fetchAt;
            phases.resolve.push(fetchAt);
            phases.fetch.push(unpackAt - fetchAt);
            phases.tail.push(end - unpackAt);
          }),
        );
        synced.berth.push(await settle());
        await b.client.delete(`/v1/images/${encodeURIComponent(ref)}`);
        await settle();
        const cd = containerd;
        ctr.push(await time(async () => void (await cd.ctr(['image', 'pull', '--plain-http', ref]))));
        synced.ctr.push(await settle());
        await cd.ctr(['image', 'rm', '--sync', ref]);
        await settle();
      }
      const bm = median(berth);
      const cm = median(ctr);
      rows.push([
        name,
        (bytes / 1e6).toFixed(1),
        bm.toFixed(0),
        cm.toFixed(0),
        (bm / cm).toFixed(2),
        [phases.resolve, phases.fetch, phases.tail].map((p) => median(p).toFixed(0)).join(' / '),
        `${median(synced.berth).toFixed(0)} / ${median(synced.ctr).toFixed(0)}`,
      ]);
    }
    const header = [
      'image',
      'MB (compressed)',
      'berthd pull ms',
      'ctr pull ms',
      'berth/containerd',
      'berthd ms: start+resolve / download (unpack overlapped) / rest of unpack + record',
      'then syncfs ms: berth / ctr',
    ];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const line = (r: string[]): string => r.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
    console.log(
      `cold pull + unpack from docker-registry on loopback, median of ${runs} runs (berthd: API → pullImage workflow → overlayfs; containerd 1.6: ctr image pull → overlayfs)`,
    );
    console.log(line(header));
    for (const r of rows) console.log(line(r));
    console.log(fs.describe());
  } finally {
    await containerd?.stop();
    await stopBerthd();
    await reg.stop();
    await rm(work, { recursive: true, force: true });
    await fs.remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
