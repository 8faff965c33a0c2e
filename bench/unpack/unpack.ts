/**
 * Unpack throughput: a generated ~100 MB layer (small, medium and large files) applied by Berth's
 * applyLayer, split into the stages it overlaps (decompress, hash, tar parse, write), against
 * GNU tar as a baseline. The comparison with containerd is bench/unpack/vs-containerd.ts.
 *
 *   node scripts/build.mjs && node dist/bench/unpack/unpack.js
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { applyLayer } from '../../src/unpack/index.js';
import { tarOf } from '../../test/helpers/oci-images.js';
import { LAYER_FILES_SUMMARY, layerFileGroups } from './layer-files.js';

const RUNS = 3;

async function generateLayer(): Promise<Buffer> {
  return tarOf(layerFileGroups().flat());
}

async function time(fn: () => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return times.sort((a, b) => a - b)[Math.floor(RUNS / 2)] as number;
}

const sink = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'berth-bench-unpack-'));
  try {
    const layer = await generateLayer();
    const mb = layer.length / 1e6;
    const tarPath = join(work, 'layer.tar');
    const gzPath = join(work, 'layer.tar.gz');
    const zstPath = join(work, 'layer.tar.zst');
    await writeFile(tarPath, layer);
    await writeFile(gzPath, gzipSync(layer));
    spawnSync('zstd', ['-q', '-3', tarPath, '-o', zstPath]);
    let n = 0;
    const target = async (): Promise<string> => {
      const dir = join(work, `t${n++}`);
      await mkdir(dir);
      return dir;
    };
    const rows: Array<[string, number]> = [];
    rows.push(['read blob file (baseline)', await time(() => pipeline(createReadStream(tarPath), sink()))]);
    rows.push(['gunzip only', await time(() => pipeline(createReadStream(gzPath), createGunzip(), sink()))]);
    rows.push([
      'zstd -dc only',
      await time(
        async () => void spawnSync('zstd', ['-dcq', zstPath], { stdio: ['ignore', 'ignore', 'inherit'] }),
      ),
    ]);
    rows.push(['sha256 only', await time(async () => void createHash('sha256').update(layer).digest())]);
    rows.push([
      'tar-stream parse only',
      await time(async () => {
        const ex = tar.extract();
        const feeding = pipeline(createReadStream(tarPath), ex);
        for await (const e of ex) e.resume();
        await feeding;
      }),
    ]);
    const berth = async (path: string, media: string, mode: 'native' | 'overlay'): Promise<number> =>
      time(async () => {
        const dir = await target();
        await applyLayer(createReadStream(path), media, dir, { mode });
        await rm(dir, { recursive: true });
      });
    rows.push([
      'berth applyLayer tar, native',
      await berth(tarPath, 'application/vnd.oci.image.layer.v1.tar', 'native'),
    ]);
    rows.push([
      'berth applyLayer tar, overlay',
      await berth(tarPath, 'application/vnd.oci.image.layer.v1.tar', 'overlay'),
    ]);
    rows.push([
      'berth applyLayer tar+gzip',
      await berth(gzPath, 'application/vnd.oci.image.layer.v1.tar+gzip', 'overlay'),
    ]);
    rows.push([
      'berth applyLayer tar+zstd',
      await berth(zstPath, 'application/vnd.oci.image.layer.v1.tar+zstd', 'overlay'),
    ]);
    const gnu = (args: string[]): Promise<number> =>
      time(async () => {
        const dir = await target();
        const r = spawnSync(
          'tar',
          [...args, '-C', dir, '--xattrs', '--xattrs-include=*', '--numeric-owner', '-p'],
          { stdio: 'inherit' },
        );
        if (r.status !== 0) throw new Error('tar failed');
        await rm(dir, { recursive: true });
      });
    rows.push(['GNU tar -x (baseline)', await gnu(['-xf', tarPath])]);
    rows.push(['GNU tar -xz (baseline)', await gnu(['-xzf', gzPath])]);
    console.log(`layer: ${mb.toFixed(1)} MB uncompressed, ${LAYER_FILES_SUMMARY}; median of ${RUNS}`);
    console.log('stage'.padEnd(34) + 'seconds'.padStart(10) + 'MB/s (uncompressed)'.padStart(22));
    for (const [name, s] of rows)
      console.log(name.padEnd(34) + s.toFixed(3).padStart(10) + (mb / s).toFixed(0).padStart(22));
    console.log('Write time ≈ berth total − decompress − parse (hash overlaps in the same pipeline).');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
