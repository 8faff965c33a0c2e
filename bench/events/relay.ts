/** Relay publish throughput: events already in the log published to a local nats-server (JetStream, file storage). */
import { spawn } from 'node:child_process';
import { createServer, connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { EventLog } from '../../src/events/log.js';
import { NatsRelay } from '../../src/events/relay.js';
import { churnEvent, table, tempDir } from './common.js';

const EVENTS = Number(process.env.BENCH_RELAY_EVENTS ?? 50_000);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

const tmp = await tempDir('berth-bench-relay-');
const port = await freePort();
const nats = spawn(
  'nats-server',
  ['-js', '-sd', join(tmp.dir, 'js'), '-a', '127.0.0.1', '-p', String(port)],
  { stdio: 'ignore' },
);
try {
  for (;;) {
    const up = await new Promise<boolean>((r) => {
      const s = netConnect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const log = await EventLog.open(join(tmp.dir, 'events'));
  let next = 0;
  await Promise.all(
    Array.from({ length: 512 }, async () => {
      while (next < EVENTS) await log.append(churnEvent(next++));
    }),
  );
  const rows: (string | number)[][] = [];
  for (const window of [1, 64, 256]) {
    await log.putCursor('nats', 0);
    const relay = new NatsRelay(log, {
      nodeId: `bench${window}`,
      servers: `nats://127.0.0.1:${port}`,
      window,
    });
    const count = window === 1 ? Math.min(EVENTS, 5_000) : EVENTS;
    const t0 = performance.now();
    await relay.start();
    await relay.waitFor(count);
    const seconds = (performance.now() - t0) / 1000;
    await relay.stop();
    rows.push([window, count, seconds.toFixed(2), Math.round(count / seconds)]);
  }
  await log.close();
  console.log('Relay publish throughput (acked by JetStream, cursor stored after each ack)');
  console.log(table(['window', 'events', 'seconds', 'events/s'], rows));
} finally {
  nats.kill('SIGTERM');
  await new Promise((r) => nats.once('exit', r));
  await tmp.cleanup();
}
