/** Durable appends per second with 1, 16 and 256 concurrent writers (each append synced before it returns). */
import { join } from 'node:path';
import { EventLog } from '../../src/events/log.js';
import { churnEvent, table, tempDir } from './common.js';

const plan: [writers: number, appends: number][] = [
  [1, Number(process.env.BENCH_APPENDS_1 ?? 500)],
  [16, Number(process.env.BENCH_APPENDS_16 ?? 5_000)],
  [256, Number(process.env.BENCH_APPENDS_256 ?? 50_000)],
];

const rows: (string | number)[][] = [];
for (const [writers, appends] of plan) {
  const tmp = await tempDir('berth-bench-append-');
  const log = await EventLog.open(join(tmp.dir, 'events'));
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < appends) await log.append(churnEvent(next++));
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const ok = (await log.verify()).ok;
  await log.close();
  await tmp.cleanup();
  rows.push([
    writers,
    appends,
    seconds.toFixed(2),
    Math.round(appends / seconds),
    ((seconds * 1000) / appends).toFixed(3),
    ok ? 'yes' : 'NO',
  ]);
}
console.log('Durable appends (sync write per group commit)');
console.log(table(['writers', 'appends', 'seconds', 'appends/s', 'ms/append', 'chain ok'], rows));
