/** queryEvents: a time as `since` or `until` when several events share a millisecond. */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventLog } from '../../src/events/log.js';
import { queryEvents, type EventFilter } from '../../src/events/query.js';
import { containerCreate, tempRoot } from './helpers/fixtures.js';

let root: { dir: string; cleanup: () => Promise<void> };
let log: EventLog;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

beforeEach(async () => {
  root = await tempRoot();
  log = await EventLog.open(join(root.dir, 'events'));
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(T0);
  for (const id of ['a', 'b', 'c']) await log.append(containerCreate(id)); // seqs 1-3, one millisecond
  vi.setSystemTime(T0 + 5);
  await log.append(containerCreate('d')); // seq 4
  vi.useRealTimers();
});
afterEach(async () => {
  vi.useRealTimers();
  await log.close();
  await root.cleanup();
});

async function seqs(filter: EventFilter): Promise<number[]> {
  const out: number[] = [];
  for await (const e of queryEvents(log, filter)) out.push(e.seq);
  return out;
}

describe('queryEvents by time', () => {
  it('since a time starts at the first event of that millisecond, not the last', async () => {
    expect(await seqs({ since: { time: new Date(T0) } })).toEqual([1, 2, 3, 4]);
    expect(await seqs({ since: { time: new Date(T0 + 1) } })).toEqual([4]);
    expect(await seqs({ since: { time: new Date(T0 + 5) } })).toEqual([4]);
    expect(await seqs({ since: { time: new Date(T0 + 6) } })).toEqual([]);
    expect(await seqs({ since: { time: new Date(T0 - 1) } })).toEqual([1, 2, 3, 4]);
  });

  it('until a time ends at the last event of that millisecond', async () => {
    expect(await seqs({ until: { time: new Date(T0) } })).toEqual([1, 2, 3]);
    expect(await seqs({ since: { time: new Date(T0) }, until: { time: new Date(T0 + 4) } })).toEqual([
      1, 2, 3,
    ]);
  });
});
