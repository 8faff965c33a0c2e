/**
 * berthd's claim on its node id in the fleet registry (src/fleet/registry.ts), on a NATS
 * connection of its own that outlives outages: the claim is made before anything is written
 * when NATS is external, beats while berthd runs, and is marked stopped on a clean stop.
 */
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import { natsServerList } from '../common/nats-servers.js';
import type { Logger } from '../common/logger.js';
import { streamName } from '../events/relay.js';
import { NodeClaim } from '../fleet/registry.js';
import type { DaemonConfig } from './config.js';
import { taskQueueFor } from './temporal.js';

export class NodeIdClaim {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly claim: NodeClaim,
  ) {}

  /** Throws AlreadyExistsError naming the holder when another berthd holds the id. */
  static async take(
    config: DaemonConfig,
    natsUrl: string,
    version: string,
    positions: () => { logSeq: number; relayedSeq: number },
    log: Logger,
  ): Promise<NodeIdClaim> {
    const nc = await connect({
      servers: natsServerList(natsUrl),
      name: `berthd ${config.nodeId} registry`,
      reconnect: true,
      maxReconnectAttempts: -1,
    });
    try {
      const claim = await NodeClaim.claim(nc, {
        nodeId: config.nodeId,
        root: config.root,
        instance: randomUUID(),
        version,
        taskQueue: taskQueueFor(config.nodeId),
        eventsStream: streamName(config.nodeId),
        replicas: config.natsReplicas,
        positions,
        onBeatError: (err) => log.debug({ err }, 'node registry heartbeat failed; next one retries'),
      });
      claim.startBeating();
      return new NodeIdClaim(nc, claim);
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  /** Marks the node stopped (best effort) and closes the connection. */
  async release(log: Logger): Promise<void> {
    await this.claim.release().catch((err: unknown) => log.warn({ err }, 'marking the node stopped failed'));
    await this.nc.close().catch(() => undefined);
  }
}
