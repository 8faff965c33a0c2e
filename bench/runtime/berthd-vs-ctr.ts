/**
 * End to end, Berth through berthd vs containerd through ctr, in the same run on the same busybox
 * binary (Berth's image from a loopback registry, containerd's imported from an archive):
 *  (a) `berth run --rm tiny echo hi` (the CLI process: pull check, create and start workflows,
 *      log follow, remove workflow) vs `ctr run --rm tiny echo hi`; also the same calls made
 *      in-process through the API client (no CLI start-up) to show where the time goes;
 *  (b) create+start of a long-running container: `berth run -d` vs `ctr run -d`;
 *  (c) daemon-side memory per running container: conmon vs containerd-shim-runc-v2.
 * Usage (after node scripts/build.mjs): node dist/bench/runtime/berthd-vs-ctr.js [runs=50] [containers=20]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../src/api/client.js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerStatus } from '../../src/daemon/containers.js';
import { ContainerdHarness } from '../containerd/harness.js';
import { pidsMentioning } from '../containerd/host-state.js';
import { buildTinyImage } from '../containerd/images.js';
import { writeOciLayout } from '../../test/helpers/oci-images.js';
import { startRegistry } from '../../test/helpers/registry.js';
import { leftoverSweep, tinyImageFiles } from '../../test/containers/support.js';
import { registryConfigArgs } from '../../test/images/support.js';

// From dist/bench/runtime (where this runs) or bench/runtime: the repository is where package.json is.
const REPO = [1, 2, 3]
  .map((up) => fileURLToPath(new URL('../'.repeat(up), import.meta.url)))
  .find((d) => existsSync(join(d, 'package.json')) && existsSync(join(d, 'dist/src/cli/main.js')))!;
const BERTH_CLI = join(REPO, 'dist/src/cli/main.js');
const env = { ...process.env, PATH: `${join(REPO, '.tools/bin')}:${process.env.PATH ?? ''}` };

interface RunningBerthd {
  proc: ChildProcess;
  root: string;
  state: string;
  socket: string;
  client: ApiClient;
}

async function startBerthd(base: string, args: string[]): Promise<RunningBerthd> {
  const root = join(base, 'root');
  const state = join(base, 'state');
  const socket = join(state, 'berth.sock');
  const logPath = process.env.BERTH_BENCH_BERTHD_LOG;
  const logFd = logPath ? openSync(logPath, 'a') : 'ignore';
  const proc = spawn(
    process.execPath,
    [join(REPO, 'dist/src/daemon/main.js'), '--root', root, '--state', state, '--node-id', 'bench', ...args],
    // BERTH_BENCH_BERTHD_LOG=file keeps berthd's log (with BERTH_LOG_LEVEL=debug: each step's duration).
    { env, stdio: ['ignore', 'ignore', logFd] },
  );
  const client = new ApiClient(socket);
  for (let i = 0; i < 1200; i++) {
    if (proc.exitCode !== null) throw new Error('berthd exited before ready');
    if (
      existsSync(socket) &&
      (await client.get('/v1/health').then(
        () => true,
        () => false,
      ))
    )
      break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, root, state, socket, client };
}

const runs = Number(process.argv[2] ?? 50);
const containers = Number(process.argv[3] ?? 20);
const WARMUP = 2;

const median = (v: readonly number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const ms = (v: number) => v.toFixed(1);

function berthCli(
  socket: string,
  args: string[],
): Promise<{ ms: number; stdout: string; code: number | null }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BERTH_CLI, '--socket', socket, ...args], { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0) reject(new Error(`berth ${args.join(' ')} failed (${code}): ${stderr}`));
      else resolve({ ms: performance.now() - t0, stdout, code });
    });
  });
}

/** The same steps as `berth run --rm`, in-process: what berthd costs without the CLI's start-up. */
const API_PHASES = ['create', 'start', 'logs until exit', 'remove'] as const;
type ApiPhases = Record<(typeof API_PHASES)[number], number>;

async function apiRunEcho(d: RunningBerthd, image: string, i: number): Promise<ApiPhases> {
  const t0 = performance.now();
  const c = await d.client.post<ContainerStatus>('/v1/containers', {
    name: `api-echo-${i}`,
    image,
    command: ['echo', 'hi'],
  });
  const t1 = performance.now();
  await d.client.post(`/v1/containers/${c.id}/start`);
  const t2 = performance.now();
  let out = '';
  for await (const l of d.client.stream<{ text: string }>(`/v1/containers/${c.id}/logs`, { follow: 'true' }))
    out += l.text + '\n';
  const t3 = performance.now();
  await d.client.delete(`/v1/containers/${c.id}?force=true`);
  if (out !== 'hi\n') throw new Error(`api run printed ${JSON.stringify(out)}`);
  const t4 = performance.now();
  return { create: t1 - t0, start: t2 - t1, 'logs until exit': t3 - t2, remove: t4 - t3 };
}

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-e2e-'));
  const reg = await startRegistry();
  let berthd: RunningBerthd | undefined;
  let cd: ContainerdHarness | undefined;
  try {
    console.log(
      `berthd vs containerd ${new Date().toISOString()}, ${runs} runs, ${containers} containers, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    await writeOciLayout(join(dir, 'layout'), 'tiny', {
      layers: [{ files: await tinyImageFiles() }],
      cmd: ['/bin/sh'],
    });
    await reg.push(join(dir, 'layout'), 'tiny', 'bench/tiny', { destTag: 'latest' });
    const image = `${reg.host}/bench/tiny:latest`;
    berthd = await startBerthd(join(dir, 'berthd'), await registryConfigArgs(dir, [reg.host]));
    const socket = berthd.socket;
    await berthCli(socket, ['run', '--rm', image, 'true']); // pulls
    const tiny = await buildTinyImage(dir);
    cd = await ContainerdHarness.start();
    await cd.importImage(tiny.archivePath, tiny.name);

    const berthRun: number[] = [];
    const apiRun: number[] = [];
    const apiPhases: ApiPhases[] = [];
    const ctrRun: number[] = [];
    for (let i = 0; i < runs + WARMUP; i++) {
      const b = await berthCli(socket, ['run', '--rm', image, 'echo', 'hi']);
      if (b.stdout !== 'hi\n') throw new Error(`berth run printed ${JSON.stringify(b.stdout)}`);
      const a = await apiRunEcho(berthd, image, i);
      const t0 = performance.now();
      const out = await cd.ctr(cd.runArgs(tiny.name, `e2e-${i}`, ['echo', 'hi']));
      const c = performance.now() - t0;
      if (out !== 'hi\n') throw new Error(`ctr run printed ${JSON.stringify(out)}`);
      if (i >= WARMUP) {
        berthRun.push(b.ms);
        apiRun.push(Object.values(a).reduce((x, y) => x + y, 0));
        apiPhases.push(a);
        ctrRun.push(c);
      }
    }
    console.log(`\n(a) run --rm echo hi, median ms (ratio to ctr run --rm)`);
    console.log(
      `  berth run --rm (CLI)        ${ms(median(berthRun))} (${(median(berthRun) / median(ctrRun)).toFixed(2)}x)`,
    );
    console.log(
      `  same calls through the API  ${ms(median(apiRun))} (${(median(apiRun) / median(ctrRun)).toFixed(2)}x)`,
    );
    console.log(`  ctr run --rm                ${ms(median(ctrRun))}`);
    console.log(
      `  the API calls by phase (median ms): ${API_PHASES.map((p) => `${p} ${ms(median(apiPhases.map((a) => a[p])))}`).join(', ')}`,
    );

    const berthStart: number[] = [];
    const ctrStart: number[] = [];
    const berthIds: string[] = [];
    for (let i = 0; i < containers; i++) {
      const b = await berthCli(socket, ['run', '-d', image, 'sleep', '3600']);
      berthStart.push(b.ms);
      berthIds.push(b.stdout.trim());
      const t0 = performance.now();
      await cd.ctr(cd.runArgs(tiny.name, `e2e-sleep-${i}`, ['sleep', '3600'], ['-d', '--null-io']));
      ctrStart.push(performance.now() - t0);
    }
    console.log(`\n(b) create+start of sleep 3600, median ms over ${containers}`);
    console.log(
      `  berth run -d  ${ms(median(berthStart))} (${(median(berthStart) / median(ctrStart)).toFixed(2)}x)`,
    );
    console.log(`  ctr run -d    ${ms(median(ctrStart))}`);

    const conmons: number[] = [];
    for (const pid of await pidsMentioning(berthd.state)) {
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
      if (comm === 'conmon') conmons.push(await rssKiB(pid));
    }
    const shims: number[] = [];
    for (const pid of await pidsMentioning(cd.socket)) {
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
      if (comm.startsWith('containerd-shim')) shims.push(await rssKiB(pid));
    }
    const avg = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    console.log(`\n(c) RSS per running container, KiB`);
    console.log(`  conmon (${conmons.length})                   ${avg(conmons).toFixed(0)}`);
    console.log(`  containerd-shim-runc-v2 (${shims.length})    ${avg(shims).toFixed(0)}`);
    console.log(`  ratio ${(avg(conmons) / avg(shims)).toFixed(2)}x (target <= 0.3x)`);
    for (const id of berthIds) await berthCli(socket, ['rm', '-f', id]);
  } finally {
    await cd?.stop();
    if (berthd) {
      const exited = new Promise((r) => berthd!.proc.once('exit', r));
      berthd.proc.kill('SIGTERM');
      await exited;
      await leftoverSweep(berthd);
    }
    await reg.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
