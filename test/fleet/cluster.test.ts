/**
 * The fleet harness itself (test/helpers/fleet-cluster.ts): a three-server JetStream cluster keeps an
 * R3 stream writable through the loss of its leader and the server catches up when started again;
 * a fleet of three berthds on that cluster and one Temporal server comes up healthy, survives a
 * node's SIGKILL and restart, and leaves nothing behind.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { connect, StringCodec, type NatsConnection } from 'nats';
import type { NodeInfo } from '../../src/api/types.js';
import { streamName } from '../../src/events/relay.js';
import { isGone } from '../helpers/berthd.js';
import { startFleet, startNatsCluster } from '../helpers/fleet-cluster.js';

const sc = StringCodec();

/** Retries `fn` until it succeeds (a JetStream election takes a few seconds) or `ms` pass. */
async function eventually<T>(fn: () => Promise<T>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

describe('fleet harness', () => {
  it('a three-server NATS cluster keeps an R3 stream through its leader’s SIGKILL and restart', async () => {
    const cluster = await startNatsCluster({ size: 3 });
    const pids = cluster.servers.map((s) => s.pid());
    let nc: NatsConnection | undefined;
    try {
      expect(cluster.urls.split(',')).toEqual(cluster.servers.map((s) => s.url));
      nc = await connect({
        servers: cluster.urls.split(','),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 100,
      });
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: 'SMOKE', subjects: ['smoke.>'], num_replicas: 3 });
      const js = nc.jetstream();
      await js.publish('smoke.a', sc.encode('one'));

      // The stream's leader: losing it forces an election before the next write.
      const leader = (await jsm.streams.info('SMOKE')).cluster?.leader;
      const victim = cluster.servers.find((s) => s.name === leader)!;
      expect(victim).toBeDefined();
      const victimPid = victim.pid();
      await victim.kill('SIGKILL');
      expect(isGone(victimPid)).toBe(true);

      await eventually(() => js.publish('smoke.b', sc.encode('two')));
      const read = async (seq: number) => sc.decode((await jsm.streams.getMessage('SMOKE', { seq })).data);
      expect([await read(1), await read(2)]).toEqual(['one', 'two']);

      await victim.start();
      expect(victim.pid()).not.toBe(victimPid);
      // Every replica, the restarted one included, holds both messages.
      await eventually(async () => {
        const info = await jsm.streams.info('SMOKE');
        expect(info.state.messages).toBe(2);
        const replicas = info.cluster?.replicas ?? [];
        expect(replicas).toHaveLength(2);
        expect(replicas.every((r) => r.current && !r.offline)).toBe(true);
      });
    } finally {
      await nc?.close();
      await cluster.stop();
    }
    for (const pid of pids) expect(isGone(pid)).toBe(true);
  }, 120_000);

  it('starts three berthds on one Temporal server and the cluster, restarts a killed one, and cleans up', async () => {
    const fleet = await startFleet({ nodes: 3 });
    const pids: number[] = [];
    try {
      expect(new Set(fleet.nodes.map((n) => n.nodeId)).size).toBe(3);
      for (const node of fleet.nodes) {
        pids.push(node.current.proc.pid!);
        const info = await node.client.get<NodeInfo>('/v1/info');
        expect(info.nodeId).toBe(node.nodeId);
        expect(info.paths.criSocket).toBe(node.criSocket);
        expect(info.services.map((s) => [s.name, s.mode, s.health])).toEqual(
          info.services.map((s) => [s.name, 'external', 'healthy']),
        );
        expect(info.services.find((s) => s.name === 'temporal')?.address).toBe(fleet.temporal.address);
      }

      // Each node's relay creates its stream on the cluster, with the fleet's replicas.
      const nc = await connect({ servers: fleet.nats.urls.split(',') });
      try {
        const jsm = await nc.jetstreamManager();
        for (const node of fleet.nodes)
          await eventually(async () =>
            expect((await jsm.streams.info(streamName(node.nodeId))).config.num_replicas).toBe(3),
          );
      } finally {
        await nc.close();
      }

      const second = fleet.nodes[1]!;
      const killedPid = second.current.proc.pid!;
      await second.kill();
      expect(isGone(killedPid)).toBe(true);
      await second.restart();
      pids.push(second.current.proc.pid!);
      expect((await second.client.get<NodeInfo>('/v1/info')).nodeId).toBe(second.nodeId);
    } finally {
      await fleet.stop();
    }
    for (const pid of pids) expect(isGone(pid)).toBe(true);
    for (const s of fleet.nats.servers) expect(() => s.pid()).toThrow(/not running/);
    expect(existsSync(fleet.dir)).toBe(false);
  }, 300_000);
});
