/**
 * A second reader of a blob as it downloads (a streaming unpack). It receives exactly the bytes
 * the content store's writer receives, in order, so once the store commits the blob by digest the
 * bytes it was given are proven too. The download waits for it (no unbounded buffering); when it
 * cannot continue (a transfer restarted from another offset) or gives up itself, it is dropped
 * and the download carries on into the store alone.
 */
import type { Writable } from 'node:stream';

/** Why a live reader of a blob was dropped before the blob was complete. */
export class BlobStreamAbandonedError extends Error {}

export class BlobTee {
  private sink: Writable | undefined;
  private asked = false;
  private fed = 0;

  /**
   * `open` is asked once, when the first transfer of the blob starts at byte 0. `signal` (the
   * download's) stops a wait for the reader, so a stuck reader cannot hold up a cancelled download.
   */
  constructor(
    private readonly open: (() => Writable | undefined) | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** A request for the blob's bytes from `offset` on is about to start. */
  startAt(offset: number): void {
    if (!this.asked) {
      this.asked = true;
      // A transfer resuming a partial ingest cannot feed a reader that needs the blob from its start.
      const sink = offset === 0 ? this.open?.() : undefined;
      if (sink) {
        // The reader reports its own failures; here a failed reader only stops being fed.
        sink.on('error', () => undefined);
        this.sink = sink;
      }
      return;
    }
    if (this.live && offset !== this.fed)
      this.abandon(
        new BlobStreamAbandonedError(
          `the transfer restarted at byte ${offset} after ${this.fed} were streamed`,
        ),
      );
  }

  /** Hands on bytes the store's writer just took; resolves when the reader has room for more. */
  async push(chunk: Buffer): Promise<void> {
    const sink = this.sink;
    if (!sink || !this.live) return;
    this.fed += chunk.length;
    if (sink.write(chunk)) return;
    const signal = this.signal;
    if (signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const go = (): void => {
        sink.off('drain', go);
        sink.off('close', go);
        signal?.removeEventListener('abort', go);
        resolve();
      };
      sink.on('drain', go);
      sink.on('close', go);
      signal?.addEventListener('abort', go);
    });
  }

  /** The blob committed by digest: the reader has had all of it. */
  end(): void {
    if (this.live) this.sink?.end();
  }

  /** The blob failed or the bytes cannot continue: the reader gets `reason`. */
  abandon(reason: unknown): void {
    if (this.live) this.sink?.destroy(reason instanceof Error ? reason : new Error(String(reason)));
  }

  private get live(): boolean {
    return this.sink !== undefined && !this.sink.destroyed && !this.sink.writableEnded;
  }
}
