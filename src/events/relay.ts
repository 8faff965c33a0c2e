/**
 * NatsRelay: publishes the log to NATS JetStream, in seq order, exactly once per event.
 *
 * Semantics: events go to `berth.events.<node>.<namespace>.<topic with / as .>` (dots in the
 * namespace become `_`, so `k8s.io` is one subject token) on the stream `BERTH_EVENTS_<node>`,
 * created if missing. Each message carries `Nats-Msg-Id: <node>:<seq>` (JetStream drops
 * duplicates) and the expected last stream sequence, so a message can never land out of
 * order: if one publish fails, every later one is rejected, and the relay resynchronises
 * from the stream's last message and publishes again from there. The cursor (last acked
 * seq) is stored in level after each ack. While NATS is down the relay retries in the
 * background; appends never wait for it. The level log stays the source of truth.
 * Given a HeadPublisher, the relay also publishes signed heads and the node key (head-relay.ts).
 */
import { connect, type JetStreamClient, type JetStreamManager, type NatsConnection, type PubAck } from 'nats';
import { InvalidArgumentError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import type { HeadPublisher } from './head-relay.js';
import type { EventLog } from './log.js';
import type { BerthEvent } from './model.js';

export interface RelayOptions {
  nodeId: string;
  /** NATS server URL(s), e.g. nats://127.0.0.1:4222. */
  servers: string | string[];
  /** JetStream replicas of the streams the relay creates (default 1). */
  replicas?: number;
  /** Messages in flight at once (default 256). */
  window?: number;
  /** Wait between attempts while NATS is unreachable (default 250 ms). */
  retryMs?: number;
  /** Publish acknowledgement timeout (default 5 s). */
  ackTimeoutMs?: number;
  logger?: Logger;
  /** Publishes signed heads and the node key beside the events. */
  heads?: HeadPublisher;
}

/** What the relay is doing, for `berth info` and tests. */
export interface RelayStatus {
  connected: boolean;
  cursor: number;
  lag: number;
  stream: string;
  lastError?: string;
  /** The newest signed head the heads stream holds (0: none yet). */
  headsPublished?: number;
}

const CURSOR = 'nats';

export function streamName(nodeId: string): string {
  return `BERTH_EVENTS_${nodeId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** The NATS subject of an event. */
export function subjectFor(nodeId: string, e: Pick<BerthEvent, 'namespace' | 'topic'>): string {
  return `berth.events.${nodeId}.${e.namespace.replace(/\./g, '_')}${e.topic.replace(/\//g, '.')}`;
}

export class NatsRelay {
  private nc: NatsConnection | undefined;
  private cursor = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private lastError: string | undefined;
  private readonly stream: string;
  private readonly logger: Logger;

  constructor(
    private readonly log: EventLog,
    private readonly opts: RelayOptions,
  ) {
    if (!/^[A-Za-z0-9_-]+$/.test(opts.nodeId)) {
      throw new InvalidArgumentError(
        `node id ${JSON.stringify(opts.nodeId)} cannot be a NATS subject token: use [A-Za-z0-9_-]`,
      );
    }
    this.stream = streamName(opts.nodeId);
    this.logger = (opts.logger ?? silentLogger).child({ subsystem: 'events.relay' });
  }

  /** Loads the cursor and starts publishing in the background. */
  async start(): Promise<void> {
    this.cursor = await this.log.getCursor(CURSOR);
    this.unsubscribe = this.log.onAppend(() => this.poke());
    this.loop = this.run();
  }

  status(): RelayStatus {
    return {
      connected: this.nc !== undefined && !this.nc.isClosed() && this.lastError === undefined,
      cursor: this.cursor,
      lag: this.log.lastSeq - this.cursor,
      stream: this.stream,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      ...(this.opts.heads ? { headsPublished: this.opts.heads.publishedSeq } : {}),
    };
  }

  /** Wakes the relay to publish a head just stored. */
  headStored(): void {
    this.poke();
  }

  /** Resolves once the heads stream holds a head at `seq` or later, or after `timeoutMs`. */
  async waitForHead(seq: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while ((this.opts.heads?.publishedSeq ?? seq) < seq && !this.stopped && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    return (this.opts.heads?.publishedSeq ?? seq) >= seq;
  }

  /** Resolves once every event up to `seq` is acknowledged by JetStream (for tests and shutdown). */
  async waitFor(seq: number, signal?: AbortSignal): Promise<void> {
    while (this.cursor < seq && !this.stopped && !signal?.aborted)
      await new Promise((r) => setTimeout(r, 20));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.poke();
    const nc = this.nc;
    await nc?.close().catch(() => undefined);
    await this.loop;
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    w?.();
  }

  private sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      if (ms !== undefined) this.sleepTimer = setTimeout(() => this.poke(), ms);
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const nc = await this.connection();
        const jsm = await nc.jetstreamManager({ timeout: this.opts.ackTimeoutMs ?? 5000 });
        let streamLast = await this.resync(jsm);
        this.lastError = undefined;
        const js = nc.jetstream({ timeout: this.opts.ackTimeoutMs ?? 5000 });
        const heads = this.opts.heads;
        await heads?.sync(jsm, js);
        while (!this.stopped) {
          if (heads?.hasPending(this.cursor)) await heads.publishPending(js, this.cursor);
          if (this.cursor < this.log.lastSeq) {
            streamLast = await this.publishWindow(js, streamLast);
            continue;
          }
          // Checked and slept on in one turn, so a poke in between cannot be lost.
          if (!heads?.hasPending(this.cursor)) await this.sleep(undefined);
        }
      } catch (err) {
        if (this.stopped) break;
        const why = errorMessage(err);
        if (why !== this.lastError)
          this.logger.warn(
            { err: why, cursor: this.cursor },
            'NATS relay waiting: events stay queued in the log',
          );
        this.lastError = why;
        await this.sleep(this.opts.retryMs ?? 250);
      }
    }
  }

  private async connection(): Promise<NatsConnection> {
    if (this.nc && !this.nc.isClosed()) return this.nc;
    const nc = await connect({
      servers: this.opts.servers,
      name: `berthd-relay-${this.opts.nodeId}`,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: this.opts.retryMs ?? 250,
    });
    // stop() may have run while connecting: never leave a connection behind it.
    if (this.stopped) {
      await nc.close();
      throw new Error('relay stopped');
    }
    this.nc = nc;
    return this.nc;
  }

  /**
   * Creates the stream if missing and aligns the cursor with what the stream holds: its last
   * message names the last seq published (messages land in order), whatever the stored cursor says.
   * Returns the stream's last sequence.
   */
  private async resync(jsm: JetStreamManager): Promise<number> {
    const subjects = [`berth.events.${this.opts.nodeId}.>`];
    const info = await jsm.streams.info(this.stream).catch(async (err: unknown) => {
      if (!/stream not found/i.test(errorMessage(err))) throw err;
      return jsm.streams.add({ name: this.stream, subjects, num_replicas: this.opts.replicas ?? 1 });
    });
    const last = info.state.last_seq;
    if (last === 0 || info.state.messages === 0) return last;
    const msg = await jsm.streams.getMessage(this.stream, { seq: last });
    const id = msg.header?.get('Nats-Msg-Id') ?? '';
    const prefix = `${this.opts.nodeId}:`;
    const seq = id.startsWith(prefix) ? Number(id.slice(prefix.length)) : NaN;
    if (Number.isSafeInteger(seq) && seq > this.log.lastSeq) {
      this.logger.warn(
        { streamSeq: seq, logSeq: this.log.lastSeq, stream: this.stream },
        'the stream holds events beyond this log (restored log or reused node id?)',
      );
    } else if (Number.isSafeInteger(seq) && seq !== this.cursor) {
      this.logger.info({ from: this.cursor, to: seq }, 'relay cursor realigned with the stream');
      this.cursor = seq;
      await this.log.putCursor(CURSOR, seq);
    }
    return last;
  }

  /** Publishes up to one window after the cursor; returns the stream's new last sequence. Throws after the first failure. */
  private async publishWindow(js: JetStreamClient, streamLast: number): Promise<number> {
    const batch: { event: BerthEvent; raw: string }[] = [];
    for await (const item of this.log.readStored({ from: this.cursor + 1, limit: this.opts.window ?? 256 }))
      batch.push(item);
    const acks: Promise<PubAck>[] = batch.map(({ event, raw }, i) =>
      js.publish(subjectFor(this.opts.nodeId, event), raw, {
        msgID: `${this.opts.nodeId}:${event.seq}`,
        expect: { lastSequence: streamLast + i },
      }),
    );
    const results = await Promise.allSettled(acks);
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      if (r.status === 'rejected') throw r.reason;
      streamLast = r.value.seq;
      this.cursor = batch[i]!.event.seq;
      await this.log.putCursor(CURSOR, this.cursor);
    }
    return streamLast;
  }
}
