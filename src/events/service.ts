/**
 * EventsService: the one object berthd wires in. It opens the log, loads the projections
 * (newest valid checkpoint + tail) and, given a NATS URL, starts the relay. `close()` stops
 * the relay, writes a final checkpoint and closes the log, in that order.
 */
import { join } from 'node:path';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import { EventLog } from './log.js';
import type { AppendRequest, BerthEvent } from './model.js';
import { Projections } from './projections/projections.js';
import { NatsRelay } from './relay.js';

export interface EventsServiceOptions {
  /** The directory holding the level database (created if missing, refused if foreign or truncated). */
  dir: string;
  nodeId: string;
  /** Without one, no relay runs (events are still stored and served). */
  natsUrl?: string;
  logger?: Logger;
  /** Events between periodic checkpoints (default 10,000). */
  checkpointEvery?: number;
}

export class EventsService {
  private constructor(
    readonly nodeId: string,
    readonly log: EventLog,
    readonly projections: Projections,
    private relayInstance: NatsRelay | undefined,
    private readonly logger: Logger,
  ) {}

  get relay(): NatsRelay | undefined {
    return this.relayInstance;
  }

  /**
   * Starts publishing to NATS, for a caller that opens the log before NATS is up (berthd opens the
   * log first, so a bad log directory is refused before any service starts).
   */
  async startRelay(natsUrl: string): Promise<void> {
    if (this.relayInstance) return;
    const relay = new NatsRelay(this.log, { nodeId: this.nodeId, servers: natsUrl, logger: this.logger });
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
      const service = new EventsService(opts.nodeId, log, projections, undefined, logger);
      if (opts.natsUrl) await service.startRelay(opts.natsUrl);
      return service;
    } catch (err) {
      await log.close();
      throw err;
    }
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
    await this.relayInstance?.stop();
    await this.projections.close();
    await this.log.close();
  }
}
