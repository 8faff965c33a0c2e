/** The content store contract: what every implementation promises to its callers. */
import type { Readable } from 'node:stream';
import type { Digest } from './digest.js';

/** What the store knows about one committed blob. */
export interface BlobInfo {
  digest: Digest;
  size: number;
  /** When the blob was committed (file mtime). */
  createdAt: Date;
  /** Free-form labels; `containerd.io/gc.ref.content.*` labels name blobs this one keeps alive. */
  labels: Record<string, string>;
}

/** The state of an ingest that has not been committed yet. */
export interface IngestStatus {
  ref: string;
  /** Bytes already written: a resumed transfer continues from here (e.g. with an HTTP Range). */
  offset: number;
  /** The expected total size, when the writer was opened with one. */
  total?: number;
  /** The expected digest, when the writer was opened with one. */
  expected?: Digest;
  startedAt: Date;
  updatedAt: Date;
}

/** A byte range of a blob: `offset` from the start, `length` bytes (to the end when omitted). */
export interface ByteRange {
  offset: number;
  length?: number;
}

/** What a writer verifies at commit. */
export interface CommitExpectation {
  digest: Digest;
  /** The exact size; when given, any other size is refused before the digest is even compared. */
  size?: number;
  /** Labels stored with the blob, atomically visible with it. */
  labels?: Record<string, string>;
}

/**
 * An open ingest. Exactly one writer holds a ref at a time; writes append.
 * Nothing is visible to readers until `commit` verifies size and digest and renames the
 * ingest into place. A writer that is closed without commit leaves its ingest on disk,
 * so a later writer for the same ref resumes at `offset`.
 */
export interface ContentWriter {
  readonly ref: string;
  /** Bytes written so far, including those written before a resume. */
  readonly offset: number;
  /** Appends bytes to the ingest. The writer may hold `chunk` until its next flush: do not reuse it. */
  write(chunk: Uint8Array): Promise<void>;
  /** The sha256 of the bytes written so far. */
  digest(): Digest;
  /**
   * Verifies and publishes the blob. On size or digest mismatch it throws a
   * `DigestMismatchError`/`SizeMismatchError`, removes the ingest and commits nothing.
   * If the blob already exists (another writer won), it succeeds and drops this ingest.
   */
  commit(expected: CommitExpectation): Promise<BlobInfo>;
  /** Releases the ref, keeping the partial ingest for a later resume. */
  close(): Promise<void>;
  /** Releases the ref and deletes the partial ingest. */
  abort(): Promise<void>;
}

/** Options when opening a writer. */
export interface WriterOptions {
  /** Expected size and digest, recorded with the ingest for status reporting. */
  expected?: { digest: Digest; size?: number };
}

/**
 * A content-addressed blob store (the shape of containerd's core/content).
 *
 * Semantics:
 * - Blobs are immutable and addressed by sha256 digest; a digest is validated before it
 *   touches a path, so no input can address a file outside the store.
 * - Writes go through an ingest keyed by a caller-chosen `ref`; at most one open writer
 *   per ref (a second gets `UnavailableError` until the first closes). Different refs may
 *   race to write the same digest: the first commit wins, the others succeed without
 *   replacing it, and readers never see a partial blob.
 * - Labels are stored beside a blob and replaced as a whole by `setLabels`.
 * - `gc(roots)` deletes every blob not reachable from `roots` through
 *   `containerd.io/gc.ref.content.*` labels. The caller must include every blob it still
 *   needs (e.g. those of pulls in progress) in the roots.
 */
export interface ContentStore {
  /** Info of a committed blob; `NotFoundError` if absent. */
  info(digest: Digest): Promise<BlobInfo>;
  /** True if the blob is committed. */
  has(digest: Digest): Promise<boolean>;
  /** Streams a committed blob (or a range of it); `NotFoundError` if absent, `InvalidArgumentError` for a range past its end. */
  readStream(digest: Digest, range?: ByteRange): Promise<Readable>;
  /** Reads a whole committed blob into memory (for manifests and configs). */
  readAll(digest: Digest): Promise<Buffer>;
  /** Opens (or resumes) the ingest `ref`. */
  writer(ref: string, opts?: WriterOptions): Promise<ContentWriter>;
  /** Status of an ingest, or undefined if there is none. */
  ingestStatus(ref: string): Promise<IngestStatus | undefined>;
  /** All ingests on disk. */
  listIngests(): Promise<IngestStatus[]>;
  /** Deletes an ingest that no writer holds. */
  abortIngest(ref: string): Promise<void>;
  /** Deletes ingests no writer holds that have not been written to since `before`; returns their refs. */
  pruneIngests(before: Date): Promise<string[]>;
  /** Replaces a committed blob's labels; `NotFoundError` if absent. */
  setLabels(digest: Digest, labels: Record<string, string>): Promise<BlobInfo>;
  /** Deletes a committed blob and its labels; `NotFoundError` if absent. */
  delete(digest: Digest): Promise<void>;
  /** Every committed blob. */
  list(): Promise<BlobInfo[]>;
  /** Deletes blobs unreachable from `roots`; returns what it removed. */
  gc(roots: Iterable<Digest>): Promise<{ removed: Digest[] }>;
}

/** The label prefix that makes a blob keep another alive, as containerd names it. */
export const GC_REF_CONTENT_PREFIX = 'containerd.io/gc.ref.content.';
