/** The filesystem ingest writer: append, hash incrementally, verify, rename. */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UnavailableError } from '../common/errors.js';
import { parseDigest, type Digest } from './digest.js';
import { DigestMismatchError, SizeMismatchError } from './errors.js';
import type { BlobInfo, CommitExpectation, ContentWriter, WriterOptions } from './store.js';

/** Where the store keeps things; shared by the store and its writers. */
export interface StoreLayout {
  blobPath(digest: Digest): string;
  labelsPath(digest: Digest): string;
  ingestDir(ref: string): string;
  info(digest: Digest): Promise<BlobInfo>;
  writeLabels(digest: Digest, labels: Record<string, string>): Promise<void>;
  mergeLabels(digest: Digest, labels: Record<string, string>): Promise<void>;
}

/** Ingest metadata persisted beside the partial data so status survives restarts. */
export interface IngestMeta {
  ref: string;
  startedAt: string;
  total?: number;
  expected?: Digest;
}

/** Bytes gathered before one write to the ingest file. */
const WRITE_BATCH_BYTES = 1024 * 1024;

// Ingest dirs held by writers in this process; the lock file covers other processes.
const heldIngests = new Set<string>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function acquireLock(dir: string, ref: string): Promise<void> {
  if (heldIngests.has(dir)) {
    throw new UnavailableError(`ingest ${JSON.stringify(ref)} is locked by another writer in this process`);
  }
  const lockPath = path.join(dir, 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockPath, String(process.pid), { flag: 'wx' });
      heldIngests.add(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
      // A lock left by a dead process (a crash mid-pull) is stale: take it over and resume.
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && pidAlive(holder)) {
        throw new UnavailableError(`ingest ${JSON.stringify(ref)} is locked by process ${holder}`);
      }
      await rm(lockPath, { force: true });
    }
  }
  throw new UnavailableError(`ingest ${JSON.stringify(ref)} is locked by another writer`);
}

async function releaseLock(dir: string): Promise<void> {
  heldIngests.delete(dir);
  await rm(path.join(dir, 'lock'), { force: true });
}

/** Opens or resumes an ingest; the hash state is rebuilt by reading the partial data. */
export async function openWriter(
  layout: StoreLayout,
  ref: string,
  opts: WriterOptions = {},
): Promise<ContentWriter> {
  const dir = layout.ingestDir(ref);
  await mkdir(dir, { recursive: true });
  await acquireLock(dir, ref);
  try {
    const dataPath = path.join(dir, 'data');
    const metaPath = path.join(dir, 'meta.json');
    const hash = createHash('sha256');
    let offset = 0;
    const existing = await stat(dataPath).catch(() => undefined);
    if (existing) {
      await pipeline(createReadStream(dataPath), async function (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          hash.update(chunk);
          offset += chunk.length;
        }
      });
    } else {
      const meta: IngestMeta = { ref, startedAt: new Date().toISOString() };
      if (opts.expected) {
        meta.expected = opts.expected.digest;
        if (opts.expected.size !== undefined) meta.total = opts.expected.size;
      }
      await writeFile(metaPath, JSON.stringify(meta));
    }
    const handle = await open(dataPath, 'a');
    return new FsContentWriter(layout, ref, dir, dataPath, handle, hash, offset);
  } catch (err) {
    await releaseLock(dir);
    throw err;
  }
}

class FsContentWriter implements ContentWriter {
  private released = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  constructor(
    private readonly layout: StoreLayout,
    readonly ref: string,
    private readonly dir: string,
    private readonly dataPath: string,
    private readonly handle: FileHandle,
    private readonly hash: Hash,
    private written: number,
  ) {}

  get offset(): number {
    return this.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.assertOpen();
    this.hash.update(chunk);
    this.written += chunk.length;
    // Network reads arrive in small chunks: coalesce them so the disk sees few large writes.
    this.pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= WRITE_BATCH_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const data = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.handle.write(data, done, data.length - done);
      done += bytesWritten;
    }
  }

  digest(): Digest {
    return `sha256:${this.hash.copy().digest('hex')}`;
  }

  async commit(expected: CommitExpectation): Promise<BlobInfo> {
    this.assertOpen();
    parseDigest(expected.digest);
    const actual = this.digest();
    if (expected.size !== undefined && expected.size !== this.written) {
      await this.abort();
      throw new SizeMismatchError(expected.digest, expected.size, this.written);
    }
    if (actual !== expected.digest) {
      await this.abort();
      throw new DigestMismatchError(expected.digest, actual, `ingest ${JSON.stringify(this.ref)}`);
    }
    await this.flush();
    await this.handle.datasync();
    await this.handle.close();
    const target = this.layout.blobPath(expected.digest);
    const exists = await stat(target).catch(() => undefined);
    if (exists) {
      // Another writer committed the same content first: keep theirs, add our labels.
      if (expected.labels) await this.layout.mergeLabels(expected.digest, expected.labels);
    } else {
      // Labels first, so a committed blob is never seen without them (even after a crash).
      if (expected.labels) await this.layout.writeLabels(expected.digest, expected.labels);
      await mkdir(path.dirname(target), { recursive: true });
      await rename(this.dataPath, target);
    }
    await this.release(true);
    return this.layout.info(expected.digest);
  }

  async close(): Promise<void> {
    if (this.released) return;
    // What was received is kept for a resume, so flush before letting go.
    await this.flush().catch(() => undefined);
    await this.handle.close().catch(() => undefined);
    await this.release(false);
  }

  async abort(): Promise<void> {
    if (this.released) return;
    await this.handle.close().catch(() => undefined);
    await this.release(true);
  }

  private async release(removeIngest: boolean): Promise<void> {
    this.released = true;
    if (removeIngest) {
      await rm(this.dir, { recursive: true, force: true });
      heldIngests.delete(this.dir);
    } else {
      await releaseLock(this.dir);
    }
  }

  private assertOpen(): void {
    if (this.released)
      throw new UnavailableError(`ingest ${JSON.stringify(this.ref)} writer is already closed`);
  }
}
