/**
 * What Temporal adds to one transition: start-to-result time of the noop workflow (one activity
 * that does nothing) against the Temporal dev server berthd embeds, for each lever the SDK offers:
 * normal vs local activity, with and without eager start, and with the dev server's default SQLite
 * settings vs WAL with synchronous=NORMAL.
 *
 *   node dist/bench/temporal/overhead.js [iterations=200]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { freePort } from '../../src/daemon/endpoints.js';
import { devServerArgs, probeTemporal, WORKFLOW_BUNDLE } from '../../src/daemon/temporal.js';
import { sleep } from '../../src/daemon/supervisor.js';
import { printTable, summarize, timeIt } from '../stats.js';

const iterations = Number(process.argv[2] ?? 200);
const temporalBin = process.env.TEMPORAL_BIN ?? join(process.cwd(), '.tools/bin/temporal');

async function withDevServer<T>(pragmas: string[], fn: (address: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-temporal-'));
  const [port, http, metrics] = [await freePort(), await freePort(), await freePort()];
  const args = devServerArgs({
    ports: { frontendPort: port, httpPort: http, metricsPort: metrics },
    dbFile: join(dir, 'temporal.db'),
    logLevel: 'error',
    sqlitePragmas: pragmas,
  });
  const server = spawn(temporalBin, args, { stdio: 'ignore' });
  const address = `127.0.0.1:${port}`;
  try {
    for (let i = 0; !(await probeTemporal(address, 'default', 1000)).ok; i++) {
      if (i > 600) throw new Error('dev server did not start');
      await sleep(100);
    }
    return await fn(address);
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
}

async function measure(address: string): Promise<(string | number)[][]> {
  const connection = await NativeConnection.connect({ address });
  const taskQueue = 'bench';
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowBundle: { codePath: WORKFLOW_BUNDLE },
    // Only the noop transition runs here, so only its activity is registered.
    activities: { noop: async (): Promise<string> => 'ok' },
  });
  const client = new Client({ connection });
  const rows: (string | number)[][] = [];
  await worker.runUntil(async () => {
    let n = 0;
    const run = (local: boolean, eager: boolean) =>
      client.workflow.execute('noopTransition', {
        taskQueue,
        workflowId: `noop-${n++}`,
        args: [local],
        requestEagerStart: eager,
      });
    for (let i = 0; i < 20; i++) await run(false, false); // warm the worker's workflow cache and the server
    for (const [label, local, eager] of [
      ['activity', false, false],
      ['activity + eager start', false, true],
      ['local activity', true, false],
      ['local activity + eager start', true, true],
    ] as const) {
      const samples: number[] = [];
      for (let i = 0; i < iterations; i++) samples.push(await timeIt(() => run(local, eager)));
      const s = summarize(samples);
      rows.push([label, s.n, s.median, s.p99]);
    }
  });
  await connection.close();
  return rows;
}

const all: (string | number)[][] = [];
for (const [label, pragmas] of [
  ['sqlite defaults', []],
  ['sqlite wal+sync=normal', ['journal_mode=wal', 'synchronous=NORMAL']],
] as const) {
  const rows = await withDevServer([...pragmas], measure);
  for (const r of rows) all.push([label, ...r]);
}
console.log(
  `Temporal overhead of one transition (noop workflow, one activity), ${iterations} runs each, ms:`,
);
printTable(['dev server', 'variant', 'n', 'median', 'p99'], all);
