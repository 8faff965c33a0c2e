/** Turns a layer blob stream into its uncompressed tar stream, by media type. */
import { spawn } from 'node:child_process';
import { ReadStream } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { CorruptLayerError, UnsupportedMediaTypeError } from './errors.js';

export type Compression = 'none' | 'gzip' | 'zstd';

/**
 * Uncompressed bytes the decompressor may produce ahead of the tar consumer. With the streams'
 * 16 KiB default it stopped after every chunk until the main thread had written that chunk's
 * files, so decompression and file writes took turns instead of overlapping.
 */
const READ_AHEAD_BYTES = 8 * 1024 * 1024;

/** OCI and Docker layer media types (including non-distributable ones) by their compression. */
export function compressionOf(mediaType: string): Compression {
  const mt = mediaType.trim().toLowerCase();
  if (
    /^application\/vnd\.(oci\.image|docker\.image\.rootfs)\.(layer\.)?(nondistributable\.|foreign\.)?(v1\.)?(tar|diff\.tar)$/.test(
      mt,
    )
  )
    return 'none';
  if (mt.endsWith('.tar+gzip') || mt.endsWith('.tar.gzip')) return 'gzip';
  if (mt.endsWith('.tar+zstd') || mt.endsWith('.tar.zstd')) return 'zstd';
  if (mt === 'application/x-tar' || mt === 'application/vnd.docker.image.rootfs.diff.tar') return 'none';
  throw new UnsupportedMediaTypeError(mediaType);
}

/** The path of a file stream that has read nothing and covers the whole file, or undefined. */
export function wholeFileOf(source: Readable): string | undefined {
  if (!(source instanceof ReadStream) || typeof source.path !== 'string') return undefined;
  // Node's typings omit the range a file stream was opened with.
  const { start, end } = source as ReadStream & { start?: number; end?: number };
  const untouched = source.bytesRead === 0 && source.readableFlowing === null && !source.destroyed;
  return untouched && start === undefined && end === Infinity ? source.path : undefined;
}

/**
 * Returns the uncompressed stream and a promise that settles when decompression ends: it
 * rejects with CorruptLayerError if the data is not valid for its compression. Destroying the
 * returned stream stops decompression (and kills zstd). `readAheadBytes`: how much the output
 * may hold unread (the decoding thread, which bounds its read-ahead itself, passes a small one).
 */
export function decompress(
  source: Readable,
  compression: Compression,
  readAheadBytes = READ_AHEAD_BYTES,
): { output: Readable; done: Promise<void> } {
  if (compression === 'none') return { output: source, done: Promise.resolve() };
  if (compression === 'gzip') {
    // Large output chunks: each chunk costs a trip through tar-stream and the entry iterator.
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    // zlib's own output buffer is 16 KiB; this one lets it decompress ahead of the file writes.
    const output = new PassThrough({ highWaterMark: readAheadBytes });
    // Only zlib's own errors mean broken data: a reader that gave up or a source that failed
    // (a download cut off) keep their own reason.
    let zlibError: Error | undefined;
    gunzip.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code?.startsWith('Z_')) zlibError ??= e; // Z_DATA_ERROR, Z_BUF_ERROR, …
    });
    const done = pipeline(source, gunzip, output).catch((e: unknown) => {
      if (zlibError === undefined) throw e;
      throw new CorruptLayerError(`gzip layer cannot be decompressed: ${zlibError.message}`, {
        cause: zlibError,
      });
    });
    done.catch(() => undefined);
    return { output, done };
  }
  // Node 20's zlib has no zstd: the zstd CLI decompresses through pipes, in its own process.
  // A whole file (a content-store blob) it reads itself: feeding it through a pipe cost this
  // process about 60 ms of CPU per 50 MB of blob.
  const file = wholeFileOf(source);
  if (file !== undefined) source.destroy();
  const child = spawn('zstd', file === undefined ? ['-dcq'] : ['-dcq', '--', file], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // Drained eagerly so zstd does not block on a full pipe while files are being written.
  const output = new PassThrough({ highWaterMark: readAheadBytes });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', (e) =>
      reject(new CorruptLayerError(`cannot run zstd to decompress the layer: ${e.message}`, { cause: e })),
    );
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else if (stopped) reject(new Error("zstd was stopped: the layer's reader gave up"));
      else
        reject(
          new CorruptLayerError(
            `zstd layer cannot be decompressed: ${stderr.trim() || `zstd exited with ${code ?? signal}`}`,
          ),
        );
    });
  });
  if (file !== undefined) child.stdin.end();
  const feeding =
    file !== undefined
      ? Promise.resolve()
      : pipeline(source, child.stdin).catch((e: unknown) => {
          // EPIPE when zstd stopped reading: its exit status tells why.
          if ((e as NodeJS.ErrnoException).code !== 'EPIPE') throw e;
        });
  const draining = pipeline(child.stdout, output);
  // Killed only when the consumer gave up early; after a normal end zstd exits by itself.
  let stopped = false;
  output.on('close', () => {
    if (!output.readableEnded && child.exitCode === null && child.signalCode === null) {
      stopped = true;
      child.kill('SIGKILL');
    }
  });
  const done = Promise.all([feeding, draining, exited]).then(() => undefined);
  done.catch(() => undefined);
  return { output, done };
}
