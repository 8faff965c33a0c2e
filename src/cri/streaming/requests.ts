/**
 * One-time streaming requests, as kubelet's streaming server keeps them: Exec, Attach and
 * PortForward store the request under a random token and return a URL naming it; the first
 * connection with the token takes the request (single use), and an unused token expires.
 * The number waiting is bounded so a client that never connects cannot grow it without limit.
 * A request keeps the caller of the RPC that made it (the Exec from kubelet), so the session it
 * becomes records that caller, not the streaming connection (loopback TCP, no peer credentials).
 */
import { randomBytes } from 'node:crypto';
import { currentCaller, type Caller } from '../../common/caller.js';
import { UnavailableError } from '../../common/errors.js';

export type StreamingRequest =
  | {
      kind: 'exec';
      containerId: string;
      cmd: string[];
      tty: boolean;
      stdin: boolean;
      stdout: boolean;
      stderr: boolean;
    }
  | { kind: 'attach'; containerId: string; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }
  | { kind: 'portforward'; podSandboxId: string; ports: number[] };

export interface RequestCacheOptions {
  /** How long a token stays valid; kubelet's default is one minute. */
  ttlMs?: number;
  /** At most this many unused tokens; kubelet's default is 1000. */
  maxWaiting?: number;
  now?: () => number;
}

export const DEFAULT_TOKEN_TTL_MS = 60_000;
const DEFAULT_MAX_WAITING = 1000;

export class RequestCache {
  private readonly entries = new Map<
    string,
    { request: StreamingRequest; caller: Caller | undefined; expiresAt: number }
  >();
  private readonly ttlMs: number;
  private readonly maxWaiting: number;
  private readonly now: () => number;

  constructor(options: RequestCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    this.maxWaiting = options.maxWaiting ?? DEFAULT_MAX_WAITING;
    this.now = options.now ?? Date.now;
  }

  /** Stores the request and returns its token (URL-safe). */
  insert(request: StreamingRequest): string {
    this.prune();
    if (this.entries.size >= this.maxWaiting)
      throw new UnavailableError(
        `too many streaming sessions (${this.maxWaiting}) are waiting for their client to connect; retry later`,
      );
    const token = randomBytes(16).toString('base64url');
    this.entries.set(token, { request, caller: currentCaller(), expiresAt: this.now() + this.ttlMs });
    return token;
  }

  /** Takes the request out; undefined when the token is unknown, used already or expired. */
  consume(token: string): StreamingRequest | undefined {
    return this.take(token)?.request;
  }

  /** Takes the request and the caller of the RPC that made it out, as `consume`. */
  take(token: string): { request: StreamingRequest; caller: Caller | undefined } | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    this.entries.delete(token);
    return entry.expiresAt > this.now() ? entry : undefined;
  }

  get size(): number {
    this.prune();
    return this.entries.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [token, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(token);
  }
}
