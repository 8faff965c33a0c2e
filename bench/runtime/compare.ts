/**
 * Berth vs containerd, side by side in the same run on the same `tiny` image (built locally):
 *  (a) run latency of `echo hi`: Berth's TaskManager create+start+wait+delete (on a shared unpacked
 *      rootfs, and on a fresh overlayfs snapshot per container like containerd) vs `ctr run --rm`;
 *  (b) create+start of a long-running container (`sleep 3600`): TaskManager vs `ctr run -d`;
 *  (c) daemon-side memory per running container: conmon vs containerd-shim-runc-v2, N containers.
 * Runs alternate between the two so machine load drifts affect both alike.
 * Usage: npx tsc -p tsconfig.build.json && node dist/bench/runtime/compare.js [runs=50] [containers=20]
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerdHarness } from '../containerd/harness.js';
import { pidsMentioning } from '../containerd/host-state.js';
import { buildTinyImage, unpackImage } from '../containerd/images.js';
import { removeCgroup } from '../../src/runtime/cgroups.js';
import { HandlerRegistry, RuncHandler } from '../../src/runtime/handler.js';
import { buildSpec } from '../../src/runtime/spec.js';
import { TaskManager } from '../../src/runtime/task.js';
import { mountAll, openSnapshotter, unmount } from '../../src/snapshots/index.js';
import type { Snapshotter } from '../../src/snapshots/snapshotter.js';

const runs = Number(process.argv[2] ?? 50);
const containers = Number(process.argv[3] ?? 20);
const WARMUP = 2;

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function p90(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(0.9 * s.length))] ?? NaN;
}

/** VmRSS and Pss (from smaps_rollup) of one process, in KiB. */
async function memoryKiB(pid: number): Promise<{ rss: number; pss: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  return {
    rss: Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN),
    pss: Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? NaN),
  };
}

async function commName(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
}

/** Berth's side: a TaskManager over conmon + runc, with a committed snapshot of the tiny image. */
interface BerthSide {
  manager: TaskManager;
  snapshots: Snapshotter;
  rootfs: string;
  dir: string;
  cgroupParent: string;
}

async function timeBerthEcho(b: BerthSide, id: string, perContainerSnapshot: boolean): Promise<number> {
  const t0 = performance.now();
  let rootfs = b.rootfs;
  if (perContainerSnapshot) {
    rootfs = join(b.dir, 'mnt', id);
    await mkdir(rootfs, { recursive: true });
    await mountAll(await b.snapshots.prepare(id, 'tiny'), rootfs);
  }
  const { spec } = await buildSpec({
    id,
    rootfsPath: rootfs,
    cgroupParent: b.cgroupParent,
    command: ['echo', 'hi'],
  });
  await b.manager.create({ id, spec, logPath: join(b.dir, 'logs', `${id}.log`) });
  await b.manager.start(id);
  const exit = await b.manager.wait(id, 30_000);
  await b.manager.delete(id);
  if (perContainerSnapshot) {
    await unmount(rootfs);
    await b.snapshots.remove(id);
  }
  const elapsed = performance.now() - t0;
  if (exit?.exitCode !== 0) throw new Error(`berth ${id} exited ${exit?.exitCode}`);
  const log = await readFile(join(b.dir, 'logs', `${id}.log`), 'utf8');
  if (!/ stdout F hi\n$/.test(log)) throw new Error(`berth ${id} logged ${JSON.stringify(log)}, not hi`);
  return elapsed;
}

async function timeCtrEcho(cd: ContainerdHarness, image: string, id: string): Promise<number> {
  const t0 = performance.now();
  const out = await cd.ctr(cd.runArgs(image, id, ['echo', 'hi']));
  const elapsed = performance.now() - t0;
  if (out !== 'hi\n') throw new Error(`ctr run ${id} printed ${JSON.stringify(out)}, not hi`);
  return elapsed;
}

function table(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

const ms = (v: number): string => v.toFixed(1);
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-compare-'));
  const cgroupParent = `/berth-bench-${randomBytes(4).toString('hex')}`;
  const manager = new TaskManager({
    root: join(dir, 'state'),
    handlers: new HandlerRegistry([new RuncHandler({ root: join(dir, 'runc') })]),
  });
  let cd: ContainerdHarness | undefined;
  const berthIds = new Set<string>();
  const mounted: string[] = [];
  try {
    console.log(
      `Berth vs containerd ${new Date().toISOString()}, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    await manager.init();
    await mkdir(join(dir, 'logs'), { recursive: true });
    const tiny = await buildTinyImage(dir);
    const rootfs = join(dir, 'rootfs');
    await unpackImage(tiny, rootfs);
    const snapshots = await openSnapshotter('overlayfs', join(dir, 'snapshots'));
    const extract = join(dir, 'mnt', 'extract');
    await mkdir(extract, { recursive: true });
    await mountAll(await snapshots.prepare('extract'), extract);
    await unpackImage(tiny, extract);
    await unmount(extract);
    await snapshots.commit('tiny', 'extract');
    await snapshots.flush();
    const berth: BerthSide = { manager, snapshots, rootfs, dir, cgroupParent };

    cd = await ContainerdHarness.start();
    await cd.importImage(tiny.archivePath, tiny.name);

    // (a) run latency, interleaved: Berth shared rootfs, Berth snapshot, ctr run --rm.
    const shared: number[] = [];
    const snap: number[] = [];
    const ctr: number[] = [];
    for (let i = 0; i < runs + WARMUP; i++) {
      const a = await timeBerthEcho(berth, `echo-shared-${i}`, false);
      const s = await timeBerthEcho(berth, `echo-snap-${i}`, true);
      const c = await timeCtrEcho(cd, tiny.name, `echo-ctr-${i}`);
      if (i >= WARMUP) {
        shared.push(a);
        snap.push(s);
        ctr.push(c);
      }
    }
    const ctrMedian = median(ctr);
    table(
      `(a) run latency of "echo hi" (create+start+wait+delete), ${runs} runs each after ${WARMUP} warm-up, ms`,
      ['runtime', 'median', 'p90', 'min', 'vs containerd'],
      [
        ['Berth TaskManager, shared rootfs', shared],
        ['Berth TaskManager + overlay snapshot', snap],
        ['containerd: ctr run --rm', ctr],
      ].map(([label, v]) => {
        const values = v as number[];
        return [
          label as string,
          ms(median(values)),
          ms(p90(values)),
          ms(Math.min(...values)),
          ratio(median(values), ctrMedian),
        ];
      }),
    );

    // (b) create+start of long-running containers, interleaved; they stay running for (c).
    const berthStart: number[] = [];
    const ctrStart: number[] = [];
    const ctrIds: string[] = [];
    for (let i = 0; i < containers; i++) {
      const id = `long-${i}`;
      const mnt = join(dir, 'mnt', id);
      await mkdir(mnt, { recursive: true });
      const t0 = performance.now();
      await mountAll(await snapshots.prepare(id, 'tiny'), mnt);
      mounted.push(mnt);
      const { spec } = await buildSpec({ id, rootfsPath: mnt, cgroupParent, command: ['sleep', '3600'] });
      berthIds.add(id);
      await manager.create({ id, spec, logPath: join(dir, 'logs', `${id}.log`) });
      await manager.start(id);
      berthStart.push(performance.now() - t0);

      const t1 = performance.now();
      await cd.ctr(cd.runArgs(tiny.name, id, ['sleep', '3600'], ['-d', '--null-io']));
      ctrStart.push(performance.now() - t1);
      ctrIds.push(id);
    }
    table(
      `(b) create+start of a long-running container (sleep 3600), ${containers} each, ms`,
      ['runtime', 'median', 'p90', 'min', 'vs containerd'],
      [
        ['Berth: snapshot + TaskManager create+start', berthStart],
        ['containerd: ctr run -d', ctrStart],
      ].map(([label, v]) => {
        const values = v as number[];
        return [
          label as string,
          ms(median(values)),
          ms(p90(values)),
          ms(Math.min(...values)),
          ratio(median(values), median(ctrStart)),
        ];
      }),
    );

    // (c) memory of the per-container monitor processes.
    const conmonPids = await Promise.all(
      [...berthIds].map(async (id) => (await manager.state(id)).conmonPid),
    );
    const shimPids: number[] = [];
    for (const pid of await pidsMentioning(cd.socket))
      if ((await commName(pid)).startsWith('containerd-shim')) shimPids.push(pid);
    if (shimPids.length !== ctrIds.length)
      throw new Error(`expected ${ctrIds.length} containerd shims, found ${shimPids.length}`);
    const conmonMem = await Promise.all(conmonPids.map(memoryKiB));
    const shimMem = await Promise.all(shimPids.map(memoryKiB));
    const sum = (xs: { rss: number; pss: number }[], k: 'rss' | 'pss'): number =>
      xs.reduce((a, x) => a + x[k], 0);
    const containerdSelf = cd.pid ? await memoryKiB(cd.pid) : { rss: NaN, pss: NaN };
    table(
      `(c) daemon-side memory for ${containers} running containers, KiB (RSS counts shared pages in each process; PSS splits them)`,
      ['process', 'count', 'RSS total', 'RSS/container', 'PSS total', 'PSS/container'],
      [
        ['conmon (Berth)', conmonMem],
        ['containerd-shim-runc-v2', shimMem],
      ].map(([label, v]) => {
        const m = v as { rss: number; pss: number }[];
        return [
          label as string,
          String(m.length),
          sum(m, 'rss').toFixed(0),
          (sum(m, 'rss') / m.length).toFixed(0),
          sum(m, 'pss').toFixed(0),
          (sum(m, 'pss') / m.length).toFixed(0),
        ];
      }),
    );
    console.log(
      `ratio conmon/shim per container: RSS ${ratio(sum(conmonMem, 'rss'), sum(shimMem, 'rss'))}, PSS ${ratio(sum(conmonMem, 'pss'), sum(shimMem, 'pss'))}` +
        `; containerd itself: RSS ${containerdSelf.rss} KiB (not per container)`,
    );
  } finally {
    for (const id of berthIds) await manager.delete(id, true).catch(() => undefined);
    for (const mnt of mounted) await unmount(mnt).catch(() => undefined);
    await cd?.stop();
    await removeCgroup(cgroupParent).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
