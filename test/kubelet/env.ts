/**
 * The kubelet suite's node: a loopback registry with a busybox image holding what the pods run
 * (sh, httpd, nc, …), a runtime (Berth, or containerd as the reference) on its own test network,
 * and a standalone kubelet on its CRI socket.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileCapture } from '../../src/common/exec.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { CRICTL, pushBusyboxImage } from '../cri/berthd/env.js';
import { Kubelet, type KubeletOptions } from './kubelet.js';
import { startRuntime, type NodeRuntime, type RuntimeName } from './runtimes.js';
import type { ContainerdRelease } from '../../bench/containerd/config.js';

const MORE_APPLETS = ['date', 'rm', 'trap', 'test', 'expr'];

export interface KubeletEnv {
  kubelet: Kubelet;
  runtime: NodeRuntime;
  /** `<registry>/kubelet/busybox:1` */
  image: string;
  /** A host folder the pods mount (hostPath) and write their evidence to. */
  hostDir: string;
  crictl(args: string[]): Promise<string>;
  /** What the pods may leak on the host, the runtime's part and kubelet's pod cgroups. */
  footprint(sandboxIds: readonly string[]): Promise<Record<string, unknown>>;
  cleanup(): Promise<void>;
}

export async function startKubeletEnv(
  runtimeName: RuntimeName,
  opts: Omit<KubeletOptions, 'criEndpoint'> = {},
  containerdRelease: ContainerdRelease = '1.6',
  /** berthd only: more arguments (a bench's `--metrics-address`). */
  berthArgs: readonly string[] = [],
): Promise<KubeletEnv> {
  const work = await mkdtemp(path.join(tmpdir(), 'berth-kubelet-env-'));
  const hostDir = path.join(work, 'host');
  // Containers running as uid 1000 write their evidence here too.
  await mkdir(hostDir);
  await chmod(hostDir, 0o777);
  let reg: TestRegistry | undefined;
  let runtime: NodeRuntime | undefined;
  let kubelet: Kubelet | undefined;
  const cleanup = async (): Promise<void> => {
    await kubelet?.stop();
    const keep = process.env.BERTH_KUBELET_LOG_DIR;
    if (keep) {
      // kubelet's and the runtime's logs, kept for debugging a run (the work folder goes below).
      const dir = path.join(keep, runtimeName);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'kubelet.log'), kubelet?.log() ?? '');
      await runtime?.keepLogs(dir).catch(() => undefined);
    }
    await runtime?.stop();
    await kubelet?.cleanup();
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
  };
  try {
    reg = await startRegistry();
    const image = await pushBusyboxImage(reg, work, 'kubelet/busybox', MORE_APPLETS);
    runtime = await startRuntime(runtimeName, work, { host: reg.host }, containerdRelease, berthArgs);
    const criEndpoint = runtime.criEndpoint;
    kubelet = await Kubelet.prepare({ ...opts, criEndpoint });
    await kubelet.start();
    const node = runtime;
    return {
      kubelet,
      runtime,
      image,
      hostDir,
      async crictl(args) {
        const r = await execFileCapture(CRICTL, ['-r', criEndpoint, '-i', criEndpoint, ...args], {
          timeoutMs: 60_000,
        });
        if (r.code !== 0) throw new Error(`crictl ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      },
      async footprint(sandboxIds) {
        return { ...(await node.footprint(sandboxIds)), podCgroups: kubelet!.leftoverPodCgroups() };
      },
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
