/**
 * The layer decoding thread (started by decode.ts): decompresses layer blobs and hashes the
 * uncompressed bytes (the diff id), then hands them over in large batches. Off the daemon's
 * thread, zlib's chunk round trips no longer wait behind file writes, and the hashing no longer
 * takes their time. Imports only Node's modules: it runs as a worker thread of its own.
 */
import { spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { createGunzip } from 'node:zlib';
import {
  OUTPUT_BATCH_BYTES,
  OUTPUT_CREDITS,
  type FromWorker,
  type ToWorker,
  type WorkerCompression,
} from './decode-protocol.js';

const port = parentPort;
if (port === null) throw new Error('decode-worker.ts runs as a worker thread only');

/** Blob file reads: large, so a layer is a few hundred reads, not thousands. */
const READ_CHUNK_BYTES = 1024 * 1024;
/** zlib output chunks: each is a thread-pool round trip. */
const GUNZIP_CHUNK_BYTES = 256 * 1024;

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
  private input: Writable | undefined;
  private output!: Readable;
  private readonly teardown: Array<() => void> = [];
  /** Chunks the decompressor gave, not yet hashed and batched. */
  private pending: Buffer[] = [];
  /** A partial batch is to be sent: see `take`. */
  private flushScheduled = false;

  constructor(
    private readonly id: number,
    compression: WorkerCompression,
    path: string | undefined,
  ) {
    if (compression === 'gzip') this.gunzip(path);
    else this.zstd(path);
    // Hashed and batched after the decompressor's callback returns: zlib issues its next chunk
    // before returning, so the thread pool inflates that chunk while this thread hashes this one.
    this.output.on('data', (chunk: Buffer) => {
      this.pending.push(chunk);
      if (this.pending.length === 1) queueMicrotask(() => this.takePending());
    });
  }

  private gunzip(path: string | undefined): void {
    const gz = createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES });
    this.output = gz;
    this.teardown.push(() => gz.destroy());
    gz.on('error', (e) => this.fail(`gzip layer cannot be decompressed: ${e.message}`, true));
    gz.on('end', () => this.finish());
    if (path === undefined) {
      this.input = gz;
      return;
    }
    const file = createReadStream(path, { highWaterMark: READ_CHUNK_BYTES });
    this.teardown.push(() => file.destroy());
    file.on('error', (e) => this.fail(`cannot read the layer blob: ${e.message}`, false));
    file.pipe(gz);
  }

  /** Node 20's zlib has no zstd: the zstd CLI decompresses, reading a blob file itself. */
  private zstd(path: string | undefined): void {
    const child = spawn('zstd', path === undefined ? ['-dcq'] : ['-dcq', '--', path], {
      stdio: [path === undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    this.teardown.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const stdout = child.stdout as Readable;
    this.output = stdout;
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    if (child.stdin) {
      this.input = child.stdin;
      // EPIPE when zstd stopped reading: its exit status tells why.
      child.stdin.on('error', () => undefined);
    }
    let outputEnded = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const settle = (): void => {
      if (!outputEnded || exit === undefined) return;
      if (exit.code === 0) this.finish();
      else
        this.fail(
          `zstd layer cannot be decompressed: ${stderr.trim() || `zstd exited with ${exit.code ?? exit.signal}`}`,
          true,
        );
    };
    child.on('error', (e) => this.fail(`cannot run zstd to decompress the layer: ${e.message}`, false));
    child.on('close', (code, signal) => {
      exit = { code, signal };
      settle();
    });
    stdout.on('end', () => {
      outputEnded = true;
      settle();
    });
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
    for (const stop of this.teardown) stop();
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
