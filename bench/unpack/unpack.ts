/**
 * Unpack throughput: a generated ~100 MB layer (small, medium and large files) applied by Berth's
 * applyLayer, split into the stages it overlaps (decompress, hash, tar parse, write), against
 * GNU tar as a baseline. Run: npx tsc -p tsconfig.build.json && node dist/bench/unpack/unpack.js
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { applyLayer } from '../../src/unpack/index.js';

const RUNS = 3;

/** Half random, half repetitive bytes: compresses roughly like binaries and text mixed. */
function content(size: number): Buffer {
  const half = Math.floor(size / 2);
  return Buffer.concat([randomBytes(half), Buffer.alloc(size - half, 'berth layer content ')]);
}

async function generateLayer(): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  const add = (name: string, data?: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      const done = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (data) pack.entry({ name, mode: 0o644 }, data, done);
      else pack.entry({ name, type: 'directory', mode: 0o755 }, done);
    });
  for (let d = 0; d < 50; d++) {
    await add(`usr/share/d${d}/`);
    for (let f = 0; f < 40; f++) await add(`usr/share/d${d}/small${f}`, content(4096));
  }
  await add('usr/lib/');
  for (let f = 0; f < 500; f++) await add(`usr/lib/medium${f}.so`, content(64 * 1024));
  await add('opt/');
  for (let f = 0; f < 20; f++) await add(`opt/large${f}.bin`, content(3 * 1024 * 1024));
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
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
    console.log(
      `layer: ${mb.toFixed(1)} MB uncompressed, 2521 entries (2000 × 4 KiB, 500 × 64 KiB, 20 × 3 MiB); median of ${RUNS}`,
    );
    console.log('stage'.padEnd(34) + 'seconds'.padStart(10) + 'MB/s (uncompressed)'.padStart(22));
    for (const [name, s] of rows)
      console.log(name.padEnd(34) + s.toFixed(3).padStart(10) + (mb / s).toFixed(0).padStart(22));
    console.log('Write time ≈ berth total − decompress − parse (hash overlaps in the same pipeline).');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
