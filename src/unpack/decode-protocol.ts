/** Messages between decode.ts (the daemon's thread) and decode-worker.ts, per layer stream `id`. */

/** Compressions the worker decodes (uncompressed layers are hashed where they are read). */
export type WorkerCompression = 'gzip' | 'zstd';

export type ToWorker =
  /** Start decoding: from the blob file at `path`, or from `input` messages when there is none. */
  | { op: 'open'; id: number; compression: WorkerCompression; path?: string }
  /** Compressed bytes (transferred); the worker answers `consumed` once the decompressor took them. */
  | { op: 'input'; id: number; buf: ArrayBuffer; len: number }
  | { op: 'end'; id: number }
  /** The reader took one `output` batch: the worker may send one more. */
  | { op: 'credit'; id: number }
  /** Stop, drop everything, kill a zstd process; no answer follows. */
  | { op: 'cancel'; id: number };

export type FromWorker =
  /** Uncompressed bytes, in order (transferred). */
  | { op: 'output'; id: number; buf: ArrayBuffer; len: number }
  | { op: 'consumed'; id: number }
  /** The whole stream decoded: sha256 and length of the uncompressed bytes. */
  | { op: 'done'; id: number; diffId: string; size: number }
  /** `corrupt`: the data is not valid for its compression (as opposed to an I/O or spawn failure). */
  | { op: 'error'; id: number; message: string; corrupt: boolean };

/**
 * Uncompressed bytes per `output` message. Large batches mean fewer messages and stream events
 * on the daemon's thread, but 2 MiB made the pull benchmark's large pull 1.4 times slower than
 * 1 MiB (0.90 vs 0.63 × containerd, three runs each; batches were never reused, and glibc serves
 * allocations that size with a fresh mmap each, the likely cause). 1 MiB was as good as 256 KiB
 * there and better on many-file layers.
 */
export const OUTPUT_BATCH_BYTES = 1024 * 1024;
/** `output` batches the worker may send before the reader gives credit back (16 MiB ahead). */
export const OUTPUT_CREDITS = 16;
