/**
 * Layer decoding: a blob stream in, its uncompressed tar and diff id out. Large gzip and zstd
 * layers are decoded on one worker thread shared by the process (decode-worker.ts): there zlib's
 * per-chunk round trips do not queue behind the file writes of the daemon's thread, and the
 * sha256 of the uncompressed bytes runs beside them instead of taking their turn. That thread
 * reads a content-store blob file itself; a stream (a layer still downloading) is forwarded to
 * it. Small and uncompressed layers are decoded in-process, where a thread hop gains nothing.
 */
import { statSync } from 'node:fs';
import { finished, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';
import { builtModule } from '../common/built-module.js';
import { sha256Meter } from '../common/sha256-meter.js';
import {
  OUTPUT_BATCH_BYTES,
  type FromWorker,
  type ToWorker,
  type WorkerCompression,
} from './decode-protocol.js';
import { decompress, wholeFileOf, type Compression } from './decompress.js';
import { CorruptLayerError } from './errors.js';

export interface DecodedLayer {
  /** The uncompressed tar. Destroying it stops decoding. */
  output: Readable;
  /**
   * Settles once the whole stream is decoded: the diff id (`sha256:<hex>`) and size of the
   * uncompressed bytes. Rejects with CorruptLayerError when the data is not valid for its
   * compression, or with the error that stopped reading.
   */
  result: Promise<{ diffId: string; size: number }>;
}

export interface DecodeOptions {
  /** Called with the running uncompressed byte count. */
  onProgress?: (uncompressedBytes: number) => void;
  /** The blob's size if known: below WORKER_MIN_BYTES it is decoded in-process. */
  compressedSize?: number;
}

/** Compressed layers from this size on go to the worker thread. */
export const WORKER_MIN_BYTES = 1024 * 1024;
/** Compressed bytes of a stream source sent to the worker and not yet taken by its decompressor. */
const MAX_INPUT_IN_FLIGHT = 8 * 1024 * 1024;
/** Input chunks arriving in one tick go to the worker as one message, up to this size. */
const INPUT_BATCH_BYTES = 1024 * 1024;

const WORKER_FILE = builtModule(import.meta.url, 'decode-worker.js', 'src/unpack');

/** How layers were decoded, for tests and benchmarks. */
export const decodeCounts = { worker: 0, inProcess: 0 };

export function decodeLayer(
  source: Readable,
  compression: Compression,
  opts: DecodeOptions = {},
): DecodedLayer {
  const path = wholeFileOf(source);
  const size = opts.compressedSize ?? (path !== undefined ? sizeOf(path) : undefined);
  if (
    compression === 'none' ||
    WORKER_FILE === undefined ||
    (size !== undefined && size < WORKER_MIN_BYTES)
  ) {
    decodeCounts.inProcess++;
    return decodeInProcess(source, compression, opts.onProgress);
  }
  decodeCounts.worker++;
  return shared.decode(source, compression, path, opts.onProgress);
}

/** Starts the worker thread ahead of the first large layer (it takes tens of milliseconds). */
export function prestartLayerDecoder(): void {
  if (WORKER_FILE !== undefined) shared.started();
}

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

function decodeInProcess(
  source: Readable,
  compression: Compression,
  onProgress: ((n: number) => void) | undefined,
): DecodedLayer {
  const { output: raw, done } = decompress(source, compression);
  const hasher = sha256Meter(onProgress);
  const hashing = pipeline(raw, hasher);
  const result = (async () => {
    try {
      await hashing;
    } catch (e) {
      await done; // a broken stream's own reason comes first
      throw e;
    }
    await done;
    return { diffId: hasher.digest(), size: hasher.bytes() };
  })();
  result.catch(() => undefined);
  return { output: hasher, result };
}

/** One layer being decoded on the worker thread: the daemon's side. */
class WorkerDecoding {
  readonly output: Readable;
  readonly result: Promise<{ diffId: string; size: number }>;
  private resolve!: (r: { diffId: string; size: number }) => void;
  private reject!: (e: Error) => void;
  private settled = false;
  private owedCredits = 0;
  private bytes = 0;
  private inFlight: number[] = [];
  private inFlightBytes = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;

  constructor(
    private readonly host: DecodeWorker,
    readonly id: number,
    private readonly source: Readable,
    private readonly onProgress: ((n: number) => void) | undefined,
  ) {
    this.result = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.result.catch(() => undefined);
    this.output = new Readable({
      highWaterMark: 2 * OUTPUT_BATCH_BYTES,
      read: () => this.payCredits(),
      destroy: (err, cb) => {
        this.stop(err ?? new Error('layer decoding was cancelled'));
        cb(err);
      },
    });
    // A failure reaches a reader that has not attached yet through `result`, not as a crash.
    this.output.on('error', () => undefined);
  }

  /** Forwards a stream source's bytes to the worker, batched per tick and bounded in flight. */
  feed(): void {
    this.source.on('data', (chunk: Buffer) => {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes >= INPUT_BATCH_BYTES) this.flushInput();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flushInput());
      }
    });
    // An error, or a close before the end (a download given up on), ends the decoding too:
    // the thread would otherwise wait for the rest forever.
    finished(this.source, { writable: false }, (err) => {
      if (err) return this.fail(err);
      this.flushInput();
      if (!this.settled) this.host.post({ op: 'end', id: this.id });
    });
  }

  private flushInput(): void {
    this.flushScheduled = false;
    if (this.pendingBytes === 0 || this.settled) return;
    const buf = new ArrayBuffer(this.pendingBytes);
    const view = new Uint8Array(buf);
    let off = 0;
    for (const c of this.pending) {
      view.set(c, off);
      off += c.length;
    }
    this.host.post({ op: 'input', id: this.id, buf, len: off }, [buf]);
    this.inFlight.push(off);
    this.inFlightBytes += off;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.inFlightBytes > MAX_INPUT_IN_FLIGHT) this.source.pause();
  }

  onMessage(m: FromWorker): void {
    if (this.settled) return;
    switch (m.op) {
      case 'output': {
        this.bytes += m.len;
        this.onProgress?.(this.bytes);
        if (this.output.push(Buffer.from(m.buf, 0, m.len))) this.host.post({ op: 'credit', id: this.id });
        else this.owedCredits++;
        return;
      }
      case 'consumed': {
        this.inFlightBytes -= this.inFlight.shift() ?? 0;
        if (this.inFlightBytes <= MAX_INPUT_IN_FLIGHT && this.source.isPaused()) this.source.resume();
        return;
      }
      case 'done':
        this.settled = true;
        this.host.forget(this.id);
        this.output.push(null);
        this.resolve({ diffId: m.diffId, size: m.size });
        return;
      case 'error':
        this.fail(m.corrupt ? new CorruptLayerError(m.message) : new Error(m.message), false);
        return;
    }
  }

  private payCredits(): void {
    for (; this.owedCredits > 0; this.owedCredits--) this.host.post({ op: 'credit', id: this.id });
  }

  /** Ends this decoding with `err`: the worker is told to stop unless it is the one that failed. */
  fail(err: Error, tellWorker = true): void {
    if (this.settled) return;
    this.stop(err, tellWorker);
    this.output.destroy(err);
  }

  private stop(err: Error, tellWorker = true): void {
    if (this.settled) return;
    this.settled = true;
    if (tellWorker) this.host.post({ op: 'cancel', id: this.id });
    this.host.forget(this.id);
    if (!this.source.destroyed) this.source.destroy();
    this.reject(err);
  }
}

/** The process's decoding thread, started on first use; it keeps the process alive only while it works. */
class DecodeWorker {
  private worker: Worker | undefined;
  private readonly decodings = new Map<number, WorkerDecoding>();
  private nextId = 1;

  decode(
    source: Readable,
    compression: WorkerCompression,
    path: string | undefined,
    onProgress: ((n: number) => void) | undefined,
  ): DecodedLayer {
    const d = new WorkerDecoding(this, this.nextId++, source, onProgress);
    this.decodings.set(d.id, d);
    this.started().ref();
    if (path !== undefined) source.destroy(); // the worker reads the file itself
    this.post({ op: 'open', id: d.id, compression, ...(path !== undefined ? { path } : {}) });
    if (path === undefined) d.feed();
    return d;
  }

  post(m: ToWorker, transfer?: ArrayBuffer[]): void {
    this.worker?.postMessage(m, transfer);
  }

  forget(id: number): void {
    this.decodings.delete(id);
    if (this.decodings.size === 0) this.worker?.unref();
  }

  started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_FILE as string);
    worker.unref();
    worker.on('message', (m: FromWorker) => this.decodings.get(m.id)?.onMessage(m));
    const lost = (err: Error): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const d of [...this.decodings.values()]) d.fail(err, false);
    };
    worker.on('error', (e) =>
      lost(new Error(`the layer decoding thread failed: ${e.message}`, { cause: e })),
    );
    worker.on('exit', (code) => lost(new Error(`the layer decoding thread exited (${code})`)));
    this.worker = worker;
    return worker;
  }
}

const shared = new DecodeWorker();
