/**
 * Folds a pull's per-blob progress into whole-pull messages (bytes done of total per layer and
 * overall, a rate over the last few seconds) and publishes them at most a few times a second.
 */
import type { LayerProgress, PullProgress } from './progress.js';

const PUBLISH_EVERY_MS = 250;
const RATE_WINDOW_MS = 3_000;

export class PullTracker {
  private readonly layers = new Map<string, LayerProgress>();
  private phase: PullProgress['phase'] = 'resolve';
  private samples: { at: number; bytes: number }[] = [];
  private lastPublish = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ref: string,
    private readonly publish: (msg: PullProgress) => void,
    blobs: { digest: string; size: number; kind: LayerProgress['kind'] }[] = [],
  ) {
    for (const b of blobs)
      this.layers.set(b.digest, {
        digest: b.digest,
        kind: b.kind,
        done: 0,
        total: b.size,
        status: 'waiting',
      });
  }

  setPhase(phase: PullProgress['phase']): void {
    this.phase = phase;
    this.flush();
  }

  update(digest: string, patch: Partial<Omit<LayerProgress, 'digest'>>): void {
    const prior = this.layers.get(digest) ?? { digest, kind: 'layer', done: 0, total: 0, status: 'waiting' };
    this.layers.set(digest, { ...prior, ...patch });
    this.schedule();
  }

  /** Bytes fetched so far over every blob (cheap: no rate sample, unlike snapshot()). */
  bytesDone(): number {
    let n = 0;
    for (const l of this.layers.values()) n += l.done;
    return n;
  }

  snapshot(): PullProgress {
    const layers = [...this.layers.values()];
    const bytesDone = this.bytesDone();
    const bytesTotal = layers.reduce((n, l) => n + l.total, 0);
    const now = Date.now();
    this.samples.push({ at: now, bytes: bytesDone });
    this.samples = this.samples.filter((s) => now - s.at <= RATE_WINDOW_MS);
    const first = this.samples[0];
    const rate =
      first && now > first.at
        ? Math.max(0, Math.round(((bytesDone - first.bytes) * 1000) / (now - first.at)))
        : 0;
    return { type: 'progress', ref: this.ref, phase: this.phase, layers, bytesDone, bytesTotal, rate };
  }

  /** Publishes now (phase changes, the end of a step). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.lastPublish = Date.now();
    this.publish(this.snapshot());
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastPublish + PUBLISH_EVERY_MS - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
