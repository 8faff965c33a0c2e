/**
 * An isolated containerd (Debian's 1.6, or the 2.x setup builds) for side-by-side benchmarks and
 * reference runs: started as a child with its
 * own config, root, state, socket, CRI sandbox image (built here, imported from a local archive),
 * CNI network and runc root, and stopped leaving nothing behind. Never touches /var/lib/containerd
 * or containerd's default socket.
 *
 *   const cd = await ContainerdHarness.start();
 *   try { await cd.importImage(tiny.archivePath, tiny.name); await cd.ctr(cd.runArgs(tiny.name, 'c1', ['echo', 'hi'])); }
 *   finally { await cd.stop(); }
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnavailableError } from '../../src/common/errors.js';
import { execFile, execFileCapture, type ExecOptions, type ExecResult } from '../../src/common/exec.js';
import { TOOLS_BIN } from '../../test/helpers/berthd.js';
import { toolVersion } from '../../test/helpers/versions.js';
import {
  cniConflist,
  containerdConfig,
  hostsToml,
  layoutFor,
  type ContainerdLayout,
  type ContainerdRelease,
} from './config.js';
import {
  deleteLink,
  freeSubnet,
  killPids,
  pidsMentioning,
  removeCgroupTree,
  removeCniResults,
  removeCreatedDirs,
  removeRuncContainers,
  removeShimSockets,
  restoreIpForward,
  shimSocketName,
  snapshotHost,
  unmountUnder,
  type HostBefore,
} from './host-state.js';
import { buildPauseImage } from './images.js';

export const CRICTL = process.env.BERTH_CRICTL ?? join(TOOLS_BIN, 'crictl');
/** The namespace the CRI plugin keeps its containers in. */
export const CRI_NAMESPACE = 'k8s.io';

/**
 * The folder of a release's containerd, ctr and runc shim: 2.x is built by setup into a folder of
 * its own in the tools cache (so it never shadows Debian's on PATH); Debian's 1.6 is in /usr/bin.
 */
export function containerdBinDir(release: ContainerdRelease): string {
  return release === '1.6'
    ? '/usr/bin'
    : join(TOOLS_BIN, '..', `containerd-${toolVersion('CONTAINERD_VERSION')}`, 'bin');
}

export interface ContainerdHarnessOptions {
  /** Debian's 1.6 (the default: the suites' reference failures were recorded on it) or 2.x. */
  release?: ContainerdRelease;
  /** Start containerd with `--log-level debug` (its log is `<dir>/containerd.log`). */
  debug?: boolean;
  /** How long to wait for the socket to answer (default 30 s). */
  startTimeoutMs?: number;
  /** Where its directory (root, state, config) is made; the host's temp dir by default. */
  parentDir?: string;
  /**
   * Registry mirrors by upstream host (`registry.k8s.io` → `http://127.0.0.1:5000`), written as
   * the CRI plugin's hosts.toml files; none by default (the benches import their images).
   */
  registryMirrors?: Record<string, string>;
}

/** Starts containerd with its output appended to the layout's log. */
async function spawnContainerd(layout: ContainerdLayout, args: readonly string[]): Promise<ChildProcess> {
  const log = await open(layout.logPath, 'a');
  // The release's folder first on PATH: containerd finds its runc shim there.
  const bin = containerdBinDir(layout.release);
  const child = spawn(join(bin, 'containerd'), args, {
    stdio: ['ignore', log.fd, log.fd],
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
  });
  await log.close();
  return child;
}

/** A running isolated containerd; `stop()` must be called (it is idempotent). */
export class ContainerdHarness {
  /** The ctr namespace benchmarks run in, unique per instance; also the cgroup parent's name. */
  readonly namespace: string;
  private stopped = false;
  /** Shim ids seen while running, for exact removal of their sockets under /run/containerd/s. */
  private readonly shimIds = new Map<string, Set<string>>();

  private constructor(
    readonly layout: ContainerdLayout,
    private child: ChildProcess,
    private readonly before: HostBefore,
    suffix: string,
    private readonly args: readonly string[],
  ) {
    this.namespace = `berth-bench-${suffix}`;
  }

  /** Writes the config, builds and imports the pause image, starts containerd and waits until it answers. */
  static async start(opts: ContainerdHarnessOptions = {}): Promise<ContainerdHarness> {
    const before = await snapshotHost();
    const suffix = randomBytes(4).toString('hex');
    const dir = await mkdtemp(join(opts.parentDir ?? tmpdir(), 'berth-containerd-'));
    let harness: ContainerdHarness | undefined;
    try {
      const pause = await buildPauseImage(dir);
      const layout = layoutFor(dir, suffix, await freeSubnet(), pause.name, opts.release ?? '1.6');
      for (const d of [layout.root, layout.state, layout.runcRoot, layout.fifoDir, layout.cniConfDir])
        await mkdir(d, { recursive: true });
      const mirrors = Object.entries(opts.registryMirrors ?? {});
      if (mirrors.length > 0) {
        layout.registryConfigDir = join(dir, 'certs.d');
        for (const [upstream, mirror] of mirrors) {
          await mkdir(join(layout.registryConfigDir, upstream), { recursive: true });
          await writeFile(
            join(layout.registryConfigDir, upstream, 'hosts.toml'),
            hostsToml(upstream, mirror),
          );
        }
      }
      await writeFile(layout.configPath, containerdConfig(layout));
      await writeFile(join(layout.cniConfDir, '10-berth-bench.conflist'), cniConflist(layout));
      const args = ['--config', layout.configPath, ...(opts.debug ? ['--log-level', 'debug'] : [])];
      harness = new ContainerdHarness(layout, await spawnContainerd(layout, args), before, suffix, args);
      await harness.waitReady(opts.startTimeoutMs ?? 30_000);
      await harness.importImage(pause.archivePath, pause.name, CRI_NAMESPACE);
      return harness;
    } catch (err) {
      if (harness) await harness.stop();
      else await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * SIGKILLs containerd and starts it again on the same root and state, as a node's crashed
   * runtime comes back; its shims and containers keep running meanwhile.
   */
  async killAndRestart(timeoutMs = 30_000): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
    this.child.kill('SIGKILL');
    await exited;
    this.child = await spawnContainerd(this.layout, this.args);
    await this.waitReady(timeoutMs);
  }

  get socket(): string {
    return this.layout.socket;
  }

  /** This release's ctr. */
  get ctrPath(): string {
    return join(containerdBinDir(this.layout.release), 'ctr');
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: ExecResult | undefined;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) break;
      last = await execFileCapture(this.ctrPath, ['--address', this.socket, 'version'], { timeoutMs: 5_000 });
      if (last.code === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    const log = await readFile(this.layout.logPath, 'utf8').catch(() => '');
    throw new UnavailableError(
      `isolated containerd did not answer on ${this.socket} within ${timeoutMs} ms` +
        ` (${last?.stderr.trim() ?? 'exited'}); log tail:\n${log.split('\n').slice(-15).join('\n')}`,
    );
  }

  /** Runs `ctr --address <socket> --namespace <ns> ...args` and returns stdout; throws with stderr on failure. */
  ctr(args: readonly string[], namespace = this.namespace, opts: ExecOptions = {}): Promise<string> {
    this.noteShimIds(namespace, args);
    return execFile(this.ctrPath, ['--address', this.socket, '--namespace', namespace, ...args], opts);
  }

  /** As `ctr`, but returns the exit status and output without throwing. */
  ctrCapture(
    args: readonly string[],
    namespace = this.namespace,
    opts: ExecOptions = {},
  ): Promise<ExecResult> {
    this.noteShimIds(namespace, args);
    return execFileCapture(this.ctrPath, ['--address', this.socket, '--namespace', namespace, ...args], opts);
  }

  /** Runs crictl against the CRI plugin on this socket and returns stdout. */
  crictl(args: readonly string[], opts: ExecOptions = {}): Promise<string> {
    const endpoint = `unix://${this.socket}`;
    return execFile(
      CRICTL,
      ['--runtime-endpoint', endpoint, '--image-endpoint', endpoint, '--timeout', '30s', ...args],
      opts,
    );
  }

  /** Imports an OCI archive (see images.ts) and checks `name` is now listed. */
  async importImage(archive: string, name: string, namespace = this.namespace): Promise<void> {
    await this.ctr(['images', 'import', archive], namespace);
    const listed = await this.ctr(['images', 'list', '-q'], namespace);
    if (!listed.split('\n').includes(name))
      throw new UnavailableError(
        `ctr images import ${archive} did not create ${name}; it listed: ${listed.trim()}`,
      );
  }

  /**
   * Arguments for `ctr run` that keep everything in this instance: its runc root, FIFO directory
   * and a cgroup under `/<namespace>/`. Add `--rm` or `-d` in `flags`.
   */
  runArgs(
    image: string,
    id: string,
    command: readonly string[],
    flags: readonly string[] = ['--rm'],
  ): string[] {
    return [
      'run',
      ...flags,
      '--runc-root',
      join(this.layout.runcRoot, this.namespace),
      '--runc-binary',
      this.layout.runcBinary,
      '--fifo-dir',
      this.layout.fifoDir,
      '--cgroup',
      `/${this.namespace}/${id}`,
      image,
      id,
      ...command,
    ];
  }

  /** Remembers container ids passed to `ctr run`, whose shim sockets are named after them. */
  private noteShimIds(namespace: string, args: readonly string[]): void {
    if (args[0] !== 'run') return;
    const positional = args.filter(
      (a, i) => !a.startsWith('-') && !args[i - 1]?.match(/^--(runc-root|fifo-dir|cgroup)$/),
    );
    const id = positional[2];
    if (id) this.idsOf(namespace).add(id);
  }

  private idsOf(namespace: string): Set<string> {
    let ids = this.shimIds.get(namespace);
    if (!ids) this.shimIds.set(namespace, (ids = new Set()));
    return ids;
  }

  /** Removes CRI pods, then every container and task of every namespace, through containerd itself. */
  private async removeContainers(): Promise<void> {
    const pods = await this.crictl(['pods', '-q']).catch(() => '');
    for (const pod of pods.split('\n').filter(Boolean)) this.idsOf(CRI_NAMESPACE).add(pod);
    await this.crictl(['rmp', '--force', '--all']).catch(() => undefined);
    const namespaces = await this.ctrCapture(['namespaces', 'list', '-q']);
    for (const ns of namespaces.stdout.split('\n').filter(Boolean)) {
      const containers = await this.ctrCapture(['containers', 'list', '-q'], ns);
      for (const id of containers.stdout.split('\n').filter(Boolean)) {
        this.idsOf(ns).add(id);
        await this.ctrCapture(['tasks', 'kill', '--signal', 'SIGKILL', id], ns);
        await this.ctrCapture(['tasks', 'delete', '--force', id], ns);
        await this.ctrCapture(['containers', 'delete', id], ns);
      }
    }
  }

  /**
   * Removes containers via ctr, stops containerd, kills shims left over, force-deletes runc
   * containers, unmounts, and removes the directory, shim sockets, CNI cache files, bridge,
   * cgroups and the ip_forward change this instance made. Safe to call twice.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const l = this.layout;
    if (this.child.exitCode === null && this.child.signalCode === null) {
      await this.removeContainers().catch(() => undefined);
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await killPids(await pidsMentioning(l.socket));
    await removeRuncContainers(l.runcRoot);
    await unmountUnder(l.dir);
    await rm(l.dir, { recursive: true, force: true });
    for (const [ns, ids] of this.shimIds)
      await removeShimSockets([...ids].map((id) => shimSocketName(l.socket, ns, id)));
    await removeCniResults(l.networkName);
    await deleteLink(l.bridge);
    await removeCgroupTree(this.namespace);
    await restoreIpForward(this.before);
    await removeCreatedDirs(this.before);
  }
}
