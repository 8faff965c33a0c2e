/** `berth info`: the node, its versions, services and paths. */
import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { renderTable } from '../table.js';
import type { NodeInfo } from '../../api/types.js';

export const infoCommand: Command = {
  name: 'info',
  summary: 'Show the node id, versions, service health and paths',
  usage: 'berth info [--json]',
  async run(argv, ctx) {
    const { values } = parseCommandArgs('info', argv, {});
    const info = await ctx.client.get<NodeInfo>('/v1/info');
    if (values.json) {
      ctx.out(JSON.stringify(info, null, 2));
      return 0;
    }
    ctx.out(
      renderTable(
        ['NODE', 'BERTHD', 'PID', 'STARTED', 'TASK QUEUE'],
        [[info.nodeId, info.berthdVersion, info.pid, info.startedAt, info.taskQueue]],
      ),
    );
    ctx.out('');
    ctx.out(
      renderTable(
        ['SERVICE', 'VERSION', 'MODE', 'ADDRESS', 'HEALTH', 'DETAIL'],
        info.services.map((s) => [s.name, s.version, s.mode, s.address, s.health, s.detail]),
      ),
    );
    if (info.temporalUi) ctx.out(`temporal ui: ${info.temporalUi}`);
    if (info.metrics) ctx.out(`metrics: ${info.metrics}`);
    ctx.out('');
    ctx.out(
      renderTable(
        ['RUNTIME', 'VERSION', 'PATH'],
        info.runtimes.map((r) => [r.name, r.version, r.path]),
      ),
    );
    ctx.out('');
    if (info.events) {
      const relay = info.events.relay;
      ctx.out(
        renderTable(
          ['EVENT LOG SEQ', 'NATS STREAM', 'PUBLISHED', 'LAG', 'RELAY'],
          [
            [
              info.events.lastSeq,
              relay?.stream ?? '-',
              relay?.cursor ?? '-',
              relay?.lag ?? '-',
              relay
                ? relay.connected
                  ? 'connected'
                  : `waiting: ${relay.lastError ?? 'disconnected'}`
                : 'off',
            ],
          ],
        ),
      );
      const signing = info.events.signing;
      if (signing) {
        ctx.out(`signing key: ed25519 ${signing.publicKey} (id ${signing.keyId})`);
        ctx.out(
          `signed heads: newest seq ${signing.latestHead ?? 'none yet'}, published to ${signing.headsStream}` +
            (relay?.headsPublished !== undefined ? ` up to seq ${relay.headsPublished}` : ''),
        );
      }
      ctx.out('');
    }
    ctx.out(renderTable(['PATH', 'LOCATION'], Object.entries(info.paths)));
    return info.services.every((s) => s.health === 'healthy') ? 0 : 1;
  },
};
