import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { Level } from 'level';
import { EventLog } from '../../src/events/log.js';
import { GENESIS_HASH } from '../../src/events/model.js';
import { apiCause, containerCreate, imageCreate, tempRoot } from './helpers/fixtures.js';

let root: { dir: string; cleanup: () => Promise<void> };
let dir: string;
beforeEach(async () => {
  root = await tempRoot();
  dir = join(root.dir, 'events');
});
afterEach(async () => {
  await root.cleanup();
});

async function keysOf(log: EventLog): Promise<string[]> {
  return log.rawDb.keys().all();
}

describe('EventLog append', () => {
  it('assigns gap-free seqs from 1 and links each hash to the previous one', async () => {
    const log = await EventLog.open(dir);
    const a = await log.append(containerCreate('a'));
    const b = await log.append(containerCreate('b'));
    expect([a.seq, b.seq]).toEqual([1, 2]);
    expect(a.prev).toBe(GENESIS_HASH);
    expect(b.prev).toBe(a.hash);
    expect(a.subject).toBe('a');
    expect(log.lastSeq).toBe(2);
    await log.close();
  });

  it('keeps its visibility bound before an event until the listeners have seen it', async () => {
    const log = await EventLog.open(dir);
    // Far ahead of the event's time: a clock read while the event is not yet seen must not count.
    const farAhead = Date.now() + 60_000;
    const seenByListener: { eventMs: number; boundMs: number }[] = [];
    log.onAppend((events) => {
      for (const e of events)
        seenByListener.push({ eventMs: Date.parse(e.time), boundMs: log.visibleBeforeMs(farAhead) });
    });
    const e = await log.append(containerCreate('a'));
    // The bound was set when the event got its time, before the write, and held through the listeners.
    expect(seenByListener).toEqual([{ eventMs: Date.parse(e.time), boundMs: Date.parse(e.time) - 1 }]);
    // Afterwards it is the clock's, one millisecond back.
    expect(log.visibleBeforeMs(farAhead)).toBe(farAhead - 1);
    await log.close();
  });

  it('returns the first event for a repeated idempotency key and writes nothing', async () => {
    const log = await EventLog.open(dir);
    const first = await log.append(containerCreate('a', 'default', { key: 'wf-1/create' }));
    const keysBefore = await keysOf(log);
    const again = await log.append(containerCreate('a-different', 'default', { key: 'wf-1/create' }));
    expect(again).toEqual(first);
    expect(await keysOf(log)).toEqual(keysBefore);
    expect(log.lastSeq).toBe(1);
    await log.close();
  });

  it('derives the key from workflow id and step so a retried activity appends once', async () => {
    const log = await EventLog.open(dir);
    const cause = {
      kind: 'workflow',
      workflowId: 'container:a:create',
      runId: 'r1',
      step: 'create',
    } as const;
    const first = await log.append({ ...containerCreate('a'), cause });
    const retry = await log.append({ ...containerCreate('a'), cause: { ...cause, runId: 'r2' } });
    expect(retry.seq).toBe(first.seq);
    expect(first.key).toBe('container:a:create/create');
    await log.close();
  });

  it('deduplicates the same key inside one group-committed batch', async () => {
    const log = await EventLog.open(dir);
    const results = await Promise.all(
      Array.from({ length: 50 }, () => log.append(containerCreate('x', 'default', { key: 'same' }))),
    );
    expect(new Set(results.map((e) => e.seq))).toEqual(new Set([1]));
    expect(log.lastSeq).toBe(1);
    await log.close();
  });

  it('group-commits concurrent appends into gap-free seqs with a valid chain', async () => {
    const log = await EventLog.open(dir);
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => log.append(containerCreate(`c${i}`))),
    );
    expect(results.map((e) => e.seq).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 500 }, (_, i) => i + 1),
    );
    expect((await log.verify()).ok).toBe(true);
    await log.close();
  });

  it('takes a task start or exit without a pid (unknown), never a placeholder pid', async () => {
    const log = await EventLog.open(dir);
    const task = { namespace: 'default', cause: containerCreate('a').cause };
    const start = await log.append({ ...task, topic: '/tasks/start', data: { v: 1, containerId: 'a' } });
    expect(start.data).not.toHaveProperty('pid');
    const exitedAt = new Date(0).toISOString();
    await log.append({
      ...task,
      topic: '/tasks/exit',
      data: { v: 2, containerId: 'a', exitCode: 0, exitedAt },
    });
    await expect(
      log.append({ ...task, topic: '/tasks/start', data: { v: 1, containerId: 'a', pid: 0 } }),
    ).rejects.toThrow(/\/tasks\/start rejected: field "data\.pid"/);
    await log.close();
  });

  it('rejects an event failing its schema, naming topic and field, and leaves the log unchanged', async () => {
    const log = await EventLog.open(dir);
    await log.append(containerCreate('a'));
    const before = await keysOf(log);
    await expect(log.append({ ...containerCreate('b'), data: { v: 1, id: 'b' } })).rejects.toThrow(
      /\/containers\/create rejected: field "data\.image"/,
    );
    await expect(
      log.append({
        ...imageCreate('img'),
        data: { v: 2, name: 'img', target: { digest: 'nope', mediaType: 'x' } },
      }),
    ).rejects.toThrow(/\/images\/create rejected: field "data\.target\.digest"/);
    await expect(log.append({ ...containerCreate('b'), topic: '/containers/explode' })).rejects.toThrow(
      /unknown topic "\/containers\/explode"/,
    );
    await expect(log.append({ ...containerCreate('b'), namespace: '' })).rejects.toThrow(/field "namespace"/);
    await expect(
      log.append({ ...containerCreate('b'), cause: { kind: 'workflow', workflowId: 'w' } as never }),
    ).rejects.toThrow(/field "cause\.runId"/);
    await expect(
      log.append({ ...containerCreate('b'), data: { v: 1, id: 'b', image: 'i', n: Number.NaN } }),
    ).rejects.toThrow(/field "data"/);
    await expect(
      log.append({ ...containerCreate('b'), data: { v: 2, id: 'b', image: 'i' } }),
    ).rejects.toThrow(/field "data\.v"/);
    expect(await keysOf(log)).toEqual(before);
    expect(log.lastSeq).toBe(1);
    await log.close();
  });

  it('keeps appended events across a reopen', async () => {
    const log = await EventLog.open(dir);
    const a = await log.append(containerCreate('a', 'default', { key: 'k1' }));
    await log.close();
    const again = await EventLog.open(dir);
    expect(await again.get(1)).toEqual(a);
    expect((await again.append(containerCreate('a', 'default', { key: 'k1' }))).seq).toBe(1);
    expect((await again.append(containerCreate('b'))).prev).toBe(a.hash);
    await again.close();
  });
});

describe('EventLog readers', () => {
  it('reads by seq range, subject, topic and time', async () => {
    const log = await EventLog.open(dir);
    await log.append(containerCreate('a'));
    await log.append(imageCreate('busybox'));
    await log.append({
      namespace: 'default',
      topic: '/containers/delete',
      data: { v: 1, id: 'a' },
      cause: apiCause,
    });
    await log.append(containerCreate('b'));
    const seqs = async (it: AsyncIterable<{ seq: number }>) => {
      const out: number[] = [];
      for await (const e of it) out.push(e.seq);
      return out;
    };
    expect(await seqs(log.read({ from: 2, to: 3 }))).toEqual([2, 3]);
    expect(await seqs(log.read({ from: 2, limit: 1 }))).toEqual([2]);
    expect(await seqs(log.readBySubject('a'))).toEqual([1, 3]);
    expect(await seqs(log.readByTopic('/containers/create'))).toEqual([1, 4]);
    expect(await seqs(log.readByTopic('/containers/create', { from: 2 }))).toEqual([4]);
    const third = (await log.get(3))!;
    expect(await log.seqAtTime(new Date(third.time))).toBeGreaterThanOrEqual(3);
    expect(await log.seqAtTime(new Date(0))).toBe(0);
    await log.close();
  });
});

describe('EventLog startup checks', () => {
  it('refuses a directory that is not a level database', async () => {
    await mkdir(dir);
    await writeFile(join(dir, 'notes.txt'), 'hello');
    await expect(EventLog.open(dir)).rejects.toThrow(
      /not a level database \(no CURRENT file; found notes\.txt\).*refusing to reinitialise/,
    );
  });

  it('refuses a foreign level database', async () => {
    const other = new Level<string, string>(dir);
    await other.open();
    await other.put('users:1', 'alice');
    await other.close();
    await expect(EventLog.open(dir)).rejects.toThrow(
      /foreign level database: it has no Berth format marker \(first key "users:1"\)/,
    );
  });

  it('refuses a log whose newest events were lost (truncated)', async () => {
    const log = await EventLog.open(dir);
    for (let i = 0; i < 5; i++) await log.append(containerCreate(`c${i}`));
    const db = log.rawDb;
    await db.del('e:0000000000000005');
    await log.close();
    await expect(EventLog.open(dir)).rejects.toThrow(
      /truncated or damaged: its head says seq 5 but event 5 is missing \(the last stored event is seq 4\)/,
    );
  });

  it('refuses a log whose level files were removed', async () => {
    const log = await EventLog.open(dir);
    await log.append(containerCreate('a'));
    await log.close();
    await rm(join(dir, 'CURRENT'));
    await expect(EventLog.open(dir)).rejects.toThrow(/no CURRENT file/);
  });

  it('refuses a second opener while the log is open', async () => {
    const log = await EventLog.open(dir);
    await expect(EventLog.open(dir)).rejects.toThrow(/in use by another process|cannot be opened/);
    await log.close();
  });
});

describe('EventLog verify', () => {
  it('names the first altered seq', async () => {
    const log = await EventLog.open(dir);
    for (let i = 0; i < 5; i++) await log.append(containerCreate(`c${i}`));
    expect(await log.verify()).toMatchObject({ ok: true, checked: 5 });
    const raw = (await log.rawDb.get('e:0000000000000003'))!;
    await log.rawDb.put('e:0000000000000003', raw.replace('"c2"', '"cX"'));
    expect(await log.verify()).toMatchObject({
      ok: false,
      firstBad: { seq: 3, problem: expect.stringMatching(/hash .* does not match/) },
    });
    await log.close();
  });
});
