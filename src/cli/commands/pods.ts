/** `berth pods` (table) and `berth pod run|inspect|stop|rm`: pod sandboxes through berthd. */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, errorMessage } from '../../common/errors.js';
import type { SandboxStatusView, SandboxView } from '../../daemon/sandboxes.js';
import type { PortMapping } from '../../network/types.js';
import type { SandboxConfig } from '../../sandbox/config.js';
import type { RunSandboxBody } from '../../api/routes/sandboxes.js';
import type { Command, CommandContext } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { NAMESPACE_FLAGS, NAMESPACE_USAGE, listingNamespace, namespacedTable } from '../namespaces.js';

const podPath = (id: string, suffix = '') => `/v1/sandboxes/${encodeURIComponent(id)}${suffix}`;

export const podsCommand: Command = {
  name: 'pods',
  summary: 'List the pod sandboxes of a namespace (-A: of every namespace)',
  usage:
    'berth pods [--namespace NS | --all-namespaces] [--state created|ready|notready] [--label k=v]... [-q] [--json]' +
    NAMESPACE_USAGE,
  async run(argv, ctx) {
    const { values } = parseCommandArgs('pods', argv, {
      ...NAMESPACE_FLAGS,
      state: { type: 'string' },
      label: { type: 'string', multiple: true },
      quiet: { type: 'boolean', short: 'q', default: false },
    });
    const namespace = listingNamespace('pods', values);
    const query = new URLSearchParams();
    if (namespace !== undefined) query.set('namespace', namespace);
    if (values.state) query.set('state', values.state);
    for (const l of values.label ?? []) query.append('label', l);
    const list = await ctx.client.get<SandboxView[]>(`/v1/sandboxes?${query.toString()}`);
    if (values.json) ctx.out(JSON.stringify(list, null, 2));
    else if (values.quiet) for (const sb of list) ctx.out(sb.id);
    else
      ctx.out(
        // POD NAMESPACE is the pod's Kubernetes namespace (its metadata); NAMESPACE, with -A, Berth's.
        namespacedTable(
          namespace === undefined,
          ['POD ID', 'NAME', 'POD NAMESPACE', 'ATTEMPT', 'STATE', 'IP', 'CREATED'],
          list,
          (sb) => [
            sb.id.slice(0, 12),
            sb.metadata?.name ?? sb.name,
            sb.metadata?.namespace,
            sb.metadata?.attempt,
            sb.state,
            sb.ips.map((ip) => ip.ip).join(',') || (sb.config?.hostNetwork ? 'host' : ''),
            sb.createdAt,
          ],
        ),
      );
    return 0;
  },
};

const SUBCOMMANDS = ['run', 'inspect', 'stop', 'rm'] as const;

export const podCommand: Command = {
  name: 'pod',
  summary: 'Run, inspect, stop or remove a pod sandbox',
  usage: [
    'berth pod run NAME [--pod-namespace NS] [--uid UID] [--attempt N] [--hostname H]',
    '    [-p [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp|sctp]]... [--dns IP]... [--dns-search DOMAIN]...',
    '    [--dns-option OPT]... [--label k=v]... [--host-network] [--host-ipc] [--runtime HANDLER]',
    '    [--namespace NS] [--config FILE.json] [--json]',
    'berth pod inspect|stop|rm ID|PREFIX|NAME... [--json]',
  ].join('\n'),
  async run(argv, ctx) {
    const [sub, ...rest] = argv;
    if (!sub || !(SUBCOMMANDS as readonly string[]).includes(sub)) {
      throw new InvalidArgumentError(`berth pod: expected one of ${SUBCOMMANDS.join(', ')}`);
    }
    if (sub === 'run') return runPod(rest, ctx);
    const { values, positionals } = parseCommandArgs(`pod ${sub}`, rest, {}, true);
    if (positionals.length === 0) throw new InvalidArgumentError(`berth pod ${sub}: name a sandbox`);
    const results: unknown[] = [];
    for (const id of positionals) {
      if (sub === 'inspect') results.push(await ctx.client.get<SandboxStatusView>(podPath(id)));
      else if (sub === 'stop') {
        const sb = await ctx.client.post<SandboxView>(podPath(id, '/stop'));
        results.push(sb);
        if (!values.json) ctx.out(sb.id);
      } else {
        results.push(await ctx.client.delete<{ removed: string }>(podPath(id)));
        if (!values.json) ctx.out(id);
      }
    }
    if (sub === 'inspect' || values.json)
      ctx.out(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
    return 0;
  },
};

async function runPod(argv: string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'pod run',
    argv,
    {
      'pod-namespace': { type: 'string', default: 'default' },
      uid: { type: 'string' },
      attempt: { type: 'string', default: '0' },
      hostname: { type: 'string' },
      publish: { type: 'string', short: 'p', multiple: true },
      dns: { type: 'string', multiple: true },
      'dns-search': { type: 'string', multiple: true },
      'dns-option': { type: 'string', multiple: true },
      label: { type: 'string', multiple: true },
      'host-network': { type: 'boolean', default: false },
      'host-ipc': { type: 'boolean', default: false },
      runtime: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      config: { type: 'string' },
    },
    true,
  );
  let config: SandboxConfig;
  if (values.config) {
    if (positionals.length)
      throw new InvalidArgumentError('berth pod run: give a NAME or --config, not both');
    try {
      config = JSON.parse(await readFile(values.config, 'utf8')) as SandboxConfig;
    } catch (err) {
      throw new InvalidArgumentError(
        `berth pod run: cannot read --config ${values.config}: ${errorMessage(err)}`,
      );
    }
  } else {
    if (positionals.length !== 1) throw new InvalidArgumentError('berth pod run: name the pod (one NAME)');
    if (!/^\d+$/.test(values.attempt)) {
      throw new InvalidArgumentError(
        `berth pod run: --attempt ${values.attempt} is not a non-negative integer`,
      );
    }
    const dns = {
      ...(values.dns ? { servers: values.dns } : {}),
      ...(values['dns-search'] ? { searches: values['dns-search'] } : {}),
      ...(values['dns-option'] ? { options: values['dns-option'] } : {}),
    };
    config = {
      metadata: {
        name: positionals[0]!,
        namespace: values['pod-namespace'],
        uid: values.uid ?? randomUUID(),
        attempt: Number(values.attempt),
      },
      ...(values.hostname ? { hostname: values.hostname } : {}),
      ...(Object.keys(dns).length ? { dnsConfig: dns } : {}),
      portMappings: (values.publish ?? []).map(parsePublish),
      labels: Object.fromEntries((values.label ?? []).map(parseLabel)),
      linux: {
        namespaceOptions: {
          network: values['host-network'] ? 'node' : 'pod',
          ipc: values['host-ipc'] ? 'node' : 'pod',
        },
      },
    };
  }
  const body: RunSandboxBody = {
    config,
    ...(values.runtime ? { runtimeHandler: values.runtime } : {}),
    ...(values.namespace ? { namespace: values.namespace } : {}),
  };
  const sb = await ctx.client.post<SandboxView>('/v1/sandboxes', body);
  ctx.out(values.json ? JSON.stringify(sb, null, 2) : sb.id);
  return 0;
}

/** `[hostIp:]hostPort:containerPort[/proto]`; the numbers themselves are checked by berthd. */
export function parsePublish(spec: string): PortMapping {
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d+):(\d+)(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  if (!m) {
    throw new InvalidArgumentError(
      `berth pod run: -p ${JSON.stringify(spec)} must be [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp|sctp]`,
    );
  }
  return {
    protocol: (m[4] ?? 'tcp').toUpperCase() as PortMapping['protocol'],
    hostPort: Number(m[2]),
    containerPort: Number(m[3]),
    ...(m[1] ? { hostIp: m[1].replace(/^\[|\]$/g, '') } : {}),
  };
}

function parseLabel(l: string): [string, string] {
  const eq = l.indexOf('=');
  if (eq <= 0)
    throw new InvalidArgumentError(`berth pod run: --label ${JSON.stringify(l)} must be key=value`);
  return [l.slice(0, eq), l.slice(eq + 1)];
}
export const podCommands = [podsCommand, podCommand];
