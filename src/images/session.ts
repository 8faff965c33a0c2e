/**
 * Per-node, in-memory state shared by the image activities and ImageService (both run inside
 * berthd's one process): credentials of pulls in flight (kept out of workflow histories, which
 * are durable and readable by anyone with Temporal access), digests that running pulls hold
 * but no image references yet (GC must spare them), and one lock per chain id so two pulls
 * never unpack the same layer at once. Keyed by the NodeServices object, so every daemon (and
 * every test daemon in one process) has its own.
 */
import type { NodeServices } from '../daemon/node-services.js';

export interface PullCredentials {
  username?: string;
  password?: string;
  identityToken?: string;
  registryToken?: string;
}

export class ImageSession {
  /** Credentials by pull workflow id; lost on restart (a resumed pull falls back to the registry config). */
  readonly credentials = new Map<string, PullCredentials>();
  /** Digests held by running activities, with a count (several pulls may hold one blob). */
  private readonly held = new Map<string, number>();
  private readonly locks = new Map<string, Promise<void>>();

  hold(digests: Iterable<string>): () => void {
    const list = [...digests];
    for (const d of list) this.held.set(d, (this.held.get(d) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const d of list) {
        const n = (this.held.get(d) ?? 1) - 1;
        if (n <= 0) this.held.delete(d);
        else this.held.set(d, n);
      }
    };
  }

  heldDigests(): string[] {
    return [...this.held.keys()];
  }

  private readonly byWorkflow = new Map<string, () => void>();

  /** Holds `digests` for a pull until `releaseFor(workflowId)` (its record step or its failure). */
  holdFor(workflowId: string, digests: Iterable<string>): void {
    const prior = this.byWorkflow.get(workflowId);
    this.byWorkflow.set(workflowId, this.hold(digests));
    prior?.();
  }

  releaseFor(workflowId: string): void {
    this.byWorkflow.get(workflowId)?.();
    this.byWorkflow.delete(workflowId);
  }

  /** True while someone holds or waits for the lock named `key`. */
  isLocked(key: string): boolean {
    return this.locks.has(key);
  }

  /** Runs `fn` while holding the lock named `key` (FIFO per key). */
  async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prior = this.locks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chained = prior.then(() => mine);
    this.locks.set(key, chained);
    await prior;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(key) === chained) this.locks.delete(key);
    }
  }
}

const sessions = new WeakMap<object, ImageSession>();

export function imageSession(node: Pick<NodeServices, 'content'>): ImageSession {
  // Keyed by the content store: one per node, reachable from both the activities and the service.
  let s = sessions.get(node.content);
  if (!s) {
    s = new ImageSession();
    sessions.set(node.content, s);
  }
  return s;
}
