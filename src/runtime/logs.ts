/**
 * Reading CRI container logs as conmon writes them: one line per record,
 * `<RFC3339Nano time> <stdout|stderr> <P|F> <text>`, where P marks a fragment of a longer line that
 * continues in the next P/F record of the same stream.
 */
import { watch } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../common/errors.js';

export type LogStream = 'stdout' | 'stderr';

/** One raw record of the log file. */
export interface CriLogRecord {
  time: string;
  timestampNanos: bigint;
  stream: LogStream;
  partial: boolean;
  text: string;
}

/** One complete line (partials joined), stamped with the time of its first fragment. */
export interface LogEntry {
  time: string;
  timestampNanos: bigint;
  stream: LogStream;
  text: string;
}

const RECORD = /^(\S+) (stdout|stderr) ([PF])(?: (.*))?$/s;
const TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/;

/** Nanoseconds since the epoch of an RFC 3339 time with up to nanosecond precision. */
export function parseRfc3339Nano(time: string): bigint {
  const m = TIME.exec(time);
  if (!m) throw new InvalidArgumentError(`log time "${time}" is not RFC 3339`);
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) throw new InvalidArgumentError(`log time "${time}" is not a valid date`);
  const fraction = BigInt((m[2] ?? '').padEnd(9, '0') || '0');
  return BigInt(seconds) * 1_000_000n + fraction;
}

/** Parses one log line (without its newline); undefined for a line that is not a CRI record. */
export function parseCriLine(line: string): CriLogRecord | undefined {
  const m = RECORD.exec(line);
  if (!m?.[1]) return undefined;
  let timestampNanos: bigint;
  try {
    timestampNanos = parseRfc3339Nano(m[1]);
  } catch {
    return undefined;
  }
  return { time: m[1], timestampNanos, stream: m[2] as LogStream, partial: m[3] === 'P', text: m[4] ?? '' };
}

/** Joins P fragments per stream into whole lines. Feed records in file order. */
export class PartialJoiner {
  private readonly pending = new Map<LogStream, { first: CriLogRecord; parts: string[] }>();

  push(rec: CriLogRecord): LogEntry | undefined {
    const open = this.pending.get(rec.stream);
    if (rec.partial) {
      if (open) open.parts.push(rec.text);
      else this.pending.set(rec.stream, { first: rec, parts: [rec.text] });
      return undefined;
    }
    this.pending.delete(rec.stream);
    const first = open?.first ?? rec;
    const text = open ? [...open.parts, rec.text].join('') : rec.text;
    return { time: first.time, timestampNanos: first.timestampNanos, stream: rec.stream, text };
  }
}

export interface ReadLogsOptions {
  /** Only the last N lines (before following). */
  tail?: number;
  /** Only lines at or after this time. */
  since?: Date;
  streams?: LogStream[];
  /** Keep yielding lines as they are written, across rotations, until `signal` aborts (then read what is left). */
  follow?: boolean;
  signal?: AbortSignal;
}

/** Splits complete lines out of a growing text buffer; the incomplete tail is kept for the next chunk. */
class LineSplitter {
  private rest = '';
  feed(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    return lines;
  }
}

/**
 * Yields the log's lines. Without `follow` it reads what is there. With `follow` it then waits for new
 * data; when the file is replaced (rotation: renamed away and recreated by conmon's reopen) or truncated,
 * it continues from the start of the new file.
 */
export async function* readLogs(path: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogEntry> {
  if (opts.tail !== undefined && (!Number.isInteger(opts.tail) || opts.tail < 0)) {
    throw new InvalidArgumentError(`tail: ${opts.tail} is not a non-negative integer`);
  }
  const sinceNanos = opts.since ? BigInt(opts.since.getTime()) * 1_000_000n : undefined;
  const keep = (e: LogEntry): boolean =>
    (sinceNanos === undefined || e.timestampNanos >= sinceNanos) &&
    (!opts.streams || opts.streams.includes(e.stream));

  let handle = await open(path, 'r').catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new NotFoundError(`log file ${path} does not exist`);
    throw err;
  });
  let inode = (await handle.stat()).ino;
  let offset = 0;
  let splitter = new LineSplitter();
  let joiner = new PartialJoiner();
  const buf = Buffer.alloc(64 * 1024);

  const readAvailable = async (): Promise<LogEntry[]> => {
    const out: LogEntry[] = [];
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
      if (bytesRead === 0) return out;
      offset += bytesRead;
      for (const line of splitter.feed(buf.subarray(0, bytesRead).toString('utf8'))) {
        const rec = parseCriLine(line);
        const entry = rec && joiner.push(rec);
        if (entry && keep(entry)) out.push(entry);
      }
    }
  };

  try {
    const initial = await readAvailable();
    yield* opts.tail !== undefined ? initial.slice(Math.max(0, initial.length - opts.tail)) : initial;
    if (!opts.follow) return;

    let wake: (() => void) | undefined;
    // Data may have arrived between the first read and the watch: read once more before sleeping.
    let dirty = true;
    const notify = (): void => {
      dirty = true;
      wake?.();
    };
    const watcher = watch(dirname(path), (_e, name) => {
      if (!name || name.toString() === basename(path)) notify();
    });
    opts.signal?.addEventListener('abort', notify, { once: true });
    try {
      while (!opts.signal?.aborted) {
        if (!dirty) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        dirty = false;
        yield* await readAvailable();
        // Rotated or truncated: finish the old file, then switch to the new one from its start.
        const current = await stat(path).catch(() => undefined);
        if (current && (current.ino !== inode || current.size < offset)) {
          await handle.close();
          handle = await open(path, 'r');
          inode = (await handle.stat()).ino;
          offset = 0;
          splitter = new LineSplitter();
          joiner = new PartialJoiner();
          dirty = true;
        }
      }
      // Ended by the caller: what was written before the abort is still read.
      yield* await readAvailable();
    } finally {
      watcher.close();
      opts.signal?.removeEventListener('abort', notify);
    }
  } finally {
    await handle.close();
  }
}
