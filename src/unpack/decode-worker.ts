/**
 * The layer decoding thread (started by decode.ts): decompresses layer blobs with decompress.ts
 * and hashes the uncompressed bytes (the diff id), then hands them over in large batches. Off the
 * daemon's thread, zlib's chunk round trips no longer wait behind file writes, and the hashing no
 * longer takes their time. Imports Node's modules, decompress.ts and the error modules only.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import {
  OUTPUT_BATCH_BYTES,
  OUTPUT_CREDITS,
  type FromWorker,
  type ToWorker,
  type WorkerCompression,
} from './decode-protocol.js';
import { errorMessage } from '../common/errors.js';
import { decompress } from './decompress.js';
import { CorruptLayerError } from './errors.js';

const port = parentPort;
if (port === null) throw new Error('decode-worker.ts runs as a worker thread only');

/** Blob file reads: large, so a layer is a few hundred reads, not thousands. */
const READ_CHUNK_BYTES = 1024 * 1024;
/** What the decompressor may hold unread: the credits below bound the read-ahead, not this. */
const DECOMPRESSOR_BUFFER_BYTES = 256 * 1024;

const post = (m: FromWorker, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);

class Decoding {
  private readonly hash: Hash = createHash('sha256');
  private size = 0;
  private batch: Buffer | undefined;
  private batchLen = 0;
  private credits = OUTPUT_CREDITS;
  private paused = false;
  private settled = false;
  /** Where `input` messages go (no blob file). */
  private readonly input: PassThrough | undefined;
  private readonly output: Readable;
  /** Chunks the decompressor gave, not yet hashed and batched. */
  private pending: Buffer[] = [];
  /** A partial batch is to be sent: see `take`. */
  private flushScheduled = false;

  constructor(
    private readonly id: number,
    compression: WorkerCompression,
    path: string | undefined,
  ) {
    // A whole-file stream: zstd opens the file itself (decompress.ts), gzip reads it here.
    if (path === undefined) this.input = new PassThrough();
    const source = this.input ?? createReadStream(path as string, { highWaterMark: READ_CHUNK_BYTES });
    const { output, done } = decompress(source, compression, DECOMPRESSOR_BUFFER_BYTES);
    this.output = output;
    // Hashed and batched after the decompressor's callback returns: zlib issues its next chunk
    // before returning, so the thread pool inflates that chunk while this thread hashes this one.
    output.on('data', (chunk: Buffer) => {
      this.pending.push(chunk);
      if (this.pending.length === 1) queueMicrotask(() => this.takePending());
    });
    // Done once every byte was read here and the decompressor (zstd: its exit status) agreed.
    const read = new Promise<void>((resolve) => output.once('end', resolve));
    Promise.all([done, read]).then(
      () => this.finish(),
      (e: unknown) => this.fail(errorMessage(e), e instanceof CorruptLayerError),
    );
  }

  private takePending(): void {
    for (const chunk of this.pending.splice(0)) this.take(chunk);
  }

  private take(chunk: Buffer): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      this.batch ??= Buffer.allocUnsafeSlow(OUTPUT_BATCH_BYTES);
      const n = chunk.copy(
        this.batch,
        this.batchLen,
        off,
        off + Math.min(chunk.length - off, OUTPUT_BATCH_BYTES - this.batchLen),
      );
      this.batchLen += n;
      off += n;
      if (this.batchLen === OUTPUT_BATCH_BYTES) this.send();
    }
    // A stream source (a download) arrives at its own pace: what is decoded of it is sent at
    // once, not held back until a batch is full.
    if (this.input !== undefined && this.batchLen > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        if (!this.settled) this.send();
      });
    }
  }

  private send(): void {
    const batch = this.batch;
    if (batch === undefined || this.batchLen === 0) return;
    this.batch = undefined;
    const buf = batch.buffer as ArrayBuffer;
    post({ op: 'output', id: this.id, buf, len: this.batchLen }, [buf]);
    this.batchLen = 0;
    if (--this.credits <= 0 && !this.paused) {
      this.paused = true;
      this.output.pause();
    }
  }

  credit(): void {
    this.credits++;
    if (this.paused && this.credits > 0) {
      this.paused = false;
      this.output.resume();
    }
  }

  write(buf: ArrayBuffer, len: number): void {
    if (this.input === undefined || this.settled) return;
    this.input.write(Buffer.from(buf, 0, len), () => {
      if (!this.settled) post({ op: 'consumed', id: this.id });
    });
  }

  end(): void {
    this.input?.end();
  }

  private finish(): void {
    if (this.settled) return;
    this.takePending();
    this.send();
    this.settled = true;
    post({ op: 'done', id: this.id, diffId: `sha256:${this.hash.digest('hex')}`, size: this.size });
    decodings.delete(this.id);
  }

  private fail(message: string, corrupt: boolean): void {
    if (this.settled) return;
    post({ op: 'error', id: this.id, message, corrupt });
    this.cancel();
  }

  cancel(): void {
    this.settled = true;
    decodings.delete(this.id);
    this.output.destroy(); // stops the decompressor and its source, and kills zstd
    this.input?.destroy();
  }
}

const decodings = new Map<number, Decoding>();

port.on('message', (m: ToWorker) => {
  if (m.op === 'open') {
    decodings.set(m.id, new Decoding(m.id, m.compression, m.path));
    return;
  }
  const d = decodings.get(m.id);
  if (d === undefined) return; // already settled or cancelled
  if (m.op === 'input') d.write(m.buf, m.len);
  else if (m.op === 'end') d.end();
  else if (m.op === 'credit') d.credit();
  else d.cancel();
});
