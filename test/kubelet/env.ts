/**
 * The kubelet suite's node: a loopback registry with a busybox image holding what the pods run
 * (sh, httpd, nc, …), a runtime on its own test network, and a standalone kubelet on its CRI socket.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileCapture } from '../../src/common/exec.js';
import { runCli, startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { writeOciLayout } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { busyboxCriFiles, CRICTL } from '../cri/berthd/env.js';
import { conmonsUnder, leftoverSweep } from '../containers/support.js';
import { registryConfigArgs } from '../images/support.js';
import {
  disposeDaemon,
  hostFootprint,
  setupNetwork,
  teardownNetwork,
  type SandboxTestEnv,
} from '../sandboxes/support.js';
import { Kubelet, type KubeletOptions } from './kubelet.js';

const MORE_APPLETS = ['date', 'rm', 'trap', 'test', 'expr'];

export interface KubeletEnv {
  kubelet: Kubelet;
  berthd: RunningBerthd;
  /** `<registry>/kubelet/busybox:1` */
  image: string;
  /** A host folder the pods mount (hostPath) and write their evidence to. */
  hostDir: string;
  criEndpoint: string;
  crictl(args: string[]): Promise<string>;
  /** SIGKILLs berthd and starts it again on the same root and state. */
  killAndRestartRuntime(): Promise<void>;
  /** What the pods may leak on the host: network, mounts, records, conmon processes, pod cgroups. */
  footprint(sandboxIds: readonly string[]): Promise<Record<string, unknown>>;
  cleanup(): Promise<void>;
}

export async function startKubeletEnv(opts: Omit<KubeletOptions, 'criEndpoint'> = {}): Promise<KubeletEnv> {
  const work = await mkdtemp(path.join(tmpdir(), 'berth-kubelet-env-'));
  const hostDir = path.join(work, 'host');
  // Containers running as uid 1000 write their evidence here too.
  await mkdir(hostDir);
  await chmod(hostDir, 0o777);
  let reg: TestRegistry | undefined;
  let net: SandboxTestEnv | undefined;
  let berthd: RunningBerthd | undefined;
  let kubelet: Kubelet | undefined;
  const cleanup = async (): Promise<void> => {
    await kubelet?.stop();
    if (berthd) {
      const keep = process.env.BERTH_KUBELET_LOG_DIR;
      if (keep) {
        // Both daemons' logs and Berth's event log, kept for debugging a run (the work folder goes below).
        await mkdir(keep, { recursive: true });
        await writeFile(path.join(keep, 'kubelet.log'), kubelet?.log() ?? '');
        const events = await runCli(berthd.socket, ['events', '--json']);
        await writeFile(path.join(keep, 'events.jsonl'), events.stdout);
      }
      await berthd.stop();
      if (keep) await writeFile(path.join(keep, 'berthd.log'), berthd.output());
      await leftoverSweep(berthd);
    }
    await kubelet?.cleanup();
    await disposeDaemon(berthd);
    await teardownNetwork(net);
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
  };
  try {
    reg = await startRegistry();
    const layout = path.join(work, 'layout');
    const files = [
      ...(await busyboxCriFiles()),
      ...MORE_APPLETS.map((a) => ({ path: `bin/${a}`, type: 'symlink' as const, linkname: 'busybox' })),
    ];
    await writeOciLayout(layout, 'busybox', { layers: [{ files }], cmd: ['/bin/sh'] });
    await reg.push(layout, 'busybox', 'kubelet/busybox', { destTag: '1' });
    net = await setupNetwork('kl');
    const berthdArgs = [...net.args, ...(await registryConfigArgs(work, [reg.host]))];
    berthd = await startBerthd({ args: berthdArgs });
    const criEndpoint = `unix://${path.join(berthd.state, 'cri.sock')}`;
    kubelet = await Kubelet.prepare({ ...opts, criEndpoint });
    await kubelet.start();
    const env: KubeletEnv = {
      kubelet,
      berthd,
      image: `${reg.host}/kubelet/busybox:1`,
      hostDir,
      criEndpoint,
      async crictl(args) {
        const r = await execFileCapture(CRICTL, ['-r', criEndpoint, '-i', criEndpoint, ...args], {
          timeoutMs: 60_000,
        });
        if (r.code !== 0) throw new Error(`crictl ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      },
      async killAndRestartRuntime() {
        const d = berthd!;
        d.proc.kill('SIGKILL');
        await new Promise<void>((resolve) => {
          if (d.proc.exitCode !== null || d.proc.signalCode !== null) resolve();
          else d.proc.once('exit', () => resolve());
        });
        berthd = await startBerthd({ root: d.root, state: d.state, nodeId: d.nodeId, args: berthdArgs });
        env.berthd = berthd;
      },
      async footprint(sandboxIds) {
        const d = berthd!;
        return {
          ...(await hostFootprint(net!, d, sandboxIds)),
          conmons: conmonsUnder(d.state),
          podCgroups: kubelet!.leftoverPodCgroups(),
        };
      },
      cleanup,
    };
    return env;
  } catch (err) {
    await cleanup();
    throw err;
  }
}
