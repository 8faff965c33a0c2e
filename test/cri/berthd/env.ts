/**
 * A real berthd with its CRI socket, a loopback registry holding a busybox-static image with
 * the applets the CRI tests use (httpd and wget for the shared-netns pod), and a crictl config
 * pointing at the socket. Everything lives under one temporary directory.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileCapture, type ExecResult } from '../../../src/common/exec.js';
import { startBerthd, type RunningBerthd } from '../../helpers/berthd.js';
import { writeOciLayout, type FileSpec } from '../../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { leftoverSweep, tinyImageFiles } from '../../containers/support.js';
import { registryConfigArgs } from '../../images/support.js';

export const CRICTL = path.join(process.cwd(), '.tools/bin/crictl');
const EXTRA_APPLETS = ['httpd', 'wget', 'nc', 'env', 'hostname', 'sed'];

export interface CriEnv {
  reg: TestRegistry;
  berthd: RunningBerthd;
  work: string;
  /** `<registry>/cri/busybox:1` */
  image: string;
  criSocket: string;
  crictlConfig: string;
  crictl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
  cleanup(): Promise<void>;
}

async function busyboxCriFiles(moreApplets: readonly string[] = []): Promise<FileSpec[]> {
  const files = await tinyImageFiles();
  return [
    ...files,
    ...[...EXTRA_APPLETS, ...moreApplets].map((a) => ({
      path: `bin/${a}`,
      type: 'symlink' as const,
      linkname: 'busybox',
    })),
  ];
}

/**
 * Builds the busybox image (with `moreApplets` linked too, and `config` in its image config) in
 * `work` and pushes it to `reg` as `<repository>:1`; returns its reference.
 */
export async function pushBusyboxImage(
  reg: TestRegistry,
  work: string,
  repository: string,
  moreApplets: readonly string[] = [],
  config: { stopSignal?: string } = {},
): Promise<string> {
  const layout = path.join(work, `layout-${repository.replaceAll('/', '-')}`);
  await writeOciLayout(layout, 'busybox', {
    layers: [{ files: await busyboxCriFiles(moreApplets) }],
    cmd: ['/bin/sh'],
    ...config,
  });
  await reg.push(layout, 'busybox', repository, { destTag: '1' });
  return `${reg.host}/${repository}:1`;
}

/** `berthdArgs`: more flags for berthd (e.g. --metrics-address). */
export async function startCriEnv(berthdArgs: string[] = []): Promise<CriEnv> {
  const work = await mkdtemp(path.join(tmpdir(), 'berth-cri-e2e-'));
  const reg = await startRegistry();
  const image = await pushBusyboxImage(reg, work, 'cri/busybox');
  const berthd = await startBerthd({
    args: [...(await registryConfigArgs(work, [reg.host])), ...berthdArgs],
  });
  const criSocket = path.join(berthd.state, 'cri.sock');
  const crictlConfig = path.join(work, 'crictl.yaml');
  await writeFile(
    crictlConfig,
    `runtime-endpoint: unix://${criSocket}\nimage-endpoint: unix://${criSocket}\ntimeout: 60\n`,
  );
  return {
    reg,
    berthd,
    work,
    image,
    criSocket,
    crictlConfig,
    crictl: (args, opts = {}) =>
      execFileCapture(CRICTL, ['--config', crictlConfig, ...args], {
        timeoutMs: opts.timeoutMs ?? 90_000,
        ...(opts.input !== undefined ? { input: opts.input } : {}),
      }),
    async cleanup() {
      await berthd.stop();
      await leftoverSweep(berthd);
      await berthd.cleanup();
      await reg.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}
