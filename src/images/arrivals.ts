/**
 * The fetch step's feed of layer bytes to its unpack. Layers are applied in order, each as soon as
 * the ones below are committed. The layer next in that order is streamed into the unpacker as it
 * downloads when its download starts from byte 0 (it is then not read back from the store); the
 * others, fetched meanwhile in parallel, are applied from the content store once they land.
 */
import { PassThrough, type Readable, type Writable } from 'node:stream';
import type { Digest } from '../content/digest.js';
import type { ContentStore } from '../content/store.js';
import type { LayerBytes, LayerFeed } from './unpack-image.js';

/** How far a download may run ahead of the streaming unpack it feeds, in memory. */
const STREAM_AHEAD_BYTES = 1024 * 1024;

interface Waiter {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  settled: boolean;
}

export class LayerArrivals implements LayerFeed {
  private readonly waiters: Waiter[];
  /** The layer the unpack applies next. */
  private next = 0;
  /**
   * False while the unpack waits for another pull's lock on the next layer: that pull may be
   * waiting for this very download, which a stream nobody reads would hold up.
   */
  private nextTakesStream = true;
  /** A live stream of layer `next` offered before the unpack asked for its bytes. */
  private parked: PassThrough | undefined;
  /** The unpack waiting for layer `next`'s bytes. */
  private asking: ((bytes: LayerBytes) => void) | undefined;

  constructor(
    private readonly store: Pick<ContentStore, 'has' | 'readStream'>,
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

  /**
   * A download of `digest` starts from byte 0: a stream for it when it is the layer the unpack
   * applies next (the registry client feeds it and ends it once the blob committed), else undefined.
   */
  offerStream(digest: string): Writable | undefined {
    const i = this.next;
    const w = this.waiters[i];
    if (!this.nextTakesStream || this.parked || !w || w.settled || this.digests[i] !== digest)
      return undefined;
    const stream = new PassThrough({ highWaterMark: STREAM_AHEAD_BYTES });
    const take = this.asking;
    this.asking = undefined;
    if (take) take({ stream, live: true });
    else this.parked = stream;
    return stream;
  }

  approach(i: number, contended: boolean): void {
    if (i !== this.next) this.dropParked();
    this.next = i;
    this.nextTakesStream = !contended;
    if (contended) this.dropParked();
  }

  open(i: number): Promise<LayerBytes> {
    const parked = this.parked;
    if (i === this.next && parked) {
      this.parked = undefined;
      return Promise.resolve({ stream: parked, live: true });
    }
    return new Promise<LayerBytes>((resolve, reject) => {
      let answered = false;
      const answer = (bytes: LayerBytes): void => {
        answered = true;
        resolve(bytes);
      };
      if (i === this.next) this.asking = answer;
      const stopAsking = (): void => {
        if (this.asking === answer) this.asking = undefined;
      };
      this.ready(i)
        .then(
          async () => {
            stopAsking();
            if (answered) return;
            answered = true;
            const stream: Readable = await this.store.readStream(this.digests[i] as Digest);
            resolve({ stream, live: false });
          },
          (err: unknown) => {
            stopAsking();
            if (!answered) reject(err);
          },
        )
        .catch(reject);
    });
  }

  passed(i: number): void {
    if (i === this.next) this.dropParked();
    this.next = i + 1;
    this.nextTakesStream = true;
  }

  /** A stream offered but not taken is dropped; its download carries on into the store alone. */
  private dropParked(): void {
    this.parked?.destroy(new Error('the unpack did not take the layer as it downloads'));
    this.parked = undefined;
  }
}
