/**
 * berthd start-up and the node:info round trip, with embedded Temporal and NATS:
 * cold start (a new root: the Temporal database and JetStream store are created), warm start
 * (the same root again), and POST /v1/node-info (API → workflow → activity → result).
 *
 *   node dist/bench/daemon/startup.js [starts=3] [roundTrips=100]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../src/api/client.js';
import { printTable, summarize, timeIt } from '../stats.js';

const starts = Number(process.argv[2] ?? 3);
const roundTrips = Number(process.argv[3] ?? 100);
const repo = fileURLToPath(new URL('../../..', import.meta.url));

async function startAndWait(root: string, state: string): Promise<{ proc: ChildProcess; ms: number }> {
  const t0 = performance.now();
  const proc = spawn(
    process.execPath,
    [
      join(repo, 'dist/src/daemon/main.js'),
      '--root',
      root,
      '--state',
      state,
      '--node-id',
      'bench',
      '--log-level',
      'warn',
    ],
    {
      env: { ...process.env, PATH: `${join(repo, '.tools/bin')}:${process.env.PATH}` },
      stdio: 'ignore',
    },
  );
  const client = new ApiClient(join(state, 'berth.sock'));
  for (;;) {
    if (proc.exitCode !== null) throw new Error('berthd exited during start');
    if (existsSync(join(state, 'berth.sock'))) {
      try {
        await client.get('/v1/health');
        return { proc, ms: performance.now() - t0 };
      } catch {
        // not yet
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function stop(proc: ChildProcess): Promise<void> {
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
}

const cold: number[] = [];
const warm: number[] = [];
let trips: number[] = [];
for (let i = 0; i < starts; i++) {
  const base = await mkdtemp(join(tmpdir(), 'berth-bench-start-'));
  const root = join(base, 'root');
  const state = join(base, 'state');
  const first = await startAndWait(root, state);
  cold.push(first.ms);
  await stop(first.proc);
  const second = await startAndWait(root, state);
  warm.push(second.ms);
  if (i === 0) {
    const client = new ApiClient(join(state, 'berth.sock'));
    for (let j = 0; j < 10; j++) await client.post('/v1/node-info');
    trips = [];
    for (let j = 0; j < roundTrips; j++) trips.push(await timeIt(() => client.post('/v1/node-info')));
  }
  await stop(second.proc);
  await rm(base, { recursive: true, force: true });
}
const row = (label: string, samples: number[]) => {
  const s = summarize(samples);
  return [label, s.n, s.median, s.p99, s.min, s.max];
};
console.log('berthd start-up and node:info, ms:');
printTable(
  ['measure', 'n', 'median', 'p99', 'min', 'max'],
  [row('cold start to ready', cold), row('warm start to ready', warm), row('node:info round trip', trips)],
);
