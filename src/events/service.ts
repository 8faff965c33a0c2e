/**
 * EventsService: the one object berthd wires in. It opens the log, loads the projections
 * (newest valid checkpoint + tail), starts the head signer (node key under `<keys dir>`) and,
 * given a NATS URL, starts the relay, which publishes the events and the signed heads.
 * `close()` signs a final head, gives the relay a moment to publish it, stops the relay, writes a
 * final checkpoint and closes the log, in that order.
 */
import { dirname, join } from 'node:path';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import { natsServerList } from '../common/nats-servers.js';
import { EventLog } from './log.js';
import type { AppendRequest, BerthEvent } from './model.js';
import { HeadPublisher, headsStreamName } from './head-relay.js';
import { HeadSigner, loadOrCreateNodeKey } from './head-signer.js';
import { Projections } from './projections/projections.js';
import { NatsRelay } from './relay.js';

/** How long close() waits for the relay to publish the final head. */
const FINAL_HEAD_PUBLISH_MS = 3_000;

export interface EventsServiceOptions {
  /** The directory holding the level database (created if missing, refused if foreign or truncated). */
  dir: string;
  nodeId: string;
  /** Without one, no relay runs (events are still stored and served). */
  natsUrl?: string;
  logger?: Logger;
  /** Events between periodic checkpoints (default 10,000). */
  checkpointEvery?: number;
  /** Where the node key lives (default `<parent of dir>/keys`, i.e. `<root>/keys` in berthd). */
  keysDir?: string;
  /** Events between signed heads (default 1000). */
  headEvery?: number;
  /** Longest wait between an append and a signed head covering it, ms (default 10 s). */
  headIntervalMs?: number;
}

export class EventsService {
  private constructor(
    readonly nodeId: string,
    readonly log: EventLog,
    readonly projections: Projections,
    private relayInstance: NatsRelay | undefined,
    private readonly logger: Logger,
    readonly signer: HeadSigner,
  ) {
    signer.onHead((head) => {
      this.headPublisher?.noteHead(head);
      this.relayInstance?.headStored();
    });
  }

  private headPublisher: HeadPublisher | undefined;

  get relay(): NatsRelay | undefined {
    return this.relayInstance;
  }

  /**
   * Starts publishing to NATS, for a caller that opens the log before NATS is up (berthd opens the
   * log first, so a bad log directory is refused before any service starts).
   */
  async startRelay(natsUrl: string, replicas = 1): Promise<void> {
    if (this.relayInstance) return;
    this.headPublisher = new HeadPublisher(
      this.log,
      this.nodeId,
      this.signer.publicKey,
      this.logger,
      this.signer.latest,
      replicas,
    );
    const relay = new NatsRelay(this.log, {
      nodeId: this.nodeId,
      servers: natsServerList(natsUrl),
      replicas,
      logger: this.logger,
      heads: this.headPublisher,
    });
    await relay.start();
    this.relayInstance = relay;
  }

  static async open(opts: EventsServiceOptions): Promise<EventsService> {
    const logger = opts.logger ?? silentLogger;
    const log = await EventLog.open(opts.dir, logger);
    try {
      const projections = await Projections.open(log, {
        logger,
        ...(opts.checkpointEvery === undefined ? {} : { checkpointEvery: opts.checkpointEvery }),
      });
      const loaded = projections.loaded;
      logger.info(
        { seq: log.lastSeq, checkpoint: loaded.checkpointSeq, tail: loaded.tailEvents },
        'event log open',
      );
      const key = await loadOrCreateNodeKey(opts.keysDir ?? join(dirname(opts.dir), 'keys'));
      const signer = await HeadSigner.start(log, {
        nodeId: opts.nodeId,
        key,
        logger,
        ...(opts.headEvery === undefined ? {} : { every: opts.headEvery }),
        ...(opts.headIntervalMs === undefined ? {} : { intervalMs: opts.headIntervalMs }),
      });
      const service = new EventsService(opts.nodeId, log, projections, undefined, logger, signer);
      if (opts.natsUrl) await service.startRelay(opts.natsUrl);
      return service;
    } catch (err) {
      await log.close();
      throw err;
    }
  }

  /** The node key and the newest signed head, for `berth info`. */
  signingInfo(): { keyId: string; publicKey: string; pem: string; headsStream: string; latestHead?: number } {
    const { keyId, publicKey, pem } = this.signer.publicKey;
    const latest = this.signer.latest?.seq;
    return {
      keyId,
      publicKey,
      pem,
      headsStream: headsStreamName(this.nodeId),
      ...(latest ? { latestHead: latest } : {}),
    };
  }

  /** The default location under a daemon root. */
  static dirUnder(root: string): string {
    return join(root, 'events');
  }

  /** Told how long each append took to be durable (berthd's metrics). */
  onAppendDuration: ((seconds: number) => void) | undefined;

  /** Appends durably (see EventLog.append); the projections include the event when this resolves. */
  append(req: AppendRequest): Promise<BerthEvent> {
    const observe = this.onAppendDuration;
    if (!observe) return this.log.append(req);
    const t0 = performance.now();
    return this.log.append(req).finally(() => observe((performance.now() - t0) / 1000));
  }

  async close(): Promise<void> {
    await this.signer.stop();
    const final = this.signer.latest;
    const relay = this.relayInstance;
    if (relay?.status().connected && final && !(await relay.waitForHead(final.seq, FINAL_HEAD_PUBLISH_MS)))
      this.logger.warn(
        { seq: final.seq },
        'the final signed head was not published before stop: the next start publishes it',
      );
    await this.relayInstance?.stop();
    await this.projections.close();
    await this.log.close();
  }
}
