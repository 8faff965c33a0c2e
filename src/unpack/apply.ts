/**
 * applyLayer: streams one layer blob into a snapshot directory. Decompression, the diff id
 * hash and tar parsing run as one stream pipeline, so nothing is buffered whole and unpack can
 * start while the blob is still arriving; entries are applied strictly in order.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { BerthError } from '../common/errors.js';
import { decodeLayer } from './decode.js';
import { compressionOf } from './decompress.js';
import { CorruptLayerError, DiffIdMismatchError, UnsafeLayerEntryError } from './errors.js';
import { installPaxXattrDecoder } from './pax.js';
import { SysOps } from './sysops.js';
import { LayerView, type ApplyMode } from './view.js';
import { LayerWriter, type DevicePolicy, type SkippedDevice } from './writer.js';

installPaxXattrDecoder();

export interface ApplyOptions {
  /**
   * `overlay`: `target` is an overlayfs upper layer; deletions become whiteouts (char 0/0) and
   * opaque directories get `trusted.overlay.opaque=y`. `native`: `target` is a full tree
   * (a copy of the parent) and deletions delete.
   */
  mode: ApplyMode;
  /** `sha256:<hex>` the uncompressed stream must hash to (the config's diff_ids entry). */
  expectedDiffId?: string;
  /** Overlay mode: the parent layers' directories, nearest first, for path lookups through them. */
  lowerDirs?: readonly string[];
  /** Refuse the layer if it holds more entries than this (default 1,000,000). */
  maxEntries?: number;
  /** Called with the uncompressed byte count as the layer is read (for activity heartbeats). */
  onProgress?: (uncompressedBytes: number) => void;
  /** The blob's size, if known (small layers are decoded without the decoding thread). */
  compressedSize?: number;
  /**
   * The mknod/xattr helper to use, owned by the caller (who closes it): one for all the layers of
   * an image instead of a perl process started per layer. Default: one of its own for this layer.
   */
  sys?: SysOps;
  /**
   * `skip` (default): character and block devices the layer carries are not created, only
   * reported in `skippedDevices`; `create` makes them (images that need a device node in their
   * tree). Overlay whiteouts (char 0/0) and FIFOs are made either way.
   */
  devices?: DevicePolicy;
}

export interface ApplyResult {
  /** `sha256:<hex>` of the uncompressed tar. */
  diffId: string;
  /** Uncompressed size in bytes. */
  size: number;
  entries: number;
  /** Device nodes the layer carried that were not created (the `skip` policy). */
  skippedDevices: SkippedDevice[];
}

/**
 * Applies the layer read from `source` (of OCI/Docker layer `mediaType`) onto `target`.
 * Rejects with UnsafeLayerEntryError / InvalidLayerEntryError naming the entry, CorruptLayerError,
 * UnsupportedMediaTypeError, or DiffIdMismatchError naming both digests. On rejection `target`
 * holds a partial layer: the caller removes the active snapshot, so nothing is committed.
 */
export async function applyLayer(
  source: Readable,
  mediaType: string,
  target: string,
  opts: ApplyOptions,
): Promise<ApplyResult> {
  const compression = compressionOf(mediaType);
  if (opts.mode === 'native' && (opts.lowerDirs?.length ?? 0) > 0) {
    throw new Error('applyLayer: lowerDirs only apply to overlay mode');
  }
  const maxEntries = opts.maxEntries ?? 1_000_000;
  const { output, result: decoded } = decodeLayer(source, compression, {
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.compressedSize !== undefined ? { compressedSize: opts.compressedSize } : {}),
  });
  const extract = tar.extract();
  const parsing = pipeline(output, extract);
  parsing.catch(() => undefined);

  const sys = opts.sys ?? new SysOps();
  const lowers = opts.lowerDirs ?? [];
  // With no layer below, a whiteout has nothing to hide and would show as a device in a bind
  // mount of the bottom snapshot: the bottom layer is applied as a plain tree.
  const mode = lowers.length === 0 ? 'native' : opts.mode;
  const view = new LayerView(target, lowers, mode, sys);
  const writer = new LayerWriter(view, sys, opts.devices ?? 'skip');
  let current = '';
  try {
    try {
      for await (const entry of extract) {
        current = entry.header.name;
        if (writer.entries >= maxEntries)
          throw new UnsafeLayerEntryError(current, `the layer has more than ${maxEntries} entries`);
        await writer.apply(entry.header, entry as unknown as Readable);
        entry.resume(); // skip any body the entry type does not use
      }
    } catch (err) {
      output.destroy();
      throw await explain(err, current, decoded);
    }
    try {
      await Promise.all([parsing, decoded]);
    } catch (err) {
      throw await explain(err, current, decoded);
    }
    await writer.finish();
  } finally {
    if (opts.sys === undefined) await sys.close();
  }
  const { diffId, size } = await decoded;
  if (opts.expectedDiffId !== undefined && opts.expectedDiffId !== diffId)
    throw new DiffIdMismatchError(opts.expectedDiffId, diffId);
  return { diffId, size, entries: writer.entries, skippedDevices: writer.skippedDevices };
}

/**
 * Turns a failure inside the pipeline into the error a user can act on: our typed errors as
 * they are, the decompressor's reason for a broken stream, a tar parse error as CorruptLayerError,
 * and a filesystem error with the entry it happened on.
 */
async function explain(err: unknown, entry: string, decoded: Promise<unknown>): Promise<Error> {
  if (err instanceof BerthError) return err;
  const why = await decoded.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (why instanceof CorruptLayerError) return why;
  const e = err as NodeJS.ErrnoException;
  const after = entry === '' ? 'at its start' : `at or after entry ${JSON.stringify(entry)}`;
  if (typeof e.syscall === 'string')
    return new Error(`applying layer ${after}: ${e.message}`, { cause: err });
  return new CorruptLayerError(`layer is not a valid tar ${after}: ${e.message}`, { cause: err });
}
