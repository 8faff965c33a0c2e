/**
 * A one-node Kubernetes cluster on a node runtime (Berth, or the bench's containerd as the
 * reference): etcd, kube-apiserver, kube-controller-manager and kube-scheduler on loopback with
 * certificates made for the run, and kubelet registered as the node. Everything runs from the
 * tools cache (scripts/setup --tests builds it) under one folder, and `stop()` leaves nothing
 * behind: processes, pods, mounts, cgroups, iptables chains, the folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileCapture } from '../../src/common/exec.js';
import { TOOLS_BIN } from '../helpers/berthd.js';
import { freePort } from '../helpers/registry.js';
import { Kubelet } from '../kubelet/kubelet.js';
import {
  startRuntime,
  type NodeRuntime,
  type RuntimeName,
  type RuntimeRegistry,
} from '../kubelet/runtimes.js';
import { makePki, writeKubeconfig, type ClusterPki } from './pki.js';

export const CLUSTER_BINARIES = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
];
export const NODE_NAME = 'berth-node';
const SERVICE_CIDR = '10.96.0.0/16';
/** The `kubernetes` service's address: the first of the range. */
const SERVICE_IP = '10.96.0.1';

export interface ClusterPorts {
  apiserver: number;
  etcdClient: number;
  etcdPeer: number;
  kubelet: number;
}

export interface ClusterOptions {
  runtime: RuntimeName;
  /** A loopback registry the runtime reaches over plain HTTP, and the registries it mirrors. */
  registry?: RuntimeRegistry;
  /** Fixed ports (scripts/cluster); free ones are picked when absent. */
  ports?: ClusterPorts;
  /** The run's folder (made, and removed by stop); a new one under the temp folder by default. */
  dir?: string;
  featureGates?: Record<string, boolean>;
}

/** Refuses ports something already listens on, naming them (a second cluster on the same ports). */
export async function assertPortsFree(ports: ClusterPorts): Promise<void> {
  const busy: string[] = [];
  for (const [what, port] of Object.entries(ports)) {
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (!free) busy.push(`${port} (${what})`);
  }
  if (busy.length > 0)
    throw new Error(`ports in use: ${busy.join(', ')}; is another cluster running? (scripts/cluster --help)`);
}

interface Component {
  name: string;
  proc: ChildProcess;
  log: string;
}

export class Cluster {
  private readonly components: Component[] = [];
  private runtime: NodeRuntime | undefined;
  private kubelet: Kubelet | undefined;
  private nodeLink: NodeLink | undefined;
  private stopped = false;

  private constructor(
    readonly dir: string,
    readonly ports: ClusterPorts,
    readonly pki: ClusterPki,
    /** The operator's kubeconfig (system:masters). */
    readonly kubeconfig: string,
  ) {}

  get server(): string {
    return `https://127.0.0.1:${this.ports.apiserver}`;
  }

  get criEndpoint(): string {
    return this.runtime!.criEndpoint;
  }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    const missing = CLUSTER_BINARIES.filter((b) => !existsSync(path.join(TOOLS_BIN, b)));
    if (missing.length > 0)
      throw new Error(
        `not in the tools cache: ${missing.join(', ')}; run scripts/setup --tests to build them`,
      );
    const ports = opts.ports ?? {
      apiserver: await freePort(),
      etcdClient: await freePort(),
      etcdPeer: await freePort(),
      kubelet: await freePort(),
    };
    await assertPortsFree(ports);
    const dir = opts.dir ?? (await mkdtemp(path.join(tmpdir(), 'berth-cluster-')));
    await mkdir(path.join(dir, 'logs'), { recursive: true });
    const pki = await makePki(path.join(dir, 'pki'), NODE_NAME, SERVICE_IP);
    const server = `https://127.0.0.1:${ports.apiserver}`;
    const kubeconfig = (user: string, pair: ClusterPki['admin']): Promise<string> =>
      writeKubeconfig(path.join(dir, `${user}.kubeconfig`), server, pki.ca.cert, user, pair);
    const cluster = new Cluster(dir, ports, pki, await kubeconfig('admin', pki.admin));
    try {
      await cluster.startControlPlane(opts, {
        controllerManager: await kubeconfig('controller-manager', pki.controllerManager),
        scheduler: await kubeconfig('scheduler', pki.scheduler),
      });
      cluster.nodeLink = await addNodeAddress(ports.kubelet);
      cluster.runtime = await startRuntime(opts.runtime, dir, opts.registry);
      cluster.kubelet = await Kubelet.prepare({
        criEndpoint: cluster.runtime.criEndpoint,
        ...(opts.featureGates ? { featureGates: opts.featureGates } : {}),
        cluster: {
          kubeconfig: await kubeconfig('kubelet', pki.kubelet),
          clientCAFile: pki.ca.cert,
          nodeName: NODE_NAME,
          nodeIp: cluster.nodeLink.address,
          port: ports.kubelet,
        },
      });
      await cluster.kubelet.start();
      await cluster.waitFor('the node Ready', async () => {
        const r = await cluster.kubectl([
          'get',
          'node',
          NODE_NAME,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]);
        return r.code === 0 && r.stdout.trim() === 'True';
      });
      // Pods need the namespace's service account and root CA, which the controllers make.
      await cluster.waitFor('the default service account', async () => {
        const r = await cluster.kubectl(['get', 'configmap', 'kube-root-ca.crt', '-n', 'default']);
        const sa = await cluster.kubectl(['get', 'serviceaccount', 'default', '-n', 'default']);
        return r.code === 0 && sa.code === 0;
      });
    } catch (err) {
      await cluster.stop().catch(() => undefined);
      throw err;
    }
    return cluster;
  }

  private async startControlPlane(
    opts: ClusterOptions,
    kubeconfigs: { controllerManager: string; scheduler: string },
  ): Promise<void> {
    const { pki, ports, dir } = this;
    const etcdUrl = `https://127.0.0.1:${ports.etcdClient}`;
    const peerUrl = `https://127.0.0.1:${ports.etcdPeer}`;
    this.spawn('etcd', [
      '--name=berth',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=berth=${peerUrl}`,
      `--cert-file=${pki.etcd.cert}`,
      `--key-file=${pki.etcd.key}`,
      `--trusted-ca-file=${pki.ca.cert}`,
      '--client-cert-auth',
      `--peer-cert-file=${pki.etcd.cert}`,
      `--peer-key-file=${pki.etcd.key}`,
      `--peer-trusted-ca-file=${pki.ca.cert}`,
      '--peer-client-cert-auth',
      '--log-level=warn',
    ]);
    const gates = Object.entries(opts.featureGates ?? {}).map(([k, v]) => `${k}=${v}`);
    this.spawn('kube-apiserver', [
      `--etcd-servers=${etcdUrl}`,
      `--etcd-cafile=${pki.ca.cert}`,
      `--etcd-certfile=${pki.apiserverEtcdClient.cert}`,
      `--etcd-keyfile=${pki.apiserverEtcdClient.key}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${ports.apiserver}`,
      // The kubernetes service's endpoints would name the loopback address, which the API refuses.
      '--endpoint-reconciler-type=none',
      `--tls-cert-file=${pki.apiserver.cert}`,
      `--tls-private-key-file=${pki.apiserver.key}`,
      `--client-ca-file=${pki.ca.cert}`,
      `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      `--kubelet-client-certificate=${pki.apiserverKubeletClient.cert}`,
      `--kubelet-client-key=${pki.apiserverKubeletClient.key}`,
      '--kubelet-preferred-address-types=InternalIP',
      '--allow-privileged=true',
      ...(gates.length > 0 ? [`--feature-gates=${gates.join(',')}`] : []),
    ]);
    await this.waitFor('kube-apiserver ready', async () => {
      const r = await this.kubectl(['get', '--raw', '/readyz']);
      return r.code === 0 && r.stdout.trim() === 'ok';
    });
    // Both run as clients of the API server only: no serving port, no leader election.
    const controlPlaneClient = (kubeconfig: string): string[] => [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      '--secure-port=0',
      '--leader-elect=false',
      ...(gates.length > 0 ? [`--feature-gates=${gates.join(',')}`] : []),
    ];
    this.spawn('kube-controller-manager', [
      ...controlPlaneClient(kubeconfigs.controllerManager),
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.ca.cert}`,
      `--cluster-signing-cert-file=${pki.ca.cert}`,
      `--cluster-signing-key-file=${pki.ca.key}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
    ]);
    this.spawn('kube-scheduler', controlPlaneClient(kubeconfigs.scheduler));
  }

  private spawn(name: string, args: string[]): void {
    const log = path.join(this.dir, 'logs', `${name}.log`);
    const out = createWriteStream(log);
    const proc = spawn(path.join(TOOLS_BIN, name), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.pipe(out);
    proc.stderr!.pipe(out);
    this.components.push({ name, proc, log });
  }

  /** Polls `ok` until it holds; fails naming what did not happen, with the components that died. */
  async waitFor(what: string, ok: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const dead = this.components.filter((c) => c.proc.exitCode !== null || c.proc.signalCode !== null);
      if (dead.length > 0) {
        const tails = await Promise.all(dead.map(async (c) => `${c.name}:\n${await this.tail(c.name)}`));
        throw new Error(
          `waiting for ${what}: exited: ${dead.map((c) => c.name).join(', ')}\n${tails.join('\n')}`,
        );
      }
      if (await ok().catch(() => false)) return;
      if (Date.now() > deadline)
        throw new Error(`${what}: not after ${timeoutMs / 1000} s (logs in ${this.dir}/logs)`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  /** The last lines a component logged. */
  async tail(name: string, lines = 30): Promise<string> {
    if (name === 'kubelet') return this.kubelet?.tail(lines) ?? '';
    const text = await readFile(path.join(this.dir, 'logs', `${name}.log`), 'utf8').catch(() => '');
    return text.split('\n').slice(-lines).join('\n');
  }

  /** The operator's kubeconfig, and a cache of the cluster's own (not the host's ~/.kube). */
  kubectlFlags(): string[] {
    return ['--kubeconfig', this.kubeconfig, '--cache-dir', path.join(this.dir, 'kube-cache')];
  }

  /** Runs kubectl as the operator; never throws on a non-zero exit. */
  kubectl(args: string[], timeoutMs = 60_000): ReturnType<typeof execFileCapture> {
    return execFileCapture(path.join(TOOLS_BIN, 'kubectl'), [...this.kubectlFlags(), ...args], {
      timeoutMs,
    });
  }

  /** What this cluster holds on the host: its processes, its node link, its folders. */
  held(): { pids: number[]; links: string[]; dirs: string[]; network: string | undefined } {
    return {
      network: this.runtime?.network,
      pids: [...this.components.map((c) => c.proc.pid), this.kubelet?.pid].filter(
        (p): p is number => p !== undefined,
      ),
      links: this.nodeLink ? [this.nodeLink.name] : [],
      dirs: [this.dir, ...(this.kubelet ? [this.kubelet.dir] : [])],
    };
  }

  /** Stops kubelet, the runtime (removing its pods), then the control plane; removes the folder. */
  async stop(opts: { keepLogsIn?: string } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.kubelet?.stop();
    if (opts.keepLogsIn) {
      await mkdir(opts.keepLogsIn, { recursive: true });
      await execFileCapture('cp', ['-r', path.join(this.dir, 'logs'), opts.keepLogsIn]);
      const logs = path.join(opts.keepLogsIn, 'logs');
      await writeFile(path.join(logs, 'kubelet.log'), this.kubelet?.log() ?? '');
      await this.runtime?.keepLogs(logs).catch(() => undefined);
    }
    if (this.runtime) {
      // The pods kubelet leaves go through the runtime (CNI DEL, cgroups, mounts), not a sweep.
      const r = await execFileCapture(
        path.join(TOOLS_BIN, 'crictl'),
        // crictl's own timeout is 2 s a call: a sandbox's stop waits out its containers' grace.
        [
          '-r',
          this.runtime.criEndpoint,
          '-i',
          this.runtime.criEndpoint,
          '-t',
          '120s',
          'rmp',
          '--all',
          '--force',
        ],
        { timeoutMs: 180_000 },
      );
      if (r.code !== 0) process.stderr.write(`cluster: removing the pods failed: ${r.stderr}\n`);
    }
    await this.runtime?.stop();
    await this.kubelet?.cleanup();
    for (const c of [...this.components].reverse()) await stopProcess(c.proc);
    if (this.nodeLink) await execFileCapture('ip', ['link', 'del', this.nodeLink.name]);
    await rm(this.dir, { recursive: true, force: true });
  }
}

interface NodeLink {
  name: string;
  address: string;
}

/**
 * The node's address: kubelet refuses a loopback one, and the host's own would expose kubelet to
 * the network. A link of the cluster's own holds an address from the benchmarking range
 * (198.18.0.0/15, RFC 2544: never routed), unique per kubelet port; only this host reaches it.
 */
async function addNodeAddress(kubeletPort: number): Promise<NodeLink> {
  const link: NodeLink = {
    name: `berthnode${kubeletPort}`,
    address: `198.18.${Math.floor(kubeletPort / 256)}.${kubeletPort % 256}`,
  };
  const steps = [
    // A bridge with no ports (this kernel has no dummy links): local traffic needs no carrier.
    ['link', 'add', link.name, 'type', 'bridge'],
    ['addr', 'add', `${link.address}/32`, 'dev', link.name],
    ['link', 'set', link.name, 'up'],
  ];
  for (const step of steps) {
    const r = await execFileCapture('ip', step);
    if (r.code !== 0) {
      await execFileCapture('ip', ['link', 'del', link.name]);
      throw new Error(`ip ${step.join(' ')}: ${r.stderr.trim()}`);
    }
  }
  return link;
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}
