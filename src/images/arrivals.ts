/**
 * Which layers of a pull are in the content store yet, as promises: the fetch step unpacks each
 * layer (in order) as soon as it and the ones below have landed, while later layers still download.
 */
import type { Digest } from '../content/digest.js';
import type { ContentStore } from '../content/store.js';

interface Waiter {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  settled: boolean;
}

export class LayerArrivals {
  private readonly waiters: Waiter[];

  constructor(
    private readonly store: Pick<ContentStore, 'has'>,
    private readonly digests: readonly string[],
  ) {
    this.waiters = digests.map(() => {
      const w = { settled: false } as Waiter;
      w.promise = new Promise<void>((resolve, reject) => {
        w.resolve = resolve;
        w.reject = reject;
      });
      // A failure nobody waits for yet must not crash the process as an unhandled rejection.
      w.promise.catch(() => undefined);
      return w;
    });
  }

  ready(i: number): Promise<void> {
    return this.waiters[i]?.promise ?? Promise.resolve();
  }

  /** Checks the store for `digest` (or every layer) and releases the waiters of those present. */
  async check(digest?: string): Promise<void> {
    for (const [i, d] of this.digests.entries()) {
      const w = this.waiters[i] as Waiter;
      if (w.settled || (digest !== undefined && d !== digest)) continue;
      if (await this.store.has(d as Digest)) {
        w.settled = true;
        w.resolve();
      }
    }
  }

  /** The fetch is over: layers present are released, the others fail with `err` (or a plain miss). */
  async finish(err?: unknown): Promise<void> {
    await this.check();
    for (const [i, w] of this.waiters.entries()) {
      if (w.settled) continue;
      w.settled = true;
      w.reject(err ?? new Error(`layer ${this.digests[i]} was not fetched`));
    }
  }
}
