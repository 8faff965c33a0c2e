import { appendFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, NotFoundError } from '../../src/common/errors.js';
import { parseCriLine, parseRfc3339Nano, readLogs, type LogEntry } from '../../src/runtime/logs.js';
import { runtimeFixture, uniqueId, type RuntimeFixture } from './helpers.js';

async function collect(it: AsyncIterable<LogEntry>): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of it) out.push(e);
  return out;
}

/** Pulls entries from a following reader until `count` have arrived. */
async function take(iter: AsyncIterator<LogEntry>, count: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < count) {
    const r = await iter.next();
    if (r.done) break;
    out.push(r.value.text);
  }
  return out;
}

describe('CRI log format', () => {
  it('parses records with nanosecond times and offsets', () => {
    expect(parseCriLine('2026-11-23T08:20:01.123456789+00:00 stdout F hello world')).toEqual({
      time: '2026-11-23T08:20:01.123456789+00:00',
      timestampNanos: 1795422001123456789n,
      stream: 'stdout',
      partial: false,
      text: 'hello world',
    });
    expect(parseCriLine('2026-11-23T08:20:01Z stderr P ')?.partial).toBe(true);
    expect(parseCriLine('2026-11-23T08:20:01Z stderr F')?.text).toBe('');
    expect(parseCriLine('garbage')).toBeUndefined();
    expect(parseRfc3339Nano('2026-11-23T10:20:01.5+02:00')).toBe(
      parseRfc3339Nano('2026-11-23T08:20:01.500000000Z'),
    );
  });
});

describe('readLogs on a file', () => {
  let dir: string;
  let path: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-logs-'));
    path = join(dir, 'c.log');
    await writeFile(
      path,
      [
        '2026-11-23T08:00:00.000000001Z stdout F one',
        '2026-11-23T08:00:01.000000000Z stdout P tw',
        '2026-11-23T08:00:01.100000000Z stderr F err',
        '2026-11-23T08:00:01.200000000Z stdout F o',
        '2026-11-23T08:00:02.000000000Z stdout F three',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('joins partial lines per stream', async () => {
    const entries = await collect(readLogs(path));
    expect(entries.map((e) => `${e.stream}:${e.text}`)).toEqual([
      'stdout:one',
      'stderr:err',
      'stdout:two',
      'stdout:three',
    ]);
    expect(entries[2]?.time).toBe('2026-11-23T08:00:01.000000000Z');
  });

  it('applies tail, since and stream filters', async () => {
    expect((await collect(readLogs(path, { tail: 2 }))).map((e) => e.text)).toEqual(['two', 'three']);
    expect((await collect(readLogs(path, { tail: 0 }))).length).toBe(0);
    const since = new Date('2026-11-23T08:00:01.000Z');
    expect((await collect(readLogs(path, { since }))).map((e) => e.text)).toEqual(['err', 'two', 'three']);
    expect((await collect(readLogs(path, { streams: ['stderr'] }))).map((e) => e.text)).toEqual(['err']);
  });

  it('rejects a bad tail and a missing file with typed errors', async () => {
    await expect(collect(readLogs(path, { tail: -1 }))).rejects.toThrow(InvalidArgumentError);
    await expect(collect(readLogs(join(dir, 'missing.log')))).rejects.toThrow(NotFoundError);
  });

  it('follows appends and continues into a rotated file', async () => {
    const followed = join(dir, 'f.log');
    await writeFile(followed, '2026-11-23T08:00:00Z stdout F a\n');
    const ac = new AbortController();
    const iter = readLogs(followed, { follow: true, signal: ac.signal })[Symbol.asyncIterator]();
    expect(await take(iter, 1)).toEqual(['a']);
    await appendFile(followed, '2026-11-23T08:00:01Z stdout P b');
    await appendFile(followed, '1\n2026-11-23T08:00:01Z stdout F b2\n');
    expect(await take(iter, 1)).toEqual(['b1b2']);
    await rename(followed, `${followed}.1`);
    await writeFile(followed, '2026-11-23T08:00:02Z stdout F c\n');
    expect(await take(iter, 1)).toEqual(['c']);
    ac.abort();
    expect((await iter.next()).done).toBe(true);
  });

  it('reads what was written before the abort, however soon after it comes', async () => {
    const followed = join(dir, 'drain.log');
    await writeFile(followed, '2026-11-23T08:00:00Z stdout F a\n');
    const ac = new AbortController();
    const iter = readLogs(followed, { follow: true, signal: ac.signal })[Symbol.asyncIterator]();
    expect(await take(iter, 1)).toEqual(['a']);
    // The writer's last line and the abort arrive together, before the watcher can report the write.
    await appendFile(followed, '2026-11-23T08:00:01Z stdout F last\n');
    ac.abort();
    const rest: string[] = [];
    for (let r = await iter.next(); !r.done; r = await iter.next()) rest.push(r.value.text);
    expect(rest).toEqual(['last']);
  });
});

describe('logs written by conmon', () => {
  let fx: RuntimeFixture;
  beforeAll(async () => {
    fx = await runtimeFixture('logs');
  });
  afterAll(async () => {
    await fx.cleanup();
  });

  it('splits a long line into P records that the reader joins back', async () => {
    const id = uniqueId('long');
    const logPath = await fx.run(id, {
      command: ['sh', '-c', 'head -c 20000 /dev/zero | tr "\\0" x; echo; echo end'],
    });
    await fx.manager.wait(id, 20_000);
    const raw = await fx.logText(id);
    expect(raw).toMatch(/ stdout P x+\n/);
    const entries = await collect(readLogs(logPath));
    expect(entries.map((e) => e.text)).toEqual(['x'.repeat(20000), 'end']);
    await fx.manager.delete(id);
  });

  it('reopens the log after rotation so new lines land in the new file', async () => {
    const id = uniqueId('rotate');
    const logPath = await fx.run(id, {
      command: ['sh', '-c', 'i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done'],
    });
    await expect
      .poll(async () => (await collect(readLogs(logPath))).length, { timeout: 10_000 })
      .toBeGreaterThan(2);
    await rename(logPath, `${logPath}.1`);
    await fx.manager.reopenLog(id);
    await expect
      .poll(async () => (await collect(readLogs(logPath)).catch(() => [])).length, { timeout: 10_000 })
      .toBeGreaterThan(2);
    const before = (await collect(readLogs(`${logPath}.1`))).map((e) => Number(e.text.slice(4)));
    const after = (await collect(readLogs(logPath))).map((e) => Number(e.text.slice(4)));
    // No line lost or duplicated across the rotation.
    expect(after[0]).toBe((before.at(-1) ?? -1) + 1);
    await fx.manager.stop(id, 0);
    await fx.manager.delete(id);
    await expect(fx.manager.reopenLog(id)).rejects.toThrow(NotFoundError);
  });
});
