/**
 * ImageFsInfo's answer kept in memory, as containerd's CRI keeps its snapshot usage: kubelet asks
 * every few seconds, and walking the content store and the snapshots on each call cost 32–42 ms a
 * call against containerd's 25–31 (bench/memory/pss.ts). The answer is recomputed before it is
 * returned when a content or snapshot event has been applied since it was computed (a pull or a
 * new container shows at once), and behind the call once it is older than `maxAgeMs` (a writable
 * layer grows without events; containerd refreshes every 10 s too).
 */
import type { BerthEvent } from '../events/model.js';

/** Topics that change what ImageFsInfo counts. */
export function changesImageFs(event: Pick<BerthEvent, 'topic'>): boolean {
  return event.topic.startsWith('/content/') || event.topic.startsWith('/snapshot/');
}

export class CachedUsage<T> {
  /** Bumped by every relevant event; an answer computed at an older generation is not returned. */
  private generation = 0;
  private last: { value: T; at: number; generation: number } | undefined;
  private computing: Promise<void> | undefined;

  constructor(
    private readonly compute: () => Promise<T>,
    private readonly maxAgeMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** What the next answer must include has changed. */
  changed(): void {
    this.generation++;
  }

  async get(): Promise<T> {
    // Events can keep arriving during a computation; after a few rounds the newest answer serves.
    for (let round = 0; round < 3 && (!this.last || this.last.generation !== this.generation); round++)
      await this.recompute();
    if (!this.last) throw new Error('usage was never computed');
    if (this.now() - this.last.at > this.maxAgeMs && !this.computing) this.recompute().catch(() => undefined);
    return this.last.value;
  }

  /** Waits for a computation in flight (a clean stop; tests). */
  async settled(): Promise<void> {
    await this.computing?.catch(() => undefined);
  }

  private recompute(): Promise<void> {
    this.computing ??= (async () => {
      const generation = this.generation;
      const value = await this.compute();
      this.last = { value, at: this.now(), generation };
    })().finally(() => (this.computing = undefined));
    return this.computing;
  }
}
