/**
 * A real kubelet (v1.36, built by `scripts/setup --tests` into .tools/bin) in standalone mode on a
 * runtime's CRI socket: its own root dir, static pod folder, pod log folder and cgroup root, every
 * port on 127.0.0.1, and anonymous access to the read-only port for `/pods` and `/stats/summary`.
 * Nothing of a host kubelet's is touched: no /var/lib/kubelet, /var/log/pods or /kubepods cgroup.
 * kubelet changes the host on start (kernel tunables it insists on, its iptables canary and hint
 * chains); `cleanup()` puts back what it found.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileCapture } from '../../src/common/exec.js';
import { TOOLS_BIN } from '../helpers/berthd.js';
import { freePort } from '../helpers/registry.js';
import { mountsUnder } from '../containers/support.js';

export const KUBELET = path.join(TOOLS_BIN, 'kubelet');
export const NODE_NAME = 'berth-kubelet-test';
const V1_CGROUPS = '/sys/fs/cgroup';
/** The sysctls kubelet sets at start (its kernel defaults: vm.overcommit_memory=1, kernel.panic=10, …). */
const KUBELET_SYSCTLS = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
];
const IPTABLES = ['iptables', 'ip6tables'];
const TABLES = ['filter', 'nat', 'mangle'];

/** What kubelet may change on the host, as it was before it started. */
interface HostBefore {
  sysctls: Map<string, string>;
  /** `<command> <table>` to the chains it held. */
  chains: Map<string, Set<string>>;
}

async function chainsOf(cmd: string, table: string): Promise<string[]> {
  const r = await execFileCapture(cmd, ['-t', table, '-S']);
  return r.code === 0
    ? r.stdout
        .split('\n')
        .filter((l) => l.startsWith('-N '))
        .map((l) => l.slice(3))
    : [];
}

async function captureHost(): Promise<HostBefore> {
  const sysctls = new Map<string, string>();
  for (const k of KUBELET_SYSCTLS) sysctls.set(k, await readFile(`/proc/sys/${k}`, 'utf8'));
  const chains = new Map<string, Set<string>>();
  for (const cmd of IPTABLES)
    for (const table of TABLES) chains.set(`${cmd} ${table}`, new Set(await chainsOf(cmd, table)));
  return { sysctls, chains };
}

/** Puts back the sysctls and removes the chains (and the rules jumping to them) kubelet added. */
async function restoreHost(before: HostBefore): Promise<void> {
  for (const [k, v] of before.sysctls) await writeFile(`/proc/sys/${k}`, v);
  for (const cmd of IPTABLES) {
    for (const table of TABLES) {
      const had = before.chains.get(`${cmd} ${table}`) ?? new Set();
      const added = (await chainsOf(cmd, table)).filter((c) => !had.has(c));
      if (added.length === 0) continue;
      const rules = (await execFileCapture(cmd, ['-t', table, '-S'])).stdout.split('\n');
      for (const rule of rules) {
        const words = rule.split(' ');
        if (words[0] !== '-A' || !added.some((c) => words.includes(c))) continue;
        if (added.includes(words[1]!)) continue; // flushed with its chain
        await execFileCapture(cmd, ['-t', table, '-D', ...words.slice(1)]);
      }
      for (const c of added) await execFileCapture(cmd, ['-t', table, '-F', c]);
      for (const c of added) await execFileCapture(cmd, ['-t', table, '-X', c]);
    }
  }
}

export interface KubeletOptions {
  /** `unix://…` of the runtime under test. */
  criEndpoint: string;
  featureGates?: Record<string, boolean>;
  /** Small, so rotation happens within a test. */
  containerLogMaxSize?: string;
  /**
   * Registers kubelet as a node of a cluster (test/cluster): its API server's kubeconfig, and the
   * CA whose client certificates kubelet's API accepts (the API server's, authorized by webhook).
   * Without it kubelet runs standalone, serving an unauthenticated read-only port.
   */
  cluster?: { kubeconfig: string; clientCAFile: string; nodeName: string; nodeIp: string; port?: number };
}

/** kubelet's view of a pod, as `/pods` serves it (the fields the tests read). */
export interface KubePod {
  metadata: { name: string; namespace: string; uid: string };
  status: {
    phase?: string;
    conditions?: { type: string; status: string }[];
    podIP?: string;
    initContainerStatuses?: KubeContainerStatus[];
    containerStatuses?: KubeContainerStatus[];
  };
}

export interface KubeTerminated {
  exitCode: number;
  reason?: string;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  containerID?: string;
}

export interface KubeContainerStatus {
  name: string;
  ready: boolean;
  started?: boolean;
  restartCount: number;
  image: string;
  imageID: string;
  containerID?: string;
  state: { running?: { startedAt: string }; waiting?: { reason?: string }; terminated?: KubeTerminated };
  lastState: { terminated?: KubeTerminated };
  user?: { linux?: { uid: number; gid: number; supplementalGroups?: number[] } };
}

/** The v1 hierarchies mounted here (one folder per controller, the named systemd one too). */
function v1Hierarchies(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(' - cgroup '))
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${V1_CGROUPS}/`));
}

export class Kubelet {
  private proc: ChildProcess | undefined;
  private out = '';

  private constructor(
    readonly dir: string,
    readonly manifests: string,
    readonly podLogs: string,
    readonly cgroupRoot: string,
    /** 0 when kubelet is a cluster's node (its API then needs a client certificate). */
    readonly readOnlyPort: number,
    readonly healthzPort: number,
    private readonly args: string[],
    private readonly hostBefore: HostBefore,
  ) {}

  /** Writes the configuration and makes the cgroup root; `start()` runs kubelet. */
  static async prepare(opts: KubeletOptions): Promise<Kubelet> {
    if (!existsSync(KUBELET))
      throw new Error(`kubelet is not at ${KUBELET}: run scripts/setup --tests to build kubelet v1.36`);
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-kubelet-'));
    const manifests = path.join(dir, 'manifests');
    const podLogs = path.join(dir, 'pod-logs');
    await mkdir(manifests);
    await mkdir(podLogs);
    const cgroupRoot = `/${path.basename(dir)}`;
    const hostBefore = await captureHost();
    await makeCgroupRoot(cgroupRoot);
    const cluster = opts.cluster;
    const port = cluster?.port ?? (await freePort());
    const readOnlyPort = cluster ? 0 : await freePort();
    const healthzPort = await freePort();
    const config = {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      address: cluster?.nodeIp ?? '127.0.0.1',
      port,
      readOnlyPort,
      healthzBindAddress: '127.0.0.1',
      healthzPort,
      ...(cluster
        ? {
            authentication: {
              anonymous: { enabled: false },
              webhook: { enabled: true },
              x509: { clientCAFile: cluster.clientCAFile },
            },
            authorization: { mode: 'Webhook' },
            // Pods find the cluster's services through a DNS the cluster does not run: the host's.
            clusterDomain: 'cluster.local',
          }
        : {
            authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
            authorization: { mode: 'AlwaysAllow' },
          }),
      cgroupDriver: 'cgroupfs',
      cgroupRoot,
      failCgroupV1: false,
      failSwapOn: false,
      staticPodPath: manifests,
      fileCheckFrequency: '1s',
      syncFrequency: '5s',
      containerRuntimeEndpoint: opts.criEndpoint,
      imageServiceEndpoint: opts.criEndpoint,
      podLogsDir: podLogs,
      containerLogMaxSize: opts.containerLogMaxSize ?? '10Mi',
      containerLogMaxFiles: 3,
      containerLogMonitorInterval: '3s',
      // Nothing here should be evicted or garbage-collected for lack of disk: the tests read the figures.
      evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      serializeImagePulls: false,
      resolvConf: '/etc/resolv.conf',
      featureGates: opts.featureGates ?? {},
    };
    const configPath = path.join(dir, 'kubelet.json');
    await writeFile(configPath, JSON.stringify(config, null, 2));
    const args = [
      '--config',
      configPath,
      '--root-dir',
      path.join(dir, 'root'),
      '--cert-dir',
      path.join(dir, 'pki'),
      '--hostname-override',
      cluster?.nodeName ?? NODE_NAME,
      '--v',
      process.env.BERTH_KUBELET_VERBOSITY ?? '2',
      // The API server reaches kubelet (logs, exec, port-forward) at the node's address, where
      // kubelet listens (kubelet refuses a loopback node address).
      ...(cluster ? ['--kubeconfig', cluster.kubeconfig, '--node-ip', cluster.nodeIp] : []),
    ];
    return new Kubelet(dir, manifests, podLogs, cgroupRoot, readOnlyPort, healthzPort, args, hostBefore);
  }

  /** Starts kubelet and waits for its read-only port to answer. */
  async start(): Promise<void> {
    // One log across restarts: what happened before a restart explains what follows it.
    if (this.out) this.out += `\n----- kubelet restarted at ${new Date().toISOString()} -----\n`;
    const proc = spawn(KUBELET, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const keep = (b: Buffer): void => {
      this.out += b.toString();
      if (this.out.length > 4_000_000) this.out = this.out.slice(-2_000_000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`kubelet exited (${proc.signalCode ?? proc.exitCode}):\n${this.tail()}`);
      const healthy = await fetch(`http://127.0.0.1:${this.healthzPort}/healthz`, {
        signal: AbortSignal.timeout(5_000),
      }).then(
        (res) => res.ok,
        () => false,
      );
      if (healthy) return;
      if (Date.now() > deadline) throw new Error(`kubelet not ready in 60 s:\n${this.tail()}`);
      await sleep(200);
    }
  }

  /** SIGTERM, then SIGKILL after 20 s. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }

  /** kubelet's process id while it runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** The last lines kubelet logged (for failure messages). */
  tail(lines = 60): string {
    return this.out.split('\n').slice(-lines).join('\n');
  }

  log(): string {
    return this.out;
  }

  /** GET on the read-only port (standalone kubelet only). */
  async get<T = unknown>(urlPath: string): Promise<T> {
    if (this.readOnlyPort === 0) throw new Error(`kubelet serves no read-only port here (GET ${urlPath})`);
    const res = await fetch(`http://127.0.0.1:${this.readOnlyPort}${urlPath}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`GET ${urlPath}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  async pods(): Promise<KubePod[]> {
    return (await this.get<{ items: KubePod[] }>('/pods')).items ?? [];
  }

  /** kubelet's view of a static pod, by the name in its manifest. */
  async pod(name: string): Promise<KubePod | undefined> {
    return (await this.pods()).find((p) => p.metadata.name === `${name}-${NODE_NAME}`);
  }

  /** Waits until kubelet's view of the pod satisfies `ok`; the last view is in the error. */
  async waitForPod(
    name: string,
    what: string,
    ok: (p: KubePod) => boolean,
    timeoutMs = 90_000,
  ): Promise<KubePod> {
    const deadline = Date.now() + timeoutMs;
    let last: KubePod | undefined;
    for (;;) {
      last = await this.pod(name).catch(() => undefined);
      if (last && ok(last)) return last;
      if (Date.now() > deadline)
        throw new Error(
          `pod ${name}: not ${what} after ${timeoutMs / 1000} s; kubelet's view: ${JSON.stringify(last?.status, null, 1)}\nkubelet log:\n${this.tail(40)}`,
        );
      await sleep(500);
    }
  }

  /** Places a static pod manifest (JSON is YAML) in the folder kubelet watches. */
  async addPod(manifest: { metadata: { name: string } }): Promise<void> {
    // kubelet reads every file of the folder but hidden ones, and a file's path is part of its
    // static pod's UID: a visible temporary file would run as a pod of its own. Written hidden,
    // then renamed, so kubelet never sees it half written.
    const name = `${manifest.metadata.name}.json`;
    const hidden = path.join(this.manifests, `.${name}.tmp`);
    await writeFile(hidden, JSON.stringify(manifest, null, 1));
    await rename(hidden, path.join(this.manifests, name));
  }

  async removePod(name: string): Promise<void> {
    await rm(path.join(this.manifests, `${name}.json`));
  }

  /** Stops kubelet and removes its folder and cgroup root (after the runtime removed the pods). */
  async cleanup(): Promise<void> {
    await this.stop();
    await unmountUnder(this.dir);
    removeCgroupRoot(this.cgroupRoot);
    await restoreHost(this.hostBefore);
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The cgroup directories kubelet and the pods left under the root, besides its own QoS tree. */
  leftoverPodCgroups(): string[] {
    const out: string[] = [];
    for (const h of v1Hierarchies()) {
      const base = path.join(h, this.cgroupRoot);
      walkDirs(base, (d) => {
        if (/\/pod[0-9a-f-]{36}(\/|$)/.test(d)) out.push(d);
      });
    }
    return out;
  }
}

function walkDirs(dir: string, visit: (d: string) => void): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e);
    try {
      if (!statSync(p).isDirectory()) continue;
    } catch {
      continue;
    }
    visit(p);
    walkDirs(p, visit);
  }
}

/** kubelet refuses a cgroup root that does not exist in every hierarchy; cpuset needs cpus and mems. */
async function makeCgroupRoot(root: string): Promise<void> {
  for (const h of v1Hierarchies()) {
    const dir = path.join(h, root);
    await mkdir(dir, { recursive: true });
    if (path.basename(h) === 'cpuset') {
      for (const f of ['cpuset.cpus', 'cpuset.mems'])
        await writeFile(path.join(dir, f), await readFile(path.join(h, f), 'utf8'));
    }
  }
}

/** Removes the cgroup root, deepest first; a cgroup with a process left in it stays (and is reported). */
function removeCgroupRoot(root: string): void {
  for (const h of v1Hierarchies()) {
    const base = path.join(h, root);
    const dirs: string[] = [];
    walkDirs(base, (d) => dirs.push(d));
    for (const d of [...dirs.reverse(), base]) {
      try {
        rmdirSync(d);
      } catch {
        // gone, or still in use: leftoverPodCgroups() reports pod cgroups
      }
    }
  }
}

async function unmountUnder(dir: string): Promise<void> {
  for (const m of mountsUnder(`${dir}/`).reverse()) await execFileCapture('umount', ['-l', m]);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
