/**
 * SandboxStore keeps the records it reads and writes in memory (ListPodSandbox reads no files),
 * hands out copies, and never keeps a record a concurrent put or delete replaced.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SandboxStore, type SandboxRecord } from '../../src/sandbox/store.js';

const ID = 'a'.repeat(64);
const record = (state: SandboxRecord['state']): SandboxRecord =>
  ({ id: ID, config: { metadata: { name: 'p' } }, createdAt: '2026-12-07T00:00:00Z', state }) as never;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-store-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SandboxStore', () => {
  it('answers from memory after a put, and from the file for another store on the same folder', async () => {
    const store = new SandboxStore(dir);
    await store.put(record('ready'));
    const file = path.join(store.sandboxDir(ID), 'sandbox.json');
    await rm(file); // gone from disk: this store still knows it, a fresh one does not
    expect((await store.get(ID))?.state).toBe('ready');
    expect(await new SandboxStore(dir).get(ID)).toBeUndefined();
  });

  it('hands out copies: changing one changes nothing until it is put', async () => {
    const store = new SandboxStore(dir);
    await store.put(record('ready'));
    const r = (await store.get(ID))!;
    r.state = 'notready';
    expect((await store.get(ID))!.state).toBe('ready');
    await store.put(r);
    expect((await store.get(ID))!.state).toBe('notready');
    expect(JSON.parse(await readFile(path.join(store.sandboxDir(ID), 'sandbox.json'), 'utf8')).state).toBe(
      'notready',
    );
  });

  it('forgets a deleted record, also one whose read from disk overlapped the delete', async () => {
    const writer = new SandboxStore(dir);
    await writer.put(record('ready'));
    const store = new SandboxStore(dir); // nothing in memory: its get reads the file
    const reading = store.get(ID);
    await store.delete(ID);
    await reading; // may have read the file before it went: must not be kept
    expect(await store.get(ID)).toBeUndefined();
    expect(await store.list()).toEqual([]);
  });

  it('lists every record in id order', async () => {
    const store = new SandboxStore(dir);
    const other = { ...record('ready'), id: 'b'.repeat(64) };
    await store.put(other);
    await store.put(record('created'));
    expect((await store.list()).map((r) => r.id)).toEqual([ID, other.id]);
  });
});
