/**
 * The unpack levers, on the many-file host-tree image (bench/common/host-tree-image.ts, the
 * image of the crictl cold-pull row): Berth's applyLayer as overlay layers, bottom first; GNU tar
 * -xz of the same blobs into plain folders, the floor a native per-entry helper could approach
 * (no containment walk, no overlay semantics, no diff id: a bound, not a like-for-like row); and
 * gunzip alone. The rows alternate run by run on one fresh ext4 filesystem; every run's tree is
 * removed and synced before the next. Prints wall time, and this process's CPU for its own rows.
 * The rows with file writing threads ("create independent entries in parallel") are on the
 * branch lever/unpack-file-threads, where that design is kept (docs/benchmarks.md).
 *
 *   node scripts/build.mjs && node dist/bench/unpack/levers.js [--runs 7]
 */
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { applyLayer } from '../../src/unpack/index.js';
import { tarOf } from '../../test/helpers/oci-images.js';
import { describeLayer, HOST_TREE_LAYERS, hostTreeLayer } from '../common/host-tree-image.js';
import { ScratchFs } from '../common/scratch-fs.js';
import { printTable, summarize } from '../stats.js';

const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '7' } },
  });
  const runs = Number(values.runs);
  let entries = 0;
  let bytes = 0;
  const blobs: Buffer[] = [];
  for (const roots of HOST_TREE_LAYERS) {
    const files = hostTreeLayer(roots);
    const d = describeLayer(files);
    entries += d.entries;
    bytes += d.bytes;
    blobs.push(gzipSync(await tarOf(files)));
  }
  console.log(
    `host-tree image: ${HOST_TREE_LAYERS.length} layers, ${entries} entries, ${(bytes / 1e6).toFixed(0)} MB, ` +
      `${(blobs.reduce((n, b) => n + b.length, 0) / 1e6).toFixed(0)} MB gzip`,
  );
  const fs = await ScratchFs.create(8);
  const blobFiles = blobs.map((_, i) => join(fs.dir, `layer${i}.tar.gz`));
  for (const [i, blob] of blobs.entries()) await writeFile(blobFiles[i] as string, blob);
  const rows: Row[] = [
    {
      name: 'Berth applyLayer, overlay (files written on the calling thread)',
      inProcess: true,
      async run(root) {
        const lowers: string[] = [];
        for (const [i, blob] of blobs.entries()) {
          const dir = join(root, String(i));
          await mkdir(dir, { recursive: true });
          await applyLayer(Readable.from([blob]), GZIP, dir, {
            mode: 'overlay',
            lowerDirs: [...lowers].reverse(),
            compressedSize: blob.length,
          });
          lowers.push(dir);
        }
      },
    },
  ];
  rows.push({
    name: 'GNU tar -xzf, one layer after the other (a floor, not like for like)',
    inProcess: false,
    async run(root) {
      for (const [i, file] of blobFiles.entries()) {
        const dir = join(root, String(i));
        await mkdir(dir, { recursive: true });
        execFileSync('tar', ['-xzf', file, '-C', dir]);
      }
    },
  });
  rows.push({
    name: 'gunzip -c > /dev/null of the same blobs',
    inProcess: false,
    async run() {
      for (const file of blobFiles) execFileSync('sh', ['-c', 'gzip -dc "$1" >/dev/null', 'sh', file]);
    },
  });
  const wall = rows.map((): number[] => []);
  const cpu = rows.map((): number[] => []);
  try {
    // One warm-up of each row (threads started, code compiled, caches filled), then the runs, order alternating.
    for (let run = -1; run < runs; run++) {
      const order = rows.map((_, i) => i);
      if (run % 2 !== 0) order.reverse();
      for (const i of order) {
        const row = rows[i] as Row;
        const root = join(fs.dir, `r${run}-${i}`);
        await mkdir(root);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await row.run(root);
        const ms = performance.now() - t0;
        const used = process.cpuUsage(c0);
        if (run >= 0) {
          wall[i]?.push(ms);
          cpu[i]?.push((used.user + used.system) / 1000);
        }
        await rm(root, { recursive: true });
        execFileSync('sync');
      }
    }
  } finally {
    await fs.remove();
  }
  const base = summarize(wall[0] ?? []).median;
  printTable(
    ['row', 'wall median ms', 'min', 'max', 'CPU of this process, median ms', `vs the first row`],
    rows.map((row, i) => {
      const w = summarize(wall[i] ?? []);
      return [
        row.name,
        w.median.toFixed(0),
        w.min.toFixed(0),
        w.max.toFixed(0),
        row.inProcess ? summarize(cpu[i] ?? []).median.toFixed(0) : '(a child process)',
        `${(w.median / base).toFixed(2)}×`,
      ];
    }),
  );
}

interface Row {
  name: string;
  /** CPU is this process's (a child's is not counted). */
  inProcess: boolean;
  run(root: string): Promise<void>;
}

await main();
