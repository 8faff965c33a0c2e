/**
 * Berth's side of the unpack comparison: layer blobs committed to a content store, unpacked by
 * `unpackLayers` into the overlayfs snapshotter exactly as a pull does (prepare, applyLayer,
 * commit; the snapshotter syncs behind the commits), and the stages of that path timed on their own so the total can be split.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Digest, FsContentStore } from '../../src/content/index.js';
import { chainIds, OverlayfsSnapshotter, type Snapshotter } from '../../src/snapshots/index.js';
import { compressionOf, unpackLayers, type LayerSource } from '../../src/unpack/index.js';
import { decodeLayer } from '../../src/unpack/decode.js';
import { decompress } from '../../src/unpack/decompress.js';
import type { BuiltImage } from '../../test/helpers/oci-images.js';

/** A layer as a descriptor plus the diff id its image's config lists. */
export interface BenchLayer {
  digest: string;
  mediaType: string;
  diffId: string;
}

export const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** Seconds `fn` takes. */
export async function seconds(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export const layersOf = (img: BuiltImage): BenchLayer[] =>
  img.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, diffId: l.diffId }));

/** Commits each layer blob of an OCI layout directory into `store` (what a pull leaves behind). */
export async function ingestLayers(
  store: FsContentStore,
  layoutDir: string,
  layers: readonly BenchLayer[],
): Promise<void> {
  for (const l of layers) {
    const data = await readFile(join(layoutDir, 'blobs', 'sha256', l.digest.slice('sha256:'.length)));
    const w = await store.writer(`bench-${l.digest}`);
    await w.write(data);
    await w.commit({ digest: l.digest as Digest, size: data.length });
  }
}

export function layerSources(store: FsContentStore, layers: readonly BenchLayer[]): LayerSource[] {
  return layers.map((l) => ({
    diffId: l.diffId,
    mediaType: l.mediaType,
    open: () => store.readStream(l.digest as Digest),
  }));
}

export function openOverlayfs(root: string): Promise<Snapshotter> {
  return OverlayfsSnapshotter.open(root);
}

/** Removes the committed chain of `layers`, top first, so the next run unpacks from scratch. */
export async function removeChain(sn: Snapshotter, layers: readonly BenchLayer[]): Promise<void> {
  for (const id of chainIds(layers.map((l) => l.diffId)).reverse()) await sn.remove(id);
}

/**
 * One timed unpack of every layer into fresh snapshots, then (timed apart) the sync behind the
 * commits, run at once; the snapshots are removed afterwards.
 */
export async function timeBerthUnpack(
  sn: Snapshotter,
  store: FsContentStore,
  layers: readonly BenchLayer[],
): Promise<{ unpack: number; syncBehind: number }> {
  const unpack = await seconds(async () => {
    const done = await unpackLayers(sn, layerSources(store, layers));
    if (done.some((l) => l.reused)) throw new Error('a layer was reused: the run was not cold');
  });
  const syncBehind = await seconds(() => sn.flush());
  await removeChain(sn, layers);
  return { unpack, syncBehind };
}

const sink = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });

/** Stage times (seconds, summed over the layers) of the steps unpackLayers overlaps. */
export interface UnpackStages {
  /** sha256 of the compressed blobs: what the pull's download verification costs. */
  blobDigest: number;
  /** The decoding step as unpack runs it (decodeLayer: decompression and diff_id hash, on the decoding thread for large layers), into a sink. */
  decode: number;
  /** The decompressor alone (zlib gunzip, or the zstd CLI), in-process, over the blobs read from the store. */
  decompress: number;
  /** sha256 of the uncompressed tar: the diff_id check. */
  diffIdHash: number;
  /** tar-stream parsing the uncompressed tar, entry bodies discarded. */
  parse: number;
}

/** Times each stage once over `layers` (call it `runs` times and take medians). */
export async function timeStages(
  store: FsContentStore,
  layers: readonly BenchLayer[],
): Promise<UnpackStages> {
  const stages: UnpackStages = { blobDigest: 0, decode: 0, decompress: 0, diffIdHash: 0, parse: 0 };
  for (const l of layers) {
    const blob = await store.readAll(l.digest as Digest);
    stages.blobDigest += await seconds(async () => void createHash('sha256').update(blob).digest());
    const chunks: Buffer[] = [];
    stages.decode += await seconds(async () => {
      const { output, result } = decodeLayer(
        await store.readStream(l.digest as Digest),
        compressionOf(l.mediaType),
      );
      await Promise.all([pipeline(output, sink()), result]);
    });
    stages.decompress += await seconds(async () => {
      const { output, done } = decompress(
        await store.readStream(l.digest as Digest),
        compressionOf(l.mediaType),
      );
      await Promise.all([pipeline(output, sink()), done]);
    });
    const { output, done } = decompress(
      await store.readStream(l.digest as Digest),
      compressionOf(l.mediaType),
    );
    for await (const c of output) chunks.push(c as Buffer);
    await done;
    const uncompressed = Buffer.concat(chunks);
    stages.diffIdHash += await seconds(async () => void createHash('sha256').update(uncompressed).digest());
    stages.parse += await seconds(async () => {
      const extract = tar.extract();
      const feeding = pipeline(Readable.from([uncompressed]), extract);
      for await (const entry of extract) entry.resume();
      await feeding;
    });
  }
  return stages;
}

/** Medians of each stage over several measurements. */
export function medianStages(all: readonly UnpackStages[]): UnpackStages {
  return {
    blobDigest: median(all.map((s) => s.blobDigest)),
    decode: median(all.map((s) => s.decode)),
    decompress: median(all.map((s) => s.decompress)),
    diffIdHash: median(all.map((s) => s.diffIdHash)),
    parse: median(all.map((s) => s.parse)),
  };
}
