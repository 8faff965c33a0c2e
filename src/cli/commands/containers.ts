/** `berth ps`, `inspect`, `start`, `stop`, `rm`, `stats`, `logs`: containers through berthd. */
import { InvalidArgumentError } from '../../common/errors.js';
import type { ContainerStats, ContainerStatus } from '../../daemon/containers.js';
import type { ApiClient } from '../../api/client.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { NAMESPACE_FLAGS, NAMESPACE_USAGE, listingNamespace, namespacedTable } from '../namespaces.js';
import { renderTable } from '../table.js';
import { formatBytes } from './pull.js';

export const containerPath = (id: string, suffix = '') => `/v1/containers/${encodeURIComponent(id)}${suffix}`;

export interface LogLine {
  time: string;
  stream: 'stdout' | 'stderr';
  text: string;
}

/** Prints a container's log lines to our stdout/stderr (the line's own stream); returns when the stream ends. */
export async function printLogs(
  client: ApiClient,
  id: string,
  query: Record<string, string | undefined>,
  json: boolean,
): Promise<void> {
  for await (const line of client.stream<LogLine>(containerPath(id, '/logs'), query)) {
    if (json) process.stdout.write(JSON.stringify(line) + '\n');
    else (line.stream === 'stderr' ? process.stderr : process.stdout).write(line.text + '\n');
  }
}

function ago(iso: string | undefined): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function stateText(c: ContainerStatus): string {
  if (c.state === 'exited')
    return `exited (${c.exitCode ?? '?'})${c.reason === 'OOMKilled' ? ' OOMKilled' : ''}`;
  return c.state;
}

export const psCommand: Command = {
  name: 'ps',
  summary: 'List the containers of a namespace (running ones; -a for all; -A: every namespace)',
  usage:
    'berth ps [-a] [--namespace NS | --all-namespaces] [--sandbox ID] [--label k=v]... [-q] [--json]' +
    NAMESPACE_USAGE,
  async run(argv, ctx) {
    const { values } = parseCommandArgs('ps', argv, {
      all: { type: 'boolean', short: 'a', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
      ...NAMESPACE_FLAGS,
      sandbox: { type: 'string' },
      label: { type: 'string', multiple: true },
    });
    const namespace = listingNamespace('ps', values);
    const query = new URLSearchParams();
    if (namespace !== undefined) query.set('namespace', namespace);
    if (values.sandbox) query.set('sandbox', values.sandbox);
    if (!values.all) query.set('state', 'running');
    for (const l of values.label ?? []) query.append('label', l);
    const list = await ctx.client.get<ContainerStatus[]>(`/v1/containers?${query.toString()}`);
    if (values.json) ctx.out(JSON.stringify(list, null, 2));
    else if (values.quiet) for (const c of list) ctx.out(c.id);
    else
      ctx.out(
        namespacedTable(
          namespace === undefined,
          ['CONTAINER ID', 'NAME', 'IMAGE', 'STATE', 'CREATED', 'PID', 'SANDBOX'],
          list,
          (c) => [
            c.id.slice(0, 12),
            c.name,
            c.image,
            stateText(c),
            ago(c.createdAt),
            c.pid,
            c.sandboxId?.slice(0, 12),
          ],
        ),
      );
    return 0;
  },
};

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Show a container as JSON',
  usage: 'berth inspect ID|NAME...',
  async run(argv, ctx) {
    const { positionals } = parseCommandArgs('inspect', argv, {}, true);
    if (positionals.length === 0) throw new InvalidArgumentError('berth inspect: name a container');
    const out = [];
    for (const id of positionals) out.push(await ctx.client.get<ContainerStatus>(containerPath(id)));
    ctx.out(JSON.stringify(out.length === 1 ? out[0] : out, null, 2));
    return 0;
  },
};

function eachContainer(
  name: string,
  summary: string,
  usage: string,
  options: Parameters<typeof parseCommandArgs>[2],
  act: (client: ApiClient, id: string, values: Record<string, unknown>) => Promise<unknown>,
  describe: (id: string, result: unknown) => string,
): Command {
  return {
    name,
    summary,
    usage,
    async run(argv, ctx) {
      const { values, positionals } = parseCommandArgs(name, argv, options, true);
      if (positionals.length === 0) throw new InvalidArgumentError(`berth ${name}: name a container`);
      const results = [];
      for (const id of positionals) {
        const r = await act(ctx.client, id, values as Record<string, unknown>);
        results.push(r);
        if (!values.json) ctx.out(describe(id, r));
      }
      if (values.json) ctx.out(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
      return 0;
    },
  };
}

export const startCommand = eachContainer(
  'start',
  'Start created containers',
  'berth start ID... [--json]',
  {},
  (client, id) => client.post<ContainerStatus>(containerPath(id, '/start')),
  (_id, r) => (r as ContainerStatus).id,
);

export const stopCommand = eachContainer(
  'stop',
  'Stop containers: the stop signal, then SIGKILL after the timeout',
  'berth stop [-t SECONDS] ID... [--json]',
  { time: { type: 'string', short: 't' } },
  (client, id, v) =>
    client.post<ContainerStatus>(containerPath(id, '/stop'), {
      ...(v.time !== undefined ? { timeout: Number(v.time) } : {}),
    }),
  (_id, r) => {
    const c = r as ContainerStatus;
    return `${c.id} ${stateText(c)}`;
  },
);

export const rmCommand = eachContainer(
  'rm',
  'Remove containers (-f kills running ones)',
  'berth rm [-f] ID... [--json]',
  { force: { type: 'boolean', short: 'f', default: false } },
  (client, id, v) => client.delete<{ removed: string }>(containerPath(id) + (v.force ? '?force=true' : '')),
  (_id, r) => (r as { removed: string }).removed,
);

export const pauseCommand = eachContainer(
  'pause',
  'Freeze every process of running containers',
  'berth pause ID... [--json]',
  {},
  (client, id) => client.post<ContainerStatus>(containerPath(id, '/pause')),
  (_id, r) => `${(r as ContainerStatus).id} ${(r as ContainerStatus).state}`,
);

export const unpauseCommand = eachContainer(
  'unpause',
  'Thaw paused containers',
  'berth unpause ID... [--json]',
  {},
  (client, id) => client.post<ContainerStatus>(containerPath(id, '/resume')),
  (_id, r) => `${(r as ContainerStatus).id} ${(r as ContainerStatus).state}`,
);

export const statsCommand: Command = {
  name: 'stats',
  summary: 'CPU, memory and pids of containers (one reading)',
  usage: 'berth stats [ID...] [--json]',
  async run(argv, ctx) {
    const { values, positionals } = parseCommandArgs('stats', argv, {}, true);
    const ids = positionals.length
      ? positionals
      : (await ctx.client.get<ContainerStatus[]>('/v1/containers?state=running')).map((c) => c.id);
    const stats = [];
    for (const id of ids) stats.push(await ctx.client.get<ContainerStats>(containerPath(id, '/stats')));
    if (values.json) ctx.out(JSON.stringify(stats, null, 2));
    else
      ctx.out(
        renderTable(
          ['CONTAINER ID', 'CPU TIME', 'MEM WORKING SET', 'MEM USAGE', 'PIDS', 'WRITABLE LAYER'],
          stats.map((s) => [
            s.id.slice(0, 12),
            `${(s.cpuUsageNanos / 1e9).toFixed(3)}s`,
            formatBytes(s.memoryWorkingSetBytes),
            formatBytes(s.memoryUsageBytes),
            s.pidsCurrent,
            s.writableLayerBytes === undefined ? '' : formatBytes(s.writableLayerBytes),
          ]),
        ),
      );
    return 0;
  },
};

export const logsCommand: Command = {
  name: 'logs',
  summary: "Print a container's log (-f follows until it exits)",
  usage: 'berth logs [-f] [--since TIME] [--tail N] ID [--json]',
  async run(argv, ctx) {
    const { values, positionals } = parseCommandArgs(
      'logs',
      argv,
      {
        follow: { type: 'boolean', short: 'f', default: false },
        since: { type: 'string' },
        tail: { type: 'string' },
      },
      true,
    );
    if (positionals.length !== 1) throw new InvalidArgumentError('berth logs: name one container');
    let since = values.since;
    // A duration ("10s", "5m", "2h") means that long ago.
    const rel = since && /^(\d+)([smh])$/.exec(since);
    if (rel) {
      const unit = { s: 1e3, m: 6e4, h: 3.6e6 }[rel[2] as 's' | 'm' | 'h'];
      since = new Date(Date.now() - Number(rel[1]) * unit).toISOString();
    }
    await printLogs(
      ctx.client,
      positionals[0]!,
      { follow: values.follow ? 'true' : undefined, since, tail: values.tail },
      values.json === true,
    );
    return 0;
  },
};

export const containerCommands: Command[] = [
  psCommand,
  inspectCommand,
  startCommand,
  stopCommand,
  rmCommand,
  pauseCommand,
  unpauseCommand,
  statsCommand,
  logsCommand,
];
