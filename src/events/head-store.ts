/** Signed heads stored in the log's database, keyed `g:<seq>` (keys.ts), as their canonical JSON. */
import { SIGNED_HEAD_LOWER, SIGNED_HEAD_UPPER, signedHeadKey } from './keys.js';
import type { Db } from './storage.js';

export class SignedHeadStore {
  constructor(private readonly db: Db) {}

  /** Stores a signed head (synced: it may be published right after). */
  async put(seq: number, body: string): Promise<void> {
    await this.db.put(signedHeadKey(seq), body, { sync: true });
  }

  async get(seq: number): Promise<string | undefined> {
    return this.db.get(signedHeadKey(seq));
  }

  /** Signed heads in seq order from `from` (inclusive), or newest first with `reverse`. */
  async *list(opts: { from?: number; limit?: number; reverse?: boolean } = {}): AsyncGenerator<string> {
    for await (const [, body] of this.db.iterator({
      gte: opts.from === undefined ? SIGNED_HEAD_LOWER : signedHeadKey(opts.from),
      lt: SIGNED_HEAD_UPPER,
      ...(opts.limit === undefined ? {} : { limit: opts.limit }),
      ...(opts.reverse ? { reverse: true } : {}),
    }))
      yield body;
  }
}
