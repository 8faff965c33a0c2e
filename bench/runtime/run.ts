/**
 * Runtime benchmark: create+start+wait of `echo hi` under conmon + runc (and crun), median of N, with the
 * phases split out; then the memory of the per-container monitor (conmon RSS) for 20 running containers.
 * Usage: node dist/bench/runtime/run.js [runs=50] [containers=20]
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from '../../src/common/exec.js';
import { removeCgroup } from '../../src/runtime/cgroups.js';
import { CrunHandler, HandlerRegistry, RuncHandler } from '../../src/runtime/handler.js';
import { buildSpec } from '../../src/runtime/spec.js';
import { TaskManager } from '../../src/runtime/task.js';

const runs = Number(process.argv[2] ?? 50);
const containers = Number(process.argv[3] ?? 20);

async function busyboxRootfs(dir: string): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev'])
    await mkdir(join(rootfs, d), { recursive: true });
  await copyFile('/bin/busybox', join(rootfs, 'bin/busybox'));
  await execFile('/usr/sbin/chroot', [rootfs, '/bin/busybox', '--install', '-s', '/bin']);
  await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\n');
  return rootfs;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

interface Phases {
  spec: number;
  create: number;
  start: number;
  wait: number;
  delete: number;
  total: number;
}

async function timeEcho(
  manager: TaskManager,
  rootfs: string,
  dir: string,
  cgroupParent: string,
  handler: string,
): Promise<Phases[]> {
  const samples: Phases[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const id = `bench-${handler}-${i}`;
    const t0 = performance.now();
    const { spec } = await buildSpec({ id, rootfsPath: rootfs, cgroupParent, command: ['echo', 'hi'] });
    const t1 = performance.now();
    await manager.create({ id, spec, logPath: join(dir, `${id}.log`), runtimeHandler: handler });
    const t2 = performance.now();
    await manager.start(id);
    const t3 = performance.now();
    const exit = await manager.wait(id, 30_000);
    const t4 = performance.now();
    await manager.delete(id);
    const t5 = performance.now();
    if (exit?.exitCode !== 0) throw new Error(`${id} exited ${exit?.exitCode}`);
    // The first two runs warm caches (probe, page cache) and are not counted.
    if (i >= 2)
      samples.push({
        spec: t1 - t0,
        create: t2 - t1,
        start: t3 - t2,
        wait: t4 - t3,
        delete: t5 - t4,
        total: t5 - t0,
      });
  }
  return samples;
}

function row(label: string, values: number[]): string {
  const s = [...values].sort((a, b) => a - b);
  return `${label.padEnd(28)} ${quantile(s, 0.5).toFixed(1).padStart(8)} ${quantile(s, 0.9).toFixed(1).padStart(8)} ${(s[0] ?? NaN).toFixed(1).padStart(8)}`;
}

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-runtime-'));
  const cgroupParent = `/berth-bench-${randomBytes(4).toString('hex')}`;
  const handlers = new HandlerRegistry([
    new RuncHandler({ root: join(dir, 'runc') }),
    new CrunHandler({ root: join(dir, 'crun'), wrapperDir: join(dir, 'bin') }),
  ]);
  const manager = new TaskManager({ root: join(dir, 'state'), handlers });
  await manager.init();
  try {
    const rootfs = await busyboxRootfs(dir);
    console.log(`create+start+wait+delete of "echo hi", ${runs} runs each (ms)`);
    console.log(`${'phase'.padEnd(28)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'min'.padStart(8)}`);
    for (const handler of ['runc', 'crun']) {
      const samples = await timeEcho(manager, rootfs, dir, cgroupParent, handler);
      for (const phase of ['spec', 'create', 'start', 'wait', 'delete', 'total'] as const) {
        console.log(
          row(
            `${handler} ${phase}`,
            samples.map((s) => s[phase]),
          ),
        );
      }
    }

    const ids: string[] = [];
    const createStart: number[] = [];
    for (let i = 0; i < containers; i++) {
      const id = `bench-long-${i}`;
      const t0 = performance.now();
      const { spec } = await buildSpec({ id, rootfsPath: rootfs, cgroupParent, command: ['sleep', '600'] });
      await manager.create({ id, spec, logPath: join(dir, `${id}.log`) });
      await manager.start(id);
      createStart.push(performance.now() - t0);
      ids.push(id);
    }
    const rss = await Promise.all(ids.map(async (id) => rssKiB((await manager.state(id)).conmonPid)));
    const total = rss.reduce((a, b) => a + b, 0);
    console.log('');
    console.log(row(`create+start, long-running`, createStart));
    console.log('');
    console.log(`conmon RSS for ${containers} running containers (KiB)`);
    console.log(`${'total'.padEnd(28)} ${total.toFixed(0).padStart(8)}`);
    console.log(`${'per container'.padEnd(28)} ${(total / rss.length).toFixed(0).padStart(8)}`);
    for (const id of ids) await manager.delete(id, true);
  } finally {
    await removeCgroup(cgroupParent).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
