/**
 * Chaos soak: clients churn pods, containers, execs and pulls through the CRI (crictl) while
 * berthd, its embedded Temporal server and its nats-server are SIGKILLed at random moments. Every
 * request is retried until it succeeds (all of them are idempotent for kubelet's sake), then the
 * run stops by itself and checks what must hold after any crash: each pod and container exists
 * once while it lives and not at all after its removal, the log's chain verifies, the projections
 * equal a rebuild from the log, and nothing is left on the host (mounts, netns, veths, leases,
 * iptables rules, cgroups, conmon processes, CNI cache, sandbox records).
 *
 * Usage: node dist/bench/chaos/soak.js [--minutes N (5)] [--clients N (3)] [--kill-every S (12)] [--seed N]
 * Exit code 0 when no invariant was violated. Prints operations, kills, violations and the longest
 * time one CRI request waited across a kill.
 */
import { execFile as execFileCb } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { leftoverSweep, conmonsUnder } from '../../test/containers/support.js';
import { startBerthd, type RunningBerthd } from '../../test/helpers/berthd.js';
import { logConsistency } from '../../test/helpers/crash.js';
import { startRegistry } from '../../test/helpers/registry.js';
import { registryConfigArgs } from '../../test/images/support.js';
import { hostFootprint, setupNetwork, teardownNetwork } from '../../test/sandboxes/support.js';
import { CRICTL } from '../containerd/harness.js';
import { pushTinyImage } from '../common/tiny-image.js';
import { table } from '../events/common.js';
import { Chaos } from './chaos.js';
import { RequestLog } from './requests.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    clients: { type: 'string', default: '3' },
    'kill-every': { type: 'string', default: '12' },
    seed: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const clients = Number(values.clients);
const killEverySeconds = Number(values['kill-every']);
const seed = Number(values.seed ?? Date.now() % 100_000);
if (![minutes, clients, killEverySeconds, seed].every((n) => Number.isFinite(n) && n > 0)) {
  console.error('soak: --minutes, --clients and --kill-every take positive numbers');
  process.exit(2);
}

const work = await mkdtemp(path.join(tmpdir(), 'berth-soak-'));
const reg = await startRegistry();
const network = await setupNetwork('soak');
const image = await pushTinyImage(reg, work);
const args = [...network.args, ...(await registryConfigArgs(work, [reg.host]))];
let daemon: RunningBerthd = await startBerthd({ args });
const endpoint = `unix://${path.join(daemon.state, 'cri.sock')}`;
const footprintBefore = await hostFootprint(network, daemon, []);
const requests = new RequestLog();
const violations: string[] = [];
const podIds = new Set<string>();

/** One crictl run; rejects with its stderr. */
function crictl(argv: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFileCb(
      CRICTL,
      ['--runtime-endpoint', endpoint, '--image-endpoint', endpoint, '--timeout', '60s', ...argv],
      { timeout: timeoutMs, encoding: 'utf8' },
      (err, stdout, stderr) =>
        err ? reject(new Error(stderr.trim() || err.message)) : resolve(stdout.trim()),
    );
  });
}

/** Retries `argv` until it succeeds or five minutes pass (then it counts as failed, a violation). */
function request(kind: string, argv: string[]): Promise<string> {
  return requests.run(kind, () => crictl(argv), 5 * 60_000);
}

const chaos = new Chaos({
  seed,
  meanIntervalMs: killEverySeconds * 1000,
  daemon: () => daemon,
  restart: async (d) => {
    daemon = await startBerthd({ root: d.root, state: d.state, nodeId: d.nodeId, args });
    return daemon;
  },
  onKill: (target) => requests.killed(target),
});

async function client(i: number, until: number): Promise<void> {
  for (let j = 0; Date.now() < until; j++) {
    const name = `soak-${i}-${j}`;
    const podFile = path.join(work, `${name}-pod.json`);
    const ctrFile = path.join(work, `${name}-ctr.json`);
    const pod = { metadata: { name, namespace: 'soak', uid: `uid-${name}`, attempt: 0 }, linux: {} };
    await writeFile(podFile, JSON.stringify({ ...pod, log_directory: path.join(work, 'logs', name) }));
    await writeFile(
      ctrFile,
      JSON.stringify({ metadata: { name: 'app' }, image: { image }, command: ['sleep', '3600'], linux: {} }),
    );
    if (j % 4 === 0) await request('pull', ['pull', image]);
    const podId = await request('runp', ['runp', podFile]);
    podIds.add(podId);
    await expectCount(`pod ${name}`, ['pods', '-q', '--name', `^${name}$`], 1);
    const ctrId = await request('create', ['create', podId, ctrFile, podFile]);
    await expectCount(`containers of ${name}`, ['ps', '-a', '-q', '--pod', podId], 1);
    await request('start', ['start', ctrId]);
    if (j % 2 === 0) await request('exec', ['exec', '-s', ctrId, 'echo', 'soak']);
    await request('stop', ['stop', '-t', '1', ctrId]);
    await request('rm', ['rm', ctrId]);
    await request('stopp', ['stopp', podId]);
    await request('rmp', ['rmp', podId]);
    await expectCount(`pod ${name} after removal`, ['pods', '-q', '--name', `^${name}$`], 0);
  }
}

/** Lists through crictl (retried like any request) and records a violation on a count that differs. */
async function expectCount(what: string, argv: string[], expected: number): Promise<void> {
  const out = await request('list', argv);
  const n = out.split('\n').filter(Boolean).length;
  if (n !== expected) violations.push(`${what}: ${n} found, ${expected} expected`);
}

const t0 = Date.now();
const until = t0 + minutes * 60_000;
let finished = 0;
try {
  await request('pull', ['pull', image]);
  const churn = Array.from({ length: clients }, (_, i) =>
    client(i, until).then(
      () => finished++,
      (err: unknown) => violations.push(`client ${i} gave up: ${(err as Error).message}`),
    ),
  );
  const killing = chaos.run(until);
  await killing;
  await Promise.all(churn);
  // The last kill may still be restarting berthd: wait for an answer before checking.
  await request('list', ['pods', '-q']);
  const left = (await request('list', ['pods', '-q', '--namespace', 'soak'])).split('\n').filter(Boolean);
  if (left.length > 0) violations.push(`pods left after every client removed its own: ${left.join(', ')}`);
  const log = await logConsistency(daemon, '');
  if (!log.chain.ok) violations.push(`event chain broken: ${JSON.stringify(log.chain.firstBad)}`);
  if (!log.projection.equal)
    violations.push(
      `projections differ from a rebuild: ${log.projection.differences.slice(0, 5).join('; ')}`,
    );
  const conmons = conmonsUnder(daemon.state);
  if (conmons.length > 0) violations.push(`conmon processes left: ${conmons.join(', ')}`);
  const footprintAfter = await hostFootprint(network, daemon, [...podIds]);
  for (const [key, before] of Object.entries(footprintBefore)) {
    const after = footprintAfter[key];
    if (JSON.stringify(after) !== JSON.stringify(before))
      violations.push(
        `host ${key} differs: before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`,
      );
  }
} finally {
  await daemon.stop().catch(() => undefined);
  await leftoverSweep(daemon);
  await daemon.cleanup();
  await teardownNetwork(network);
  await reg.stop();
  await rm(work, { recursive: true, force: true });
}

console.log(
  `Chaos soak: ${clients} clients for ${minutes} min, a kill every ~${killEverySeconds} s (seed ${seed}), ${finished} clients finished`,
);
console.log(
  table(['operation', 'requests', 'ok', 'failed', 'attempts', 'p50 ms', 'max ms'], requests.rows()),
);
console.log(table(['killed', 'times'], chaos.rows()));
console.log(
  `longest wait of one request across a kill: ${requests.longestAcrossKill()} ms; requests that saw a kill: ${requests.acrossKills()}`,
);
console.log(`invariant violations: ${violations.length}`);
for (const v of violations) console.log(`  - ${v}`);
process.exit(violations.length === 0 ? 0 : 1);
