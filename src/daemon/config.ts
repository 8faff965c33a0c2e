/**
 * berthd configuration: defaults, then an optional file (YAML or JSON), then BERTH_* environment
 * variables, then flags — each later source overriding the earlier. Validation happens here,
 * before anything touches the disk, so a bad invocation changes nothing.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { InvalidArgumentError, errorMessage } from '../common/errors.js';
import { natsServerList } from '../common/nats-servers.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
export type LogFormat = 'pretty' | 'json';

export interface DaemonConfig {
  /** Persistent data: content, snapshots, the event log, embedded service data. */
  root: string;
  /** Runtime state that does not survive a reboot: sockets, bundles, pinned namespaces. */
  state: string;
  nodeId: string;
  apiSocket: string;
  criSocket: string;
  /** host:port of an existing Temporal frontend; undefined = start the embedded dev server. */
  temporalAddress?: string;
  temporalNamespace: string;
  /**
   * nats:// URLs (comma-separated: the servers of one cluster) of existing NATS servers with
   * JetStream; undefined = start an embedded nats-server.
   */
  natsUrl?: string;
  /** JetStream replicas of the streams and the node registry berthd creates (a cluster: 3). */
  natsReplicas: number;
  logLevel: LogLevel;
  /** pretty: one readable line per record (the default on a terminal); json: pino's JSON lines. */
  logFormat: LogFormat;
  /** host:port of the Prometheus endpoint (`/metrics`); undefined = no endpoint. */
  metricsAddress?: { host: string; port: number };
  /** Loopback port of the embedded Temporal server's Web UI; undefined = no UI. */
  temporalUiPort?: number;
  /** Where to find the binaries berthd runs. */
  binaries: {
    temporal: string;
    natsServer: string;
    /** The default handler's runc (setup builds runc 1.5 into the tools folder, first on PATH). */
    runc: string;
    /** Debian's runc (1.1), the `runc-debian` handler. */
    runcDebian: string;
    crun: string;
    runsc: string;
    conmon: string;
    /** CRIU for checkpoints (setup builds CRIU 4.1 into the tools folder). */
    criu: string;
  };
  /** The snapshotter images are unpacked into: overlayfs (default) or native (full copies). */
  snapshotter: 'overlayfs' | 'native';
  /** Per-registry settings and credentials (src/registry/config.ts); none = defaults for every host. */
  registryConfig?: string;
  /** Operator CNI conflists (default /etc/cni/net.d) and plugin directories (default /usr/lib/cni). */
  cniConfDir: string;
  cniBinDirs: string[];
  /**
   * Create the character and block devices image layers carry (other than overlay whiteouts).
   * Off by default: a device node from a registry is a host device file (a /dev/mem clone) left in
   * the snapshot directory; skipped ones are named in the layer's `/snapshot/commit` event.
   */
  allowImageDevices: boolean;
}

const FLAGS = {
  config: { type: 'string' },
  root: { type: 'string' },
  state: { type: 'string' },
  'node-id': { type: 'string' },
  'api-socket': { type: 'string' },
  'cri-socket': { type: 'string' },
  'temporal-address': { type: 'string' },
  'temporal-namespace': { type: 'string' },
  'nats-url': { type: 'string' },
  'nats-replicas': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  'metrics-address': { type: 'string' },
  'temporal-ui-port': { type: 'string' },
  'temporal-bin': { type: 'string' },
  'nats-server-bin': { type: 'string' },
  snapshotter: { type: 'string' },
  'registry-config': { type: 'string' },
  'cni-conf-dir': { type: 'string' },
  'cni-bin-dir': { type: 'string' },
  'allow-image-devices': { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

export const USAGE = `usage: berthd [flags]
  --config FILE              YAML or JSON file with the same keys as the flags (camelCase or kebab-case)
  --root DIR                 persistent root (default /var/lib/berth; env BERTH_ROOT)
  --state DIR                runtime state (default /run/berth; env BERTH_STATE)
  --node-id ID               node id, also the task queue suffix (default: hostname; env BERTH_NODE_ID)
  --api-socket PATH          berth API socket (default <state>/berth.sock)
  --cri-socket PATH          CRI socket (default <state>/cri.sock)
  --temporal-address H:P     use this Temporal frontend instead of the embedded dev server
  --temporal-namespace NS    Temporal namespace (default "default")
  --nats-url URL[,URL...]    use these NATS servers (one cluster) instead of the embedded nats-server
  --nats-replicas N          JetStream replicas of the streams berthd creates, 1-5 (default 1; a 3-server cluster: 3)
  --log-level LEVEL          trace|debug|info|warn|error|fatal|silent (default info)
  --log-format FORMAT        pretty|json (default: pretty on a terminal, json otherwise; env BERTH_LOG_FORMAT)
  --metrics-address [H:]P    serve Prometheus metrics at http://H:P/metrics (H default 127.0.0.1; off unless set)
  --temporal-ui-port PORT    serve the embedded Temporal server's Web UI on 127.0.0.1:PORT (off unless set)
  --temporal-bin PATH        temporal CLI for the embedded server (default: the setup's tools folder, then PATH)
  --nats-server-bin PATH     nats-server for the embedded server (default: the tools folder, then PATH)
  --snapshotter NAME         overlayfs (default) or native
  --registry-config FILE     registry hosts, mirrors, CAs and credentials (YAML or JSON)
  --cni-conf-dir DIR         CNI conflists (default /etc/cni/net.d)
  --cni-bin-dir DIRS         CNI plugin directories, ':'-separated (default /usr/lib/cni)
  --allow-image-devices      create the character/block devices image layers carry (default: skip them)`;

type Raw = Partial<Record<keyof typeof FLAGS, string | boolean>>;

/** `stderrIsTty`: whether the log goes to a terminal, which makes `pretty` the default format. */
export function parseDaemonArgs(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  stderrIsTty = process.stderr.isTTY === true,
): DaemonConfig | 'help' {
  let flags: Raw;
  try {
    flags = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false }).values as Raw;
  } catch (err) {
    throw new InvalidArgumentError(errorMessage(err));
  }
  if (flags.help) return 'help';
  const configPath = str(flags.config) ?? env.BERTH_CONFIG;
  const file = configPath ? readConfigFile(configPath) : {};
  const fromEnv: Raw = {
    root: env.BERTH_ROOT,
    state: env.BERTH_STATE,
    'node-id': env.BERTH_NODE_ID,
    'temporal-address': env.BERTH_TEMPORAL_ADDRESS,
    'nats-url': env.BERTH_NATS_URL,
    'nats-replicas': env.BERTH_NATS_REPLICAS,
    'log-level': env.BERTH_LOG_LEVEL,
    'log-format': env.BERTH_LOG_FORMAT,
    'metrics-address': env.BERTH_METRICS_ADDRESS,
  };
  const pick = (key: keyof typeof FLAGS): string | undefined =>
    str(flags[key]) ?? str(fromEnv[key]) ?? str(file[key]);
  return validate(
    {
      root: pick('root') ?? '/var/lib/berth',
      state: pick('state') ?? '/run/berth',
      nodeId: pick('node-id') ?? hostname(),
      apiSocket: pick('api-socket'),
      criSocket: pick('cri-socket'),
      temporalAddress: pick('temporal-address'),
      temporalNamespace: pick('temporal-namespace') ?? 'default',
      natsUrl: pick('nats-url'),
      natsReplicas: pick('nats-replicas') ?? '1',
      logLevel: pick('log-level') ?? 'info',
      logFormat: pick('log-format') ?? (stderrIsTty ? 'pretty' : 'json'),
      metricsAddress: pick('metrics-address'),
      temporalUiPort: pick('temporal-ui-port'),
      temporalBin: pick('temporal-bin') ?? 'temporal',
      natsServerBin: pick('nats-server-bin') ?? 'nats-server',
      snapshotter: pick('snapshotter') ?? 'overlayfs',
      registryConfig: pick('registry-config'),
      cniConfDir: pick('cni-conf-dir') ?? '/etc/cni/net.d',
      cniBinDir: pick('cni-bin-dir') ?? '/usr/lib/cni',
    },
    file,
    flags['allow-image-devices'] === true || file['allow-image-devices'] === true,
  );
}

function validate(
  c: Record<string, string | undefined>,
  file: Raw & {
    runc?: string;
    runcDebian?: string;
    crun?: string;
    runsc?: string;
    conmon?: string;
    criu?: string;
  },
  allowImageDevices: boolean,
): DaemonConfig {
  for (const key of ['root', 'state', 'apiSocket', 'criSocket'] as const) {
    const v = c[key];
    if (v !== undefined && !isAbsolute(v))
      throw new InvalidArgumentError(`--${kebab(key)} must be an absolute path, got "${v}"`);
  }
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(c.nodeId!)) {
    throw new InvalidArgumentError(
      `--node-id "${c.nodeId}" is not valid: use lowercase letters, digits and '-' (it names NATS subjects and task queues)`,
    );
  }
  if (!LOG_LEVELS.includes(c.logLevel as LogLevel)) {
    throw new InvalidArgumentError(`--log-level "${c.logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  if (c.logFormat !== 'pretty' && c.logFormat !== 'json') {
    throw new InvalidArgumentError(`--log-format "${c.logFormat}" is not one of pretty, json`);
  }
  const metricsAddress = c.metricsAddress === undefined ? undefined : parseMetricsAddress(c.metricsAddress);
  let temporalUiPort: number | undefined;
  if (c.temporalUiPort !== undefined) {
    temporalUiPort = parsePort(c.temporalUiPort, '--temporal-ui-port');
    if (c.temporalAddress !== undefined)
      throw new InvalidArgumentError(
        "--temporal-ui-port serves the embedded Temporal server's UI: it cannot be used with --temporal-address",
      );
  }
  if (c.temporalAddress !== undefined && !/^[^\s:/]+:\d{1,5}$/.test(c.temporalAddress)) {
    throw new InvalidArgumentError(`--temporal-address "${c.temporalAddress}" is not host:port`);
  }
  if (c.snapshotter !== 'overlayfs' && c.snapshotter !== 'native') {
    throw new InvalidArgumentError(`--snapshotter "${c.snapshotter}" is not one of overlayfs, native`);
  }
  for (const key of ['registryConfig', 'cniConfDir'] as const) {
    const v = c[key];
    if (v !== undefined && !isAbsolute(v))
      throw new InvalidArgumentError(`--${kebab(key)} must be an absolute path, got "${v}"`);
  }
  const cniBinDirs = c.cniBinDir!.split(':').filter(Boolean);
  if (cniBinDirs.length === 0 || cniBinDirs.some((d) => !isAbsolute(d)))
    throw new InvalidArgumentError(
      `--cni-bin-dir must be absolute paths separated by ':', got "${c.cniBinDir}"`,
    );
  if (c.natsUrl !== undefined) {
    for (const one of natsServerList(c.natsUrl)) {
      let url: URL;
      try {
        url = new URL(one);
      } catch {
        throw new InvalidArgumentError(`--nats-url "${one}" is not a URL (e.g. nats://127.0.0.1:4222)`);
      }
      if (!['nats:', 'tls:'].includes(url.protocol)) {
        throw new InvalidArgumentError(`--nats-url "${one}" must use nats:// or tls://`);
      }
    }
  }
  const natsReplicas = Number(c.natsReplicas);
  if (!Number.isInteger(natsReplicas) || natsReplicas < 1 || natsReplicas > 5)
    throw new InvalidArgumentError(`--nats-replicas "${c.natsReplicas}" is not a whole number from 1 to 5`);
  if (natsReplicas > 1 && c.natsUrl === undefined)
    throw new InvalidArgumentError(
      '--nats-replicas above 1 needs a NATS cluster (--nats-url): the embedded nats-server is one server',
    );
  return {
    root: c.root!,
    state: c.state!,
    nodeId: c.nodeId!,
    apiSocket: c.apiSocket ?? join(c.state!, 'berth.sock'),
    criSocket: c.criSocket ?? join(c.state!, 'cri.sock'),
    temporalAddress: c.temporalAddress,
    temporalNamespace: c.temporalNamespace!,
    natsUrl: c.natsUrl,
    natsReplicas,
    logLevel: c.logLevel as LogLevel,
    logFormat: c.logFormat as LogFormat,
    ...(metricsAddress ? { metricsAddress } : {}),
    ...(temporalUiPort !== undefined ? { temporalUiPort } : {}),
    binaries: {
      temporal: c.temporalBin!,
      natsServer: c.natsServerBin!,
      runc: str(file.runc) ?? 'runc',
      runcDebian: str(file.runcDebian) ?? '/usr/sbin/runc',
      crun: str(file.crun) ?? 'crun',
      runsc: str(file.runsc) ?? 'runsc',
      conmon: str(file.conmon) ?? 'conmon',
      criu: str(file.criu) ?? 'criu',
    },
    snapshotter: c.snapshotter,
    registryConfig: c.registryConfig,
    cniConfDir: c.cniConfDir!,
    cniBinDirs,
    allowImageDevices,
  };
}

function parsePort(text: string, flag: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port < 1 || port > 65535)
    throw new InvalidArgumentError(`${flag} "${text}" is not a port (1-65535)`);
  return port;
}

/** `PORT`, `:PORT` or `HOST:PORT` (an IPv6 host in brackets); the host defaults to loopback. */
function parseMetricsAddress(text: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+)?:)?(\d+)$/.exec(text);
  if (!m) throw new InvalidArgumentError(`--metrics-address "${text}" is not [HOST:]PORT`);
  return {
    host: m[1]?.replace(/^\[|\]$/g, '') ?? '127.0.0.1',
    port: parsePort(m[2]!, '--metrics-address'),
  };
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase());
}

function readConfigFile(path: string): Raw & Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`cannot read config file ${path}: ${errorMessage(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new InvalidArgumentError(`config file ${path} is not valid YAML/JSON: ${errorMessage(err)}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidArgumentError(`config file ${path} must hold a mapping of settings`);
  }
  const out: Record<string, unknown> = {};
  const known = new Set<string>([
    ...Object.keys(FLAGS),
    'runc',
    'runcDebian',
    'crun',
    'runsc',
    'conmon',
    'criu',
  ]);
  for (const [key, value] of Object.entries(parsed)) {
    const name = kebab(key);
    if (!known.has(name) || name === 'config' || name === 'help') {
      throw new InvalidArgumentError(`config file ${path}: unknown setting "${key}"`);
    }
    out[name] = settingValue(path, key, name, value);
  }
  return out as Raw;
}

/**
 * A file setting of the type its flag takes: a wrong type is an error, never silently the default
 * (`metricsAddress: 9090` once meant "no metrics"). Ports may be written as numbers.
 */
function settingValue(path: string, key: string, name: string, value: unknown): string | boolean {
  const flag = (FLAGS as Record<string, { type: 'string' | 'boolean' } | undefined>)[name];
  const where = `config file ${path}: setting "${key}"`;
  if (flag?.type === 'boolean') {
    if (typeof value !== 'boolean')
      throw new InvalidArgumentError(`${where} must be true or false, got ${show(value)}`);
    return value;
  }
  if (typeof value === 'number' && PORT_SETTINGS.has(name) && Number.isInteger(value)) return String(value);
  if (typeof value !== 'string')
    throw new InvalidArgumentError(`${where} must be a string, got ${show(value)}`);
  if (value === '') throw new InvalidArgumentError(`${where} is empty: remove it to use the default`);
  return value;
}

const PORT_SETTINGS = new Set(['metrics-address', 'temporal-ui-port']);

function show(value: unknown): string {
  return value === null
    ? 'null'
    : Array.isArray(value)
      ? 'a list'
      : `${typeof value} ${JSON.stringify(value)}`;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
