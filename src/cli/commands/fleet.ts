/**
 * `berth fleet nodes|events|ps|audit`: the whole fleet as NATS holds it (src/fleet, docs/fleet.md).
 * The CLI reads NATS itself; berthd is asked only for the NATS address when none is given, so the
 * tools work from any machine that can reach the cluster.
 */
import type { NatsConnection } from 'nats';
import { BerthdUnreachableError } from '../../api/client.js';
import type { NodeInfo } from '../../api/types.js';
import { FailedPreconditionError, InvalidArgumentError } from '../../common/errors.js';
import { eventLine, formatCause } from '../../events/render.js';
import { fleetAudit } from '../../fleet/audit.js';
import {
  fleetEvents,
  parseFleetTime,
  parseFleetTopics,
  type FleetEvent,
  type FleetEventFilter,
} from '../../fleet/events.js';
import { nodeStatuses, type NodeStatus } from '../../fleet/nodes.js';
import { fleetPs } from '../../fleet/ps.js';
import { connectFleet, fleetNodes, selectNodes, splitList, type FleetNode } from '../../fleet/streams.js';
import { runningPerNode } from '../../fleet/temporal.js';
import type { Command, CommandContext } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { renderTable } from '../table.js';

const COMMON = {
  'nats-url': { type: 'string' },
  node: { type: 'string', multiple: true },
} as const;

const COMMON_USAGE = '[--nats-url URL[,URL...]] [--node ID[,ID...]]... [--json]';

/** --nats-url, else $BERTH_NATS_URL, else the NATS the local berthd uses (its /v1/info). */
async function natsServers(flag: string | undefined, ctx: CommandContext): Promise<string[]> {
  const given = flag ?? process.env.BERTH_NATS_URL;
  if (given !== undefined) {
    const servers = splitList(given);
    if (servers.length === 0) throw new InvalidArgumentError('berth fleet: --nats-url names no server');
    return servers;
  }
  let info: NodeInfo;
  try {
    info = await ctx.client.get<NodeInfo>('/v1/info');
  } catch (err) {
    if (err instanceof BerthdUnreachableError)
      throw new BerthdUnreachableError(
        `${err.message}; the fleet tools only need NATS: pass --nats-url URL or set BERTH_NATS_URL`,
      );
    throw err;
  }
  const address = info.services.find((s) => s.name === 'nats')?.address;
  if (!address)
    throw new FailedPreconditionError(
      'berthd reports no NATS address: pass --nats-url or set BERTH_NATS_URL',
    );
  return [address];
}

/** Connects, reads the fleet, selects --node, runs `fn`, closes. */
async function withFleet<T>(
  values: { 'nats-url'?: string | undefined; node?: string[] | undefined },
  ctx: CommandContext,
  fn: (nc: NatsConnection, nodes: FleetNode[], all: FleetNode[]) => Promise<T>,
  follow = false,
): Promise<T> {
  const nc = await connectFleet(await natsServers(values['nats-url'], ctx), follow);
  try {
    const all = await fleetNodes(nc);
    return await fn(nc, selectNodes(all, values.node), all);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

function age(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

const warn = (text: string) => process.stderr.write(`berth fleet: ${text}\n`);

async function nodes(argv: string[], ctx: CommandContext): Promise<number> {
  const { values } = parseCommandArgs('fleet nodes', argv, {
    ...COMMON,
    'temporal-address': { type: 'string' },
    'temporal-namespace': { type: 'string', default: 'default' },
  });
  const statuses = await withFleet(values, ctx, (nc, selected) => nodeStatuses(nc, selected));
  const temporal = values['temporal-address'];
  if (temporal) {
    const counts = await runningPerNode(
      temporal,
      values['temporal-namespace'],
      statuses.map((s) => s.node),
    );
    for (const s of statuses) Object.assign(s, counts.get(s.node));
  }
  if (values.json) {
    ctx.out(JSON.stringify(statuses, null, 2));
    return 0;
  }
  const now = Date.now();
  const row = (s: NodeStatus) => [
    s.node,
    s.health,
    s.lastEvent?.seq ?? (s.lastEventProblem ? '?' : '-'),
    s.lastEvent ? `${age(s.lastEvent.time, now)} ago` : '',
    s.lastEvent?.topic,
    s.relayLag,
    s.seenAt ? `${age(s.seenAt, now)} ago` : '',
    s.host,
    ...(temporal ? [s.running ?? `error: ${s.runningError ?? '?'}`] : []),
  ];
  const headers = ['NODE', 'HEALTH', 'LAST SEQ', 'LAST EVENT', 'TOPIC', 'RELAY LAG', 'SEEN', 'HOST'];
  ctx.out(renderTable(temporal ? [...headers, 'RUNNING'] : headers, statuses.map(row)));
  for (const s of statuses) if (s.lastEventProblem) warn(`node ${s.node}: ${s.lastEventProblem}`);
  return 0;
}

function positiveInt(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw new InvalidArgumentError(
      `berth fleet events: ${flag} ${JSON.stringify(text)} is not a positive integer`,
    );
  return Number(text);
}

async function events(argv: string[], ctx: CommandContext): Promise<number> {
  const { values } = parseCommandArgs('fleet events', argv, {
    ...COMMON,
    topic: { type: 'string', multiple: true },
    namespace: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    follow: { type: 'boolean', short: 'f', default: false },
    limit: { type: 'string' },
  });
  const limit = positiveInt(values.limit, '--limit');
  if (values.follow && values.until)
    throw new InvalidArgumentError(
      'berth fleet events: --until ends what --follow keeps open: give one of them',
    );
  const filter: FleetEventFilter = {
    ...(values.topic ? { topics: parseFleetTopics(values.topic) } : {}),
    ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
    ...(values.since ? { since: parseFleetTime(values.since, '--since') } : {}),
    ...(values.until ? { until: parseFleetTime(values.until, '--until') } : {}),
  };
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  if (values.follow) process.once('SIGINT', onSigint);
  const problems: string[] = [];
  const onProblem = (node: string, why: string) => {
    const text = node === '*' ? why : `node ${node}: ${why}`;
    if (values.follow) warn(text);
    else problems.push(text);
  };
  const json = (e: FleetEvent) => JSON.stringify({ node: e.node, ...e.event });
  try {
    await withFleet(
      values,
      ctx,
      async (nc, selected) => {
        const width = Math.max(4, ...selected.map((n) => n.nodeId.length));
        const rows: FleetEvent[] = [];
        const source = fleetEvents(nc, {
          nodes: selected,
          named: (values.node ?? []).length > 0,
          filter,
          follow: values.follow,
          signal: abort.signal,
          onProblem,
        });
        let n = 0;
        for await (const e of source) {
          if (values.follow)
            ctx.out(values.json ? json(e) : `${e.node.padEnd(width)}  ${eventLine(e.event)}`);
          else rows.push(e);
          if (limit !== undefined && ++n >= limit) break;
        }
        if (values.follow) return;
        if (values.json) ctx.out(`[${rows.map(json).join(',\n')}]`);
        else
          ctx.out(
            renderTable(
              ['NODE', 'TIME', 'SEQ', 'NAMESPACE', 'TOPIC', 'SUBJECT', 'CAUSE'],
              rows.map(({ node, event: e }) => [
                node,
                e.time,
                e.seq,
                e.namespace,
                e.topic,
                e.subject,
                formatCause(e.cause),
              ]),
            ),
          );
      },
      values.follow,
    );
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  for (const p of problems) warn(p);
  return 0;
}

async function ps(argv: string[], ctx: CommandContext): Promise<number> {
  const { values } = parseCommandArgs('fleet ps', argv, { ...COMMON, namespace: { type: 'string' } });
  const r = await withFleet(values, ctx, (nc, selected) => fleetPs(nc, selected, values.namespace));
  if (values.json) ctx.out(JSON.stringify(r, null, 2));
  else {
    const now = Date.now();
    ctx.out(
      renderTable(
        ['NODE', 'NAMESPACE', 'POD ID', 'NAME', 'POD NAMESPACE', 'STATE', 'IP', 'AGE'],
        r.pods.map((p) => [
          p.node,
          p.namespace,
          p.id.slice(0, 12),
          p.name,
          p.podNamespace,
          p.state,
          p.ips.join(','),
          age(p.createdAt, now),
        ]),
      ),
    );
    ctx.out('');
    ctx.out(
      renderTable(
        ['NODE', 'NAMESPACE', 'CONTAINER ID', 'NAME', 'IMAGE', 'STATE', 'PID', 'POD', 'AGE'],
        r.containers.map((c) => [
          c.node,
          c.namespace,
          c.id.slice(0, 12),
          c.name,
          c.image,
          c.state === 'exited' ? `exited (${c.exitCode ?? '?'})` : c.state,
          c.pid,
          c.sandboxId?.slice(0, 12),
          age(c.createdAt, now),
        ]),
      ),
    );
  }
  for (const n of r.nodes) if (n.problem) warn(`node ${n.node}: ${n.problem}`);
  return 0;
}

async function audit(argv: string[], ctx: CommandContext): Promise<number> {
  const { values } = parseCommandArgs('fleet audit', argv, COMMON);
  const r = await withFleet(values, ctx, (nc, selected) => fleetAudit(nc, selected));
  if (values.json) ctx.out(JSON.stringify(r, null, 2));
  else {
    ctx.out(
      renderTable(
        ['NODE', 'STATUS', 'EVENTS', 'HEADS', 'NEWEST HEAD', 'UNSIGNED', 'SUMMARY'],
        r.nodes.map((a) => [
          a.node,
          a.ok ? 'ok' : 'FAILED',
          a.events,
          a.headsChecked,
          a.newestHead ?? '-',
          a.unsigned,
          a.summary,
        ]),
      ),
    );
    for (const a of r.nodes) for (const f of a.findings.slice(1)) ctx.out(`  ${a.node}: also: ${f}`);
    const failed = r.nodes.filter((a) => !a.ok).map((a) => a.node);
    ctx.out(
      failed.length === 0
        ? `fleet audit: ${r.nodes.length} node${r.nodes.length === 1 ? '' : 's'} verified from NATS`
        : `FLEET AUDIT FAILED: ${failed.length} of ${r.nodes.length} nodes (${failed.join(', ')})`,
    );
  }
  return r.ok ? 0 : 1;
}

const SUBCOMMANDS: Record<string, (argv: string[], ctx: CommandContext) => Promise<number>> = {
  nodes,
  events,
  ps,
  audit,
};

export const fleetCommand: Command = {
  name: 'fleet',
  summary: 'The whole fleet from NATS: nodes, merged events, pods and containers, chain audit',
  usage:
    `berth fleet nodes ${COMMON_USAGE} [--temporal-address HOST:PORT [--temporal-namespace NS]]\n` +
    `       berth fleet events ${COMMON_USAGE} [--topic TOPIC]... [--namespace NS] [--since TIME|DURATION] [--until TIME|DURATION] [--limit N] [--follow]\n` +
    `       berth fleet ps ${COMMON_USAGE} [--namespace NS]\n` +
    `       berth fleet audit ${COMMON_USAGE}`,
  async run(argv, ctx) {
    const [sub, ...rest] = argv;
    const run = sub !== undefined && Object.hasOwn(SUBCOMMANDS, sub) ? SUBCOMMANDS[sub] : undefined;
    if (!run)
      throw new InvalidArgumentError(
        `berth fleet: ${sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`} (nodes, events, ps, audit)`,
      );
    return run(rest, ctx);
  },
};
