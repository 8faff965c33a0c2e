/**
 * berthd for a benchmark: this build's daemon as a child process with its own root and state under
 * `dir`, ready once its CRI socket answers crictl. The same start for every bench that talks to
 * berthd through a client, so each measures the daemon as a node runs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile } from '../../src/common/exec.js';
import { leftoverSweep } from '../../test/containers/support.js';
import { TOOLS_BIN } from '../../test/helpers/berthd.js';
import { setupNetwork, teardownNetwork, type SandboxTestEnv } from '../../test/sandboxes/support.js';
import { CRICTL } from '../containerd/harness.js';

/** berthd from this build (test/helpers/berthd.ts finds it relative to the sources, not dist). */
const BERTHD = fileURLToPath(new URL('../../src/daemon/main.js', import.meta.url));

export interface BenchBerthd {
  proc: ChildProcess;
  /** A CNI network of its own (the plugins of Berth's default and of the containerd harness), removed at stop. */
  network: SandboxTestEnv;
  root: string;
  state: string;
  /** `unix://…/cri.sock` */
  criEndpoint: string;
}

/**
 * Starts berthd with `args` after its root, state, node id and log level. Environment:
 * BERTH_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles it; BERTH_BENCH_BERTHD_LOG=FILE
 * keeps its log (BERTH_LOG_LEVEL=debug: each step's duration).
 */
export async function startBenchBerthd(dir: string, args: string[]): Promise<BenchBerthd> {
  const root = path.join(dir, 'berth-root');
  const state = path.join(dir, 'berth-state');
  await mkdir(root, { recursive: true });
  await mkdir(state, { recursive: true });
  // Not Berth's default network: its bridge would stay on the host after the bench.
  const network = await setupNetwork('bench');
  const proc = spawn(
    process.execPath,
    [
      ...(process.env.BERTH_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      BERTHD,
      '--root',
      root,
      '--state',
      state,
      '--node-id',
      `bench-${randomBytes(3).toString('hex')}`,
      '--log-level',
      process.env.BERTH_LOG_LEVEL ?? 'warn',
      ...network.args,
      ...args,
    ],
    {
      stdio: [
        'ignore',
        'inherit',
        process.env.BERTH_BENCH_BERTHD_LOG ? openSync(process.env.BERTH_BENCH_BERTHD_LOG, 'a') : 'inherit',
      ],
      env: { ...process.env, PATH: `${TOOLS_BIN}:${process.env.PATH ?? ''}` },
    },
  );
  const criEndpoint = `unix://${path.join(state, 'cri.sock')}`;
  for (;;) {
    if (proc.exitCode !== null) {
      await teardownNetwork(network);
      throw new Error(`berthd exited ${proc.exitCode} before it was ready`);
    }
    const answers =
      existsSync(path.join(state, 'berth.sock')) &&
      (await execFile(CRICTL, ['-r', criEndpoint, 'version']).then(
        () => true,
        () => false,
      ));
    if (answers) return { proc, network, root, state, criEndpoint };
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * SIGTERM, then waits for berthd to exit (it flushes and stops its embedded services first), then
 * removes what its pods may have left (mounts, conmons, netns) and its network.
 */
export async function stopBenchBerthd(b: BenchBerthd): Promise<void> {
  if (b.proc.exitCode === null && b.proc.signalCode === null) {
    const exited = new Promise((resolve) => b.proc.once('exit', resolve));
    b.proc.kill('SIGTERM');
    await exited;
  }
  await leftoverSweep(b);
  await teardownNetwork(b.network);
}
