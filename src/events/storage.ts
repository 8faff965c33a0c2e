/**
 * Opening the level directory safely: a missing or empty directory is initialised atomically
 * (built beside it, then renamed), anything else must prove it is a Berth event log whose
 * head matches its last event. A truncated, foreign or locked directory is refused with an
 * error naming the problem: the log is never silently reinitialised.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { Level } from 'level';
import { FailedPreconditionError, errorMessage } from '../common/errors.js';
import { GENESIS_HASH } from './model.js';
import {
  EVENT_LOWER,
  EVENT_UPPER,
  FORMAT_KEY,
  FORMAT_NAME,
  FORMAT_VERSION,
  HEAD_KEY,
  parseSeqHex,
  eventKey,
} from './keys.js';

export type Db = Level<string, string>;

/** The chain head: the last event's seq and hash (0 and the genesis hash when empty). */
export interface Head {
  seq: number;
  hash: string;
}

export async function openStorage(dir: string): Promise<{ db: Db; head: Head }> {
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (entries === undefined || entries.length === 0) await initialise(dir);
  else if (!entries.includes('CURRENT')) {
    throw new FailedPreconditionError(
      `event log ${dir} is not a level database (no CURRENT file; found ${entries.slice(0, 5).join(', ')}): ` +
        'it is truncated or belongs to something else; refusing to reinitialise it',
    );
  }
  const db: Db = new Level<string, string>(dir, {
    keyEncoding: 'utf8',
    valueEncoding: 'utf8',
    createIfMissing: false,
  });
  try {
    await db.open();
  } catch (err) {
    const why = errorMessage((err as { cause?: unknown }).cause ?? err);
    if (/lock/i.test(why))
      throw new FailedPreconditionError(`event log ${dir} is in use by another process (${why})`);
    throw new FailedPreconditionError(
      `event log ${dir} cannot be opened, it is damaged or truncated: ${why}`,
    );
  }
  try {
    return { db, head: await checkIdentity(db, dir) };
  } catch (err) {
    await db.close();
    throw err;
  }
}

async function checkIdentity(db: Db, dir: string): Promise<Head> {
  const marker = await db.get(FORMAT_KEY);
  if (marker === undefined) {
    const anyKey = await db.keys({ limit: 1 }).all();
    throw new FailedPreconditionError(
      anyKey.length > 0
        ? `event log ${dir} is a foreign level database: it has no Berth format marker (first key ${JSON.stringify(anyKey[0])})`
        : `event log ${dir} is an empty level database without a Berth format marker (truncated initialisation?)`,
    );
  }
  let format: { format?: unknown; version?: unknown };
  try {
    format = JSON.parse(marker) as typeof format;
  } catch {
    throw new FailedPreconditionError(
      `event log ${dir} has an unreadable format marker: ${marker.slice(0, 80)}`,
    );
  }
  if (format.format !== FORMAT_NAME) {
    throw new FailedPreconditionError(
      `event log ${dir} is a foreign level database: format ${JSON.stringify(format.format)}, expected ${FORMAT_NAME}`,
    );
  }
  if (format.version !== FORMAT_VERSION) {
    throw new FailedPreconditionError(
      `event log ${dir} has format version ${String(format.version)}; this berthd reads version ${FORMAT_VERSION}`,
    );
  }
  const headText = await db.get(HEAD_KEY);
  if (headText === undefined)
    throw new FailedPreconditionError(`event log ${dir} is truncated: its head record is missing`);
  const head = JSON.parse(headText) as Head;
  // A crash cannot lose the head's event (both are in one batch), so its absence means lost files.
  if (head.seq > 0 && (await db.get(eventKey(head.seq))) === undefined) {
    const last = await db.keys({ gte: EVENT_LOWER, lt: EVENT_UPPER, reverse: true, limit: 1 }).all();
    const lastSeq = last[0] === undefined ? undefined : parseSeqHex(last[0].slice(2));
    throw new FailedPreconditionError(
      `event log ${dir} is truncated or damaged: its head says seq ${head.seq} but event ${head.seq} is missing ` +
        (last[0] === undefined
          ? '(no events at all)'
          : lastSeq === undefined
            ? `(last key ${JSON.stringify(last[0])})`
            : `(the last stored event is seq ${lastSeq})`),
    );
  }
  return head;
}

/** Builds a fresh log beside `dir` and renames it into place, so a crash never leaves a half-made log. */
async function initialise(dir: string): Promise<void> {
  await mkdir(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.init-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  const db: Db = new Level<string, string>(tmp, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  await db.open();
  await db.batch(
    [
      {
        type: 'put',
        key: FORMAT_KEY,
        value: JSON.stringify({ format: FORMAT_NAME, version: FORMAT_VERSION }),
      },
      { type: 'put', key: HEAD_KEY, value: JSON.stringify({ seq: 0, hash: GENESIS_HASH } satisfies Head) },
    ],
    { sync: true },
  );
  await db.close();
  // rename(2) replaces an empty directory atomically.
  await rename(tmp, dir);
}
