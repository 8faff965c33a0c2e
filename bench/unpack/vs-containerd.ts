/**
 * Unpack throughput, Berth beside containerd 1.6 in the same run, on the same layer blobs. Not a
 * like-for-like comparison, so it prints no ratio: Berth's side is an in-process library call,
 * containerd's a ctr process net of an estimate of ctr's fixed cost. The symmetric figure for a
 * pull with its unpack is bench/cri/symmetric.ts (crictl on both sides).
 *
 * 1. Unpack only. Each image (the ~100 MB of bench/unpack/layer-files.ts as one gzip layer,
 *    as three gzip layers, and as one zstd layer) is committed to Berth's content store and
 *    imported with `ctr images import --no-unpack` into an isolated containerd. Berth's time is
 *    `unpackLayers` into its overlayfs snapshotter; containerd's is `ctr images mount` (which
 *    unpacks into its overlayfs snapshotter first) minus what that command costs when nothing
 *    is left to unpack. Every run starts with no snapshot of the image on either side.
 * 2. Pull + unpack. A fresh three-layer image from docker-registry on 127.0.0.1: Berth's Puller
 *    then unpackLayers, against `ctr content fetch` then `ctr images mount`, with Berth's unpack
 *    split into its stages.
 *
 * Both sides keep their roots on one fresh ext4 made for the run (bench/common/scratch-fs.ts).
 *
 *   node scripts/build.mjs && node dist/bench/unpack/vs-containerd.js [runs]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from '../../src/common/exec.js';
import { FsContentStore, type Digest } from '../../src/content/index.js';
import { Puller, RegistryClient } from '../../src/registry/index.js';
import { decompress } from '../../src/unpack/decompress.js';
import { compressionOf, unpackLayers } from '../../src/unpack/index.js';
import { writeOciLayout, type BuiltImage, type ImageSpec } from '../../test/helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../../test/helpers/registry.js';
import { ScratchFs } from '../common/scratch-fs.js';
import { ContainerdHarness } from '../containerd/harness.js';
import {
  ingestLayers,
  layerSources,
  layersOf,
  median,
  medianStages,
  openOverlayfs,
  removeChain,
  seconds,
  timeBerthUnpack,
  timeStages,
  type BenchLayer,
  type UnpackStages,
} from './berth-side.js';
import { timeContainerdPull, timeContainerdUnpack } from './containerd-side.js';
import { LAYER_FILES_SUMMARY, layerFileGroups } from './layer-files.js';

const runs = Number(process.argv[2] ?? 3);
const BASE_NAME = 'berth.local/bench/unpack';
const loadAverage = async (): Promise<string> =>
  (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');

/** Flushes dirty pages of the bench's filesystem, so one run's writeback is not charged to the next. */
const settle = (dir: string): Promise<string> => execFile('sync', ['--file-system', dir]);

const f1 = (n: number): string => n.toFixed(1);
const f2 = (n: number): string => n.toFixed(2);

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

/** Uncompressed size of an image's layers: the tar bytes MB/s is quoted in. */
async function tarBytes(store: FsContentStore, layers: readonly BenchLayer[]): Promise<number> {
  let n = 0;
  for (const l of layers) {
    const { output, done } = decompress(
      await store.readStream(l.digest as Digest),
      compressionOf(l.mediaType),
    );
    for await (const chunk of output) n += (chunk as Buffer).length;
    await done;
  }
  return n;
}

function stageRow(name: string, total: number, s: UnpackStages): string[] {
  // The decoding runs beside the parse and the writes: what unpack spends beyond the parse is the writes.
  const residual = total - s.parse;
  return [
    name,
    f2(total),
    f2(s.decode),
    f2(s.decompress),
    f2(s.diffIdHash),
    f2(s.parse),
    f2(residual),
    f2(s.blobDigest),
  ];
}

const STAGE_HEADER = [
  'berth stages (s)',
  'unpack',
  'decode (thread)',
  'of it: decompress',
  'diff_id sha256',
  'tar parse',
  'write+snapshot (rest)',
  'blob sha256 (in download)',
];

async function unpackComparison(work: string, cd: ContainerdHarness): Promise<void> {
  const groups = layerFileGroups();
  const specs: Array<[tag: string, label: string, spec: ImageSpec]> = [
    ['one-gzip', '1 layer, gzip', { layers: [{ files: groups.flat(), compression: 'gzip' }] }],
    ['three-gzip', '3 layers, gzip', { layers: groups.map((files) => ({ files, compression: 'gzip' })) }],
    ['one-zstd', '1 layer, zstd', { layers: [{ files: groups.flat(), compression: 'zstd' }] }],
  ];
  const layoutDir = join(work, 'layout');
  const built: Array<[tag: string, label: string, image: BuiltImage]> = [];
  for (const [tag, label, spec] of specs)
    built.push([tag, label, (await writeOciLayout(layoutDir, tag, spec)).images[0]!]);
  const archive = join(work, 'layout.tar');
  await execFile('tar', ['-cf', archive, '-C', layoutDir, 'oci-layout', 'index.json', 'blobs']);

  const store = new FsContentStore(join(work, 'berth', 'content'));
  const sn = await openOverlayfs(join(work, 'berth', 'snapshots'));
  const rows: string[][] = [];
  const stageRows: string[][] = [];
  for (const [tag, label, image] of built) {
    const layers = layersOf(image);
    await ingestLayers(store, layoutDir, layers);
    const mb = (await tarBytes(store, layers)) / 1e6;
    const berth: number[] = [];
    const berthSync: number[] = [];
    const mount: number[] = [];
    const syncfs: number[] = [];
    const mountUnpacked: number[] = [];
    const stages: UnpackStages[] = [];
    for (let i = 0; i < runs; i++) {
      // Alternate who goes first, so neither always inherits the other's writeback.
      const sides = [
        async (): Promise<void> => {
          const r = await timeBerthUnpack(sn, store, layers);
          berth.push(r.unpack);
          berthSync.push(r.syncBehind);
        },
        async (): Promise<void> => {
          const r = await timeContainerdUnpack(cd, { archive, base: BASE_NAME, tag }, layers);
          mount.push(r.mount);
          syncfs.push(r.syncfs);
          mountUnpacked.push(r.mountUnpacked);
        },
      ];
      for (const side of i % 2 === 0 ? sides : sides.reverse()) {
        await settle(work);
        await side();
      }
      stages.push(await timeStages(store, layers));
    }
    const b = median(berth);
    const c = median(mount) - median(mountUnpacked);
    const cs = c + median(syncfs);
    rows.push([
      label,
      f1(mb),
      f2(b),
      f1(mb / b),
      f2(c),
      f1(mb / c),
      f2(median(mount)),
      f2(cs),
      f2(median(berthSync)),
      f2(median(syncfs)),
    ]);
    stageRows.push(stageRow(label, b, medianStages(stages)));
  }
  console.log(
    `\nunpack only: content store → overlayfs snapshotter, same blobs, median of ${runs} runs, each on fresh snapshots`,
  );
  console.log(`layers hold ${LAYER_FILES_SUMMARY}`);
  printTable(
    [
      'image',
      'MB tar',
      'berth s',
      'berth MB/s',
      'ctr s',
      'ctr MB/s',
      'ctr mount raw s',
      'ctr+syncfs s',
      'then sync: berth s',
      'ctr s',
    ],
    rows,
  );
  console.log(
    'ctr s = `ctr images mount` cold − the same once unpacked (ctr start, gRPC, view, mount).\n' +
      'Neither syncs before it answers: Berth syncs behind its commits (power loss drops what that sync had not\n' +
      'covered, at the next open), containerd 1.6 never syncs layers. "then sync" is a syncfs run right after each\n' +
      "(Berth: its snapshotter's flush), the time until the data is on disk; ctr+syncfs adds containerd's to its time.",
  );
  printTable(STAGE_HEADER, stageRows);
  console.log(
    'Stages are timed alone on the same blobs. Decode (decompression and the diff_id hash, on the decoding\n' +
      'thread) runs beside the tar parse and the file writes on the main thread, so the rest (unpack − parse)\n' +
      'is an estimate of file writes, metadata and snapshot bookkeeping.',
  );
}

async function pullComparison(work: string, cd: ContainerdHarness, reg: TestRegistry): Promise<void> {
  const layoutDir = join(work, 'pull-layout');
  const image = (
    await writeOciLayout(layoutDir, 'pull', {
      layers: layerFileGroups().map((files) => ({ files, compression: 'gzip' as const })),
    })
  ).images[0]!;
  await reg.push(layoutDir, 'pull', 'bench/unpack-pull');
  const ref = `${reg.host}/bench/unpack-pull:pull`;
  const layers = layersOf(image);
  const compressedMb = image.layers.reduce((n, l) => n + l.size, 0) / 1e6;
  const berth = { download: [] as number[], unpack: [] as number[], total: [] as number[] };
  const ctr = { fetch: [] as number[], unpack: [] as number[], total: [] as number[] };
  const stages: UnpackStages[] = [];
  for (let i = 0; i < runs; i++) {
    const root = await mkdtemp(join(work, 'pull-'));
    const client = new RegistryClient({ config: { hosts: { [reg.host]: { plainHttp: true } } } });
    try {
      const store = new FsContentStore(join(root, 'content'));
      const sn = await openOverlayfs(join(root, 'snapshots'));
      await settle(work);
      const download = await seconds(() => new Puller({ client, store }).pull(ref));
      const unpack = await seconds(() => unpackLayers(sn, layerSources(store, layers)));
      berth.download.push(download);
      berth.unpack.push(unpack);
      berth.total.push(download + unpack);
      stages.push(await timeStages(store, layers));
      await sn.flush();
      await removeChain(sn, layers);
    } finally {
      await client.close();
      await rm(root, { recursive: true, force: true });
    }
    await settle(work);
    const c = await timeContainerdPull(cd, ref, layers);
    ctr.fetch.push(c.fetch);
    ctr.unpack.push(c.unpack);
    ctr.total.push(c.fetch + c.unpack);
  }
  console.log(
    `\npull + unpack: ${compressedMb.toFixed(1)} MB compressed in 3 gzip layers from docker-registry on 127.0.0.1, median of ${runs} runs, cold each run`,
  );
  printTable(
    ['side', 'download+digest s', 'unpack s', 'total s'],
    [
      [
        'berth (Puller + unpackLayers)',
        ...[berth.download, berth.unpack, berth.total].map((x) => f2(median(x))),
      ],
      [
        'containerd (ctr content fetch + ctr images mount)',
        ...[ctr.fetch, ctr.unpack, ctr.total].map((x) => f2(median(x))),
      ],
    ],
  );
  console.log('containerd figures include ctr start-up (measured above as the unpacked-mount cost).');
  printTable(STAGE_HEADER, [stageRow('3 layers, gzip (pulled)', median(berth.unpack), medianStages(stages))]);
}

async function main(): Promise<void> {
  const fs = await ScratchFs.create();
  const work = await mkdtemp(join(fs.dir, 'berth-bench-unpack-cd-'));
  let cd: ContainerdHarness | undefined;
  let reg: TestRegistry | undefined;
  const loadBefore = await loadAverage();
  try {
    cd = await ContainerdHarness.start({ parentDir: fs.dir });
    await unpackComparison(work, cd);
    if (!process.argv.includes('--no-pull')) {
      reg = await startRegistry();
      await pullComparison(work, cd, reg);
    }
    console.log(`\n${fs.describe()}`);
    console.log(`load average (1/5/15 min): ${loadBefore} before, ${await loadAverage()} after`);
  } finally {
    await reg?.stop();
    await cd?.stop();
    await rm(work, { recursive: true, force: true });
    await fs.remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
