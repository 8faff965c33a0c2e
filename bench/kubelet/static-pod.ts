/**
 * The kubelet row: the same kubelet v1.36 (standalone, static pods) on Berth and on containerd 2.x
 * (and Debian's 1.6), timing a static pod of two sleeping containers from its manifest appearing in
 * kubelet's folder to kubelet reporting both containers running (its pod status, fed by PLEG), and
 * from the manifest's removal to the pod's sandbox and containers stopped in the runtime. Only one runtime runs at a
 * time (kubelet's node name, ports and folders are one per machine), so nothing one side leaves
 * behind can land in the other's window; the order of the blocks is A B … B A, so drift over the
 * run hits every side alike. kubelet reports status from its generic PLEG, which relists every
 * second: both sides are quantised alike, so take medians of enough runs.
 *
 * Usage: node dist/bench/kubelet/static-pod.js [--runs 12] [--only berth,containerd-2.x,containerd-1.6]
 */
import { parseArgs } from 'node:util';
import { freePort } from '../../test/helpers/registry.js';
import { startKubeletEnv, type KubeletEnv } from '../../test/kubelet/env.js';
import { addDelta, printTemporalFloor, scrapeMetrics, type Counters } from '../common/temporal-floor.js';
import { printTable, summarize } from '../stats.js';
import { sharedRuncLine, type ContainerdRelease } from '../containerd/config.js';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '12' },
    only: { type: 'string', default: 'berth,containerd-2.x,containerd-1.6' },
  },
});
const RUNS = Number(opts.runs);
const SIDES = opts.only.split(',');

function manifest(name: string, image: string) {
  const container = (n: string) => ({
    name: n,
    image,
    command: ['sleep', '3600'],
    imagePullPolicy: 'IfNotPresent',
  });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { terminationGracePeriodSeconds: 0, containers: [container('one'), container('two')] },
  };
}

async function waitUntil(what: string, ok: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`not ${what} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** berthd's metrics over the timed runs of every Berth block: Temporal's floor in the same runs. */
const berthMetrics: Counters = new Map();

async function block(side: string, runs: number, tag: string): Promise<{ up: number[]; down: number[] }> {
  const [runtime, release] =
    side === 'berth'
      ? (['berth', undefined] as const)
      : (['containerd', side.slice('containerd-'.length)] as const);
  const metricsAddress = runtime === 'berth' ? `127.0.0.1:${await freePort()}` : undefined;
  const env: KubeletEnv = await startKubeletEnv(
    runtime,
    {},
    (release ?? '1.6') as ContainerdRelease,
    metricsAddress ? ['--metrics-address', metricsAddress] : [],
  );
  const up: number[] = [];
  const down: number[] = [];
  let metricsBefore: Counters | undefined;
  try {
    for (let i = -1; i < runs; i++) {
      if (i === 0 && metricsAddress) metricsBefore = await scrapeMetrics(metricsAddress);
      const name = `bench-${tag}-${i < 0 ? 'warm' : i}`;
      const t0 = performance.now();
      await env.kubelet.addPod(manifest(name, env.image));
      await waitUntil(`${name} running`, async () => {
        const p = await env.kubelet.pod(name);
        const cs = p?.status.containerStatuses ?? [];
        return cs.length === 2 && cs.every((c) => c.state.running !== undefined);
      });
      const t1 = performance.now();
      await env.kubelet.removePod(name);
      // kubelet stops the pod at once and removes its sandbox later (its garbage collection, every
      // minute): gone is no ready sandbox and no running container.
      await waitUntil(
        `${name} stopped`,
        async () =>
          (await env.crictl(['pods', '--state', 'ready', '-q'])).trim() === '' &&
          (await env.crictl(['ps', '-q'])).trim() === '',
      );
      const t2 = performance.now();
      if (i >= 0) {
        up.push(t1 - t0);
        down.push(t2 - t1);
      }
    }
    if (metricsAddress && metricsBefore)
      addDelta(berthMetrics, metricsBefore, await scrapeMetrics(metricsAddress));
  } finally {
    await env.cleanup();
  }
  return { up, down };
}

const results = new Map<string, { up: number[]; down: number[] }>(
  SIDES.map((s) => [s, { up: [], down: [] }]),
);
const half = Math.ceil(RUNS / 2);
for (const [k, order] of [SIDES, [...SIDES].reverse()].entries()) {
  for (const side of order) {
    const r = await block(side, k === 0 ? half : RUNS - half, `${k}`);
    results.get(side)!.up.push(...r.up);
    results.get(side)!.down.push(...r.down);
    process.stderr.write(`${side}: block ${k + 1} done\n`);
  }
}

console.log(
  `kubelet v1.36 static pod (2 containers, image present), ${RUNS} runs per runtime in blocks A B … B A`,
);
console.log(sharedRuncLine());
const anchor = results.get('containerd-2.x');
const med = (xs: number[]) => summarize(xs).median;
printTable(
  [
    'runtime',
    'manifest → both running, median ms',
    'min',
    'max',
    'removal → pod stopped, median ms',
    ...(anchor ? ['/ 2.x (up)', '/ 2.x (down)'] : []),
  ],
  [...results].map(([side, r]) => [
    side,
    med(r.up),
    Math.min(...r.up),
    Math.max(...r.up),
    med(r.down),
    ...(anchor ? [med(r.up) / med(anchor.up), med(r.down) / med(anchor.down)] : []),
  ]),
);
const berth = results.get('berth');
if (berth && berthMetrics.size > 0) {
  const floors = printTemporalFloor(new Map(), berthMetrics);
  // kubelet makes the sandbox, then creates and starts each container in turn: five transitions
  // one after the other between the manifest and both containers running.
  const path = [
    ['createSandbox', 1],
    ['createContainer', 2],
    ['startContainer', 2],
  ] as const;
  const temporal = path.reduce((sum, [w, times]) => sum + (floors.get(w)?.temporalMs ?? NaN) * times, 0);
  const up = med(berth.up);
  console.log(
    `Temporal's floor on Berth's way to running (createSandbox + 2 × createContainer + 2 × startContainer): ${temporal.toFixed(0)} ms of ${up.toFixed(0)} (${((temporal / up) * 100).toFixed(0)}%)` +
      (anchor
        ? `; the rest, ${(up - temporal).toFixed(0)} ms, is ${((up - temporal) / med(anchor.up)).toFixed(2)}× containerd 2.x's whole time (an estimate: the floor taken off, not a run without it)`
        : ''),
  );
}
