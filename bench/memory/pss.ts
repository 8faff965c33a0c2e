/**
 * Whole-node memory of each runtime as a node operator counts it: the PSS (shared pages divided
 * among the processes that map them) of every process the runtime needs on the node, with 1, 10,
 * 50 and 100 pods of one sleeping container each, made through crictl on every side.
 *  - Berth: berthd, its embedded Temporal server and nats-server, every conmon (and any helper);
 *  - containerd (2.x and Debian's 1.6): containerd, every shim, every pause process.
 * The containers' own program (`sleep`) is the workload and is counted on neither side. One
 * runtime runs at a time; each count is measured once its processes are quiet. The per-pod slope
 * and the fixed cost are a least-squares line through the counts. "berth, Temporal and NATS off
 * the node" is the same run without those two processes (berthd is the same program whether they
 * run beside it or elsewhere: `--temporal-address`, `--nats-url`).
 *
 * Beside each count it times `crictl imagefsinfo` (kubelet calls ImageFsInfo every few seconds).
 *
 * Usage: node dist/bench/memory/pss.js [--pods 1,10,50,100] [--only berth,containerd-2.x,containerd-1.6]
 */
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execFile } from '../../src/common/exec.js';
import { startRegistry } from '../../test/helpers/registry.js';
import { registryConfigArgs } from '../../test/images/support.js';
import { makeSleepingPod, writeSleepingContainer } from '../common/sleeping-pods.js';
import { pushTinyImage } from '../common/tiny-image.js';
import { startBenchBerthd, stopBenchBerthd } from '../common/berthd.js';
import {
  cmdlineOf,
  commOf,
  isSleepWorkload,
  processSet,
  pssKiB,
  waitQuiet,
  type ProcessSetSpec,
} from '../common/process-set.js';
import { ScratchFs } from '../common/scratch-fs.js';
import { ContainerdHarness, CRICTL } from '../containerd/harness.js';
import type { ContainerdRelease } from '../containerd/config.js';
import { printTable, summarize } from '../stats.js';

const { values: opts } = parseArgs({
  options: {
    pods: { type: 'string', default: '1,10,50,100' },
    only: { type: 'string', default: 'berth,containerd-2.x,containerd-1.6' },
  },
});
const COUNTS = opts.pods.split(',').map(Number);
const ONLY = opts.only.split(',');

/** MiB by process kind ("berthd", "temporal", "conmon", "containerd-shim-runc-v2", …). */
type Breakdown = Record<string, { processes: number; mib: number }>;

interface Running {
  name: string;
  endpoint: string;
  processes: ProcessSetSpec;
  stop: () => Promise<void>;
}

/** A process's kind: berthd and its spawner are the Node processes; others by their command name. */
function kindOf(pid: number): string {
  const comm = commOf(pid);
  if (comm !== 'node' && comm !== 'MainThread') return comm;
  return cmdlineOf(pid).some((a) => a.endsWith('spawner-child.js')) ? 'berthd spawner' : 'berthd';
}

function measure(spec: ProcessSetSpec): Breakdown {
  const out: Breakdown = {};
  for (const pid of processSet(spec)) {
    const kind = kindOf(pid);
    const entry = (out[kind] ??= { processes: 0, mib: 0 });
    entry.processes++;
    entry.mib += pssKiB(pid) / 1024;
  }
  return out;
}

const total = (b: Breakdown, leave: string[] = []) =>
  Object.entries(b)
    .filter(([k]) => !leave.includes(k))
    .reduce((s, [, v]) => s + v.mib, 0);

/** Least-squares line y = fixed + slope·x. */
function fit(xs: number[], ys: number[]): { fixed: number; slope: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  const slope = den === 0 ? 0 : num / den;
  return { fixed: my - slope * mx, slope };
}

async function main(): Promise<void> {
  const fs = await ScratchFs.create();
  const reg = await startRegistry();
  const results = new Map<string, Breakdown[]>();
  const imageFsInfoMs = new Map<string, number>();
  try {
    const image = await pushTinyImage(reg, fs.dir);
    const container = await writeSleepingContainer(fs.dir, image);

    const starters: Record<string, () => Promise<Running>> = {
      berth: async () => {
        const dir = await mkdtemp(path.join(fs.dir, 'berth-'));
        const b = await startBenchBerthd(dir, await registryConfigArgs(dir, [reg.host]));
        return {
          name: 'berth',
          endpoint: b.criEndpoint,
          processes: { rootPid: b.proc.pid!, mentions: [b.state, b.root], exclude: isSleepWorkload },
          stop: async () => {
            await stopBenchBerthd(b);
          },
        };
      },
    };
    for (const release of ['2.x', '1.6'] as ContainerdRelease[])
      starters[`containerd-${release}`] = async () => {
        const cd = await ContainerdHarness.start({
          release,
          parentDir: fs.dir,
          registryMirrors: { [reg.host]: `http://${reg.host}` },
        });
        return {
          name: `containerd-${release}`,
          endpoint: `unix://${cd.socket}`,
          processes: { rootPid: cd.pid!, mentions: [cd.socket, cd.layout.dir], exclude: isSleepWorkload },
          stop: () => cd.stop(),
        };
      };

    for (const name of ONLY) {
      const start = starters[name];
      if (!start) throw new Error(`--only: no runtime "${name}" (berth, containerd-2.x, containerd-1.6)`);
      const rt = await start();
      const crictl = async (args: string[]) =>
        (await execFile(CRICTL, ['-r', rt.endpoint, '-i', rt.endpoint, '--timeout', '120s', ...args])).trim();
      try {
        await crictl(['pull', image]);
        const rows: Breakdown[] = [];
        let made = 0;
        for (const count of COUNTS) {
          for (; made < count; made++) await makeSleepingPod(crictl, fs.dir, container, name, made);
          // With dozens of shims containerd 2.x idles at about 5% of a CPU: quiet is relative here,
          // and memory is measured anyway (saying so) when it never comes.
          await waitQuiet(rt.processes, { windowMs: 1000, maxCpuShare: 0.15, timeoutMs: 60_000 }).catch(
            (err: unknown) =>
              process.stderr.write(`${name}: ${count} pods: measured while busy: ${String(err)}\n`),
          );
          rows.push(measure(rt.processes));
          // ImageFsInfo (kubelet calls it every few seconds) with this many container snapshots.
          const fsinfo: number[] = [];
          for (let k = 0; k < 5; k++) {
            const t = performance.now();
            await crictl(['imagefsinfo']);
            fsinfo.push(performance.now() - t);
          }
          imageFsInfoMs.set(`${name}@${count}`, summarize(fsinfo).median);
          process.stderr.write(
            `${name}: ${count} pods: ${total(rows.at(-1)!).toFixed(1)} MiB; imagefsinfo ${fsinfo.map((ms) => ms.toFixed(0)).join(' ')} ms\n`,
          );
        }
        results.set(name, rows);
        await crictl(['rmp', '--force', '--all']);
      } finally {
        await rt.stop();
      }
    }
  } finally {
    await reg.stop();
    await fs.remove();
  }
  report(results);
  console.log('crictl imagefsinfo, median of 5 (ms), by pods (each a container snapshot):');
  printTable(
    ['runtime', ...COUNTS.map((c) => `${c} pods`)],
    [...results.keys()].map((name) => [name, ...COUNTS.map((c) => imageFsInfoMs.get(`${name}@${c}`) ?? NaN)]),
  );
}

function report(results: Map<string, Breakdown[]>): void {
  const series: [string, number[]][] = [];
  for (const [name, rows] of results) {
    series.push([name, rows.map((b) => total(b))]);
    if (name === 'berth')
      series.push([
        'berth, Temporal and NATS off the node',
        rows.map((b) => total(b, ['temporal', 'nats-server'])),
      ]);
  }
  console.log(`whole-node PSS (MiB) of every process each runtime needs, by pods of one sleeping container`);
  const anchor = series.find(([n]) => n === 'containerd-2.x')?.[1];
  printTable(
    [
      'runtime',
      ...COUNTS.map((c) => `${c} pods`),
      'fixed MiB',
      'MiB per pod',
      ...(anchor ? [`/ 2.x at ${COUNTS.at(-1)}`] : []),
    ],
    series.map(([name, ys]) => {
      const { fixed, slope } = fit(COUNTS, ys);
      return [name, ...ys, fixed, slope, ...(anchor ? [ys.at(-1)! / anchor.at(-1)!] : [])];
    }),
  );
  console.log(`by process kind at ${COUNTS.at(-1)} pods (processes, MiB):`);
  for (const [name, rows] of results) {
    const last = rows.at(-1)!;
    console.log(
      `  ${name}: ${Object.entries(last)
        .sort((a, b) => b[1].mib - a[1].mib)
        .map(([k, v]) => `${k} ×${v.processes} ${v.mib.toFixed(1)}`)
        .join(', ')}`,
    );
  }
}

await main();
