/**
 * A fleet on this machine, loopback only: a JetStream cluster of nats-servers, one Temporal dev
 * server, and berthds on both (--temporal-address, --nats-url, --nats-replicas). Every piece can be
 * killed and started again on the same ports and store, for fault tests; everything a start made is
 * removed again, also when it fails halfway.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiClient } from '../../src/api/client.js';
import { freePort } from '../../src/daemon/endpoints.js';
import { devServerArgs, probeTemporal } from '../../src/daemon/temporal.js';
import { resolveTool } from '../../src/daemon/tools.js';
import { leftoverSweep } from '../containers/support.js';
import { startBerthd, testEnv, type RunningBerthd } from './berthd.js';

/** Generous: a server restarted under a thousand replicated streams takes a while to be current. */
const START_TIMEOUT_MS = 180_000;
/** A child that ignores SIGTERM this long is killed. */
const STOP_GRACE_MS = 20_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A program, found as berthd finds it (the setup's tools folder, then PATH). */
function tool(name: string): string {
  const found = resolveTool(name, testEnv());
  if (!found) throw new Error(`${name} not found in the tools folder or PATH: run ./scripts/setup`);
  return found;
}

/** Ports no other piece of this process's fleets has been given (freePort only checks they are free now). */
const given: number[] = [];
async function port(): Promise<number> {
  const p = await freePort(given);
  given.push(p);
  return p;
}

/** One child process whose output goes to a log file; started again with the same command line. */
class Child {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly logFile: string,
  ) {}

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  pid(): number {
    if (!this.running) throw new Error(`${this.name} is not running`);
    return this.proc!.pid!;
  }

  spawn(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    const fd = openSync(this.logFile, 'a');
    try {
      const proc = spawn(this.command, this.args, { stdio: ['ignore', fd, fd], env: testEnv() });
      this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
      proc.once('error', () => undefined); // a failed spawn also emits exit
      this.proc = proc;
    } finally {
      closeSync(fd);
    }
  }

  /** Sends `signal` and waits for the exit (SIGSTOP and SIGCONT do not end it: no wait). */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.running) return this.exited;
    this.proc!.kill(signal);
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') return;
    this.proc!.kill('SIGCONT'); // a stopped child cannot act on SIGTERM
    const timer = setTimeout(() => this.proc?.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  /** Polls `ready` until true; throws with the log's tail if the child exits or time runs out. */
  async waitUntil(ready: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (!this.running) throw new Error(`${this.name} exited before ${what}:\n${await this.tail()}`);
      if (await ready()) return;
      if (Date.now() > deadline) {
        await this.kill('SIGKILL');
        throw new Error(`${this.name}: no ${what} in ${START_TIMEOUT_MS} ms:\n${await this.tail()}`);
      }
      await sleep(100);
    }
  }

  private async tail(): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return text.split('\n').slice(-30).join('\n');
  }
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> } | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } catch {
    return undefined; // not listening yet
  }
}

/** Runs `cleanup` when `start` throws, then rethrows: a start that fails halfway leaves nothing. */
async function orCleanUp<T>(start: () => Promise<T>, cleanup: () => Promise<unknown>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
}

export interface NatsServer {
  name: string;
  /** nats://127.0.0.1:<client port> */
  url: string;
  /** http://127.0.0.1:<port> of its monitoring endpoints (/healthz, /jsz, /varz). */
  monitorUrl: string;
  /** Its JetStream store (kept across kill and start). */
  storeDir: string;
  pid(): number;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same config and store; resolves once it answers and JetStream is current. */
  start(): Promise<void>;
}

export interface NatsCluster {
  servers: NatsServer[];
  /** Every server's URL, comma-separated, as --nats-url takes them. */
  urls: string;
  stop(): Promise<void>;
}

/**
 * JetStream is current on a server: a meta leader is known (clustered) and the bare /healthz passes,
 * which checks this server's meta group and its stream and consumer replicas have caught up.
 */
async function jetStreamCurrent(monitorUrl: string, clustered: boolean): Promise<boolean> {
  const meta = (await getJson(`${monitorUrl}/jsz`))?.body.meta_cluster as { leader?: string } | undefined;
  if (clustered && !meta?.leader) return false;
  return (await getJson(`${monitorUrl}/healthz`))?.status === 200;
}

/** A config file's string: JSON's quoting is one the NATS config parser reads. */
const q = (s: string) => JSON.stringify(s);

export async function startNatsCluster(
  opts: { size?: number; dir?: string; name?: string } = {},
): Promise<NatsCluster> {
  const size = opts.size ?? 3;
  const base = await mkdtemp(join(opts.dir ?? tmpdir(), 'berth-nats-'));
  const servers: NatsServer[] = [];
  const children: { child: Child; current: () => Promise<boolean> }[] = [];
  const stop = async () => {
    await Promise.all(children.map(({ child }) => child.kill()));
    await rm(base, { recursive: true, force: true });
  };
  return orCleanUp(async () => {
    const ports = [];
    for (let i = 0; i < size; i++)
      ports.push({ client: await port(), cluster: await port(), http: await port() });
    for (let i = 0; i < size; i++) {
      const name = `nats-${i + 1}`;
      const storeDir = join(base, name);
      const routes = ports.filter((_, j) => j !== i).map((p) => q(`nats-route://127.0.0.1:${p.cluster}`));
      const config = [
        `server_name: ${q(name)}`,
        `listen: ${q(`127.0.0.1:${ports[i]!.client}`)}`,
        `http: ${q(`127.0.0.1:${ports[i]!.http}`)}`,
        `jetstream { store_dir: ${q(storeDir)} }`,
        // A one-server "cluster" has no routes: JetStream then runs standalone, as on a single node.
        ...(size > 1
          ? [
              `cluster { name: ${q(opts.name ?? 'berth-fleet')}, listen: ${q(`127.0.0.1:${ports[i]!.cluster}`)},`,
              `  routes: [${routes.join(', ')}] }`,
            ]
          : []),
      ];
      const configFile = join(base, `${name}.conf`);
      await writeFile(configFile, config.join('\n') + '\n');
      const monitorUrl = `http://127.0.0.1:${ports[i]!.http}`;
      const child = new Child(name, tool('nats-server'), ['-c', configFile], join(base, `${name}.log`));
      const current = () => jetStreamCurrent(monitorUrl, size > 1);
      children.push({ child, current });
      servers.push({
        name,
        url: `nats://127.0.0.1:${ports[i]!.client}`,
        monitorUrl,
        storeDir,
        pid: () => child.pid(),
        kill: (signal) => child.kill(signal),
        start: async () => {
          child.spawn();
          await child.waitUntil(current, 'a current JetStream');
        },
      });
    }
    // All at once: a clustered server elects no meta leader until a quorum of its peers is up.
    for (const { child } of children) child.spawn();
    await Promise.all(
      children.map(({ child, current }) => child.waitUntil(current, 'a JetStream meta leader')),
    );
    return { servers, urls: servers.map((s) => s.url).join(','), stop };
  }, stop);
}

export interface TemporalServer {
  /** 127.0.0.1:<frontend port>, as --temporal-address takes it. */
  address: string;
  namespace: string;
  /** http://127.0.0.1:<port>/metrics: the server's Prometheus metrics (poll requests, task queues). */
  metricsUrl: string;
  pid(): number;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same ports and database; resolves once the frontend answers. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTemporalServer(
  opts: { dir?: string; namespace?: string } = {},
): Promise<TemporalServer> {
  const base = await mkdtemp(join(opts.dir ?? tmpdir(), 'berth-temporal-'));
  const namespace = opts.namespace ?? 'default';
  let child: Child | undefined;
  const stop = async () => {
    await child?.kill();
    await rm(base, { recursive: true, force: true });
  };
  return orCleanUp(async () => {
    const ports = { frontendPort: await port(), httpPort: await port(), metricsPort: await port() };
    const address = `127.0.0.1:${ports.frontendPort}`;
    const args = devServerArgs({
      ports,
      dbFile: join(base, 'temporal.db'),
      namespace,
      logLevel: 'warn',
      // As berthd's embedded server (embedded.ts): WAL, and a crashed worker's workflow task is
      // handed out again within seconds, which the fault tests' SIGKILLs rely on.
      sqlitePragmas: ['journal_mode=wal', 'synchronous=NORMAL'],
      dynamicConfig: { 'history.workflowTaskRetryMaxInterval': '5s' },
    });
    const c = (child = new Child('temporal', tool('temporal'), args, join(base, 'temporal.log')));
    const start = async () => {
      c.spawn();
      await c.waitUntil(
        async () => (await probeTemporal(address, namespace, 2_000)).ok,
        'answering frontend',
      );
    };
    await start();
    const metricsUrl = `http://127.0.0.1:${ports.metricsPort}/metrics`;
    return {
      address,
      namespace,
      metricsUrl,
      pid: () => c.pid(),
      kill: (signal) => c.kill(signal),
      start,
      stop,
    };
  }, stop);
}

export interface FleetNode {
  nodeId: string;
  root: string;
  state: string;
  /** The flags it runs with after root, state and node id (the fleet's, then the caller's). */
  args: string[];
  /** The berthd running now (the last one started). */
  readonly current: RunningBerthd;
  readonly client: ApiClient;
  /** Its API socket (`<state>/berth.sock`) and CRI socket (`<state>/cri.sock`, berthd's default). */
  readonly socket: string;
  readonly criSocket: string;
  /** SIGKILL (or `signal`) berthd and wait for its exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts berthd again on the same root, state, node id and flags; resolves once it answers. */
  restart(): Promise<RunningBerthd>;
  /** SIGTERM and wait; then kill and unmount what its pods left. Its dirs stay until the fleet stops. */
  stop(): Promise<void>;
}

export interface Fleet {
  nats: NatsCluster;
  temporal: TemporalServer;
  nodes: FleetNode[];
  dir: string;
  /** berthds first, then Temporal, then NATS; then the fleet's dir. */
  stop(): Promise<void>;
}

export interface FleetOptions {
  nodes?: number;
  /** Parent of the fleet's temporary dir (default the OS temp dir). */
  dir?: string;
  /** NATS servers (default 3) and JetStream replicas berthd asks for (default 3, at most the servers). */
  natsServers?: number;
  replicas?: number;
  /** Node ids (default n1, n2, … each with a suffix unique to this fleet). */
  nodeIds?: string[];
  /** More berthd flags: one list for all nodes, or per node. */
  extraArgs?: string[] | ((index: number, nodeId: string) => string[]);
  readyTimeoutMs?: number;
}

class Node implements FleetNode {
  private running: RunningBerthd | undefined;

  constructor(
    readonly nodeId: string,
    readonly root: string,
    readonly state: string,
    readonly args: string[],
    private readonly readyTimeoutMs: number | undefined,
  ) {}

  get current(): RunningBerthd {
    if (!this.running) throw new Error(`node ${this.nodeId} was never started`);
    return this.running;
  }

  get client(): ApiClient {
    return this.current.client;
  }

  get socket(): string {
    return join(this.state, 'berth.sock');
  }

  get criSocket(): string {
    const i = this.args.indexOf('--cri-socket');
    return i >= 0 ? this.args[i + 1]! : join(this.state, 'cri.sock');
  }

  async restart(): Promise<RunningBerthd> {
    const { root, state, nodeId, args } = this;
    this.running = await startBerthd({ root, state, nodeId, args, readyTimeoutMs: this.readyTimeoutMs });
    return this.running;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.running?.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    await exited;
  }

  async stop(): Promise<void> {
    await this.running?.stop();
    // What pods of a killed berthd left (conmons, mounts), and the state's shared namespace mount.
    await leftoverSweep(this);
  }
}

export async function startFleet(opts: FleetOptions = {}): Promise<Fleet> {
  const count = opts.nodes ?? 3;
  const replicas = opts.replicas ?? 3;
  const dir = await mkdtemp(join(opts.dir ?? tmpdir(), 'berth-fleet-'));
  // A pod with its own user namespace maps root to another uid, which must pass through to its rootfs.
  await chmod(dir, 0o711);
  const suffix = Math.random().toString(36).slice(2, 6);
  const ids = opts.nodeIds ?? Array.from({ length: count }, (_, i) => `n${i + 1}-${suffix}`);
  const parts: Partial<Fleet> & { nodes: FleetNode[] } = { nodes: [] };
  const stop = async () => {
    // One by one: each berthd stops its relay and marks its registry record while NATS is still up.
    for (const n of parts.nodes) await n.stop().catch(() => undefined);
    await parts.temporal?.stop();
    await parts.nats?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  return orCleanUp(async () => {
    // Both at once; whichever started is stopped again if the other fails.
    const [n, t] = await Promise.allSettled([
      startNatsCluster({ size: opts.natsServers ?? 3, dir }),
      startTemporalServer({ dir }),
    ]);
    if (n.status === 'fulfilled') parts.nats = n.value;
    if (t.status === 'fulfilled') parts.temporal = t.value;
    if (n.status === 'rejected') throw n.reason;
    if (t.status === 'rejected') throw t.reason;
    const { nats, temporal } = { nats: parts.nats!, temporal: parts.temporal! };
    const fleetArgs = ['--temporal-address', temporal.address, '--nats-url', nats.urls];
    fleetArgs.push('--nats-replicas', String(replicas));
    for (const [i, nodeId] of ids.entries()) {
      const nodeDir = join(dir, nodeId);
      await mkdir(nodeDir, { mode: 0o711 });
      const extra = typeof opts.extraArgs === 'function' ? opts.extraArgs(i, nodeId) : (opts.extraArgs ?? []);
      const node = new Node(
        nodeId,
        join(nodeDir, 'root'),
        join(nodeDir, 'state'),
        [...fleetArgs, ...extra],
        opts.readyTimeoutMs,
      );
      parts.nodes.push(node);
      await node.restart();
    }
    return { nats, temporal, nodes: parts.nodes, dir, stop };
  }, stop);
}
