/**
 * Rebuild time for a long log (default 1,000,000 events; BENCH_EVENTS to change) and startup
 * time with a checkpoint, at a tenth of the length and at the full length, to show startup
 * does not grow with the log.
 */
import { join } from 'node:path';
import { EventLog } from '../../src/events/log.js';
import { Projections } from '../../src/events/projections/projections.js';
import { churnEvent, ms, table, tempDir } from './common.js';

const TOTAL = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const CONCURRENCY = 1024;

async function fill(log: EventLog, upTo: number): Promise<void> {
  let next = log.lastSeq;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < upTo) await log.append(churnEvent(next++));
    }),
  );
}

async function startup(dir: string): Promise<{ open: number; tail: number; checkpointSeq: number }> {
  const t0 = performance.now();
  const log = await EventLog.open(dir);
  const p = await Projections.open(log, { checkpointEvery: 0 });
  const open = performance.now() - t0;
  const { checkpointSeq, tailEvents } = p.loaded;
  await log.close();
  return { open, tail: tailEvents, checkpointSeq };
}

const tmp = await tempDir('berth-bench-rebuild-');
const dir = join(tmp.dir, 'events');
const rows: (string | number)[][] = [];
try {
  for (const length of [Math.floor(TOTAL / 10), TOTAL]) {
    const log = await EventLog.open(dir);
    const tFill = performance.now();
    await fill(log, length);
    const fillSeconds = (performance.now() - tFill) / 1000;
    // Rebuild from seq 0: no checkpoint may exist yet at this length.
    for await (const cp of log.checkpoints()) await log.deleteCheckpoint(cp.seq);
    const tRebuild = performance.now();
    const p = await Projections.open(log, { checkpointEvery: 0 });
    const rebuild = performance.now() - tRebuild;
    const entities = Object.keys(p.state.containers).length + Object.keys(p.state.tasks).length;
    await p.close(); // writes the checkpoint
    await log.close();
    // The first open after a bulk write also replays level's write-ahead log; report it and the median of later opens.
    const first = await startup(dir);
    const later: number[] = [];
    for (let i = 0; i < 5; i++) later.push((await startup(dir)).open);
    later.sort((a, b) => a - b);
    rows.push([
      length,
      fillSeconds.toFixed(1),
      ms(rebuild),
      entities,
      first.checkpointSeq,
      first.tail,
      ms(first.open),
      ms(later[2]!),
    ]);
  }
} finally {
  await tmp.cleanup();
}
console.log('Rebuild and startup (container churn over 1000 ids; state stays bounded)');
console.log(
  table(
    [
      'events',
      'fill s',
      'rebuild ms',
      'entities',
      'checkpoint seq',
      'tail',
      'first startup ms',
      'median startup ms',
    ],
    rows,
  ),
);
