import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EventLog } from '../../src/events/log.js';
import { containerCreate, tempRoot } from './helpers/fixtures.js';

let root: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  root = await tempRoot();
});
afterEach(async () => {
  await root.cleanup();
});

describe('damaged level files', () => {
  it('refuses a log whose table file was lost, naming the damage', async () => {
    const dir = join(root.dir, 'events');
    const log = await EventLog.open(dir);
    // Enough data that level flushes its write buffer into table (.ldb) files.
    const big = 'x'.repeat(2000);
    for (let i = 0; i < 40; i++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          log.append(
            containerCreate(`c${i}-${j}`, 'default', {
              data: { v: 1, id: `c${i}-${j}`, image: 'i', pad: big },
            }),
          ),
        ),
      );
    }
    await log.close();
    const tables = (await readdir(dir)).filter((f) => f.endsWith('.ldb'));
    expect(tables.length).toBeGreaterThan(0);
    await rm(join(dir, tables[0]!));
    await expect(EventLog.open(dir)).rejects.toThrow(
      /event log .* (cannot be opened, it is damaged or truncated|is truncated or damaged)/,
    );
  });

  it('refuses a log whose format marker names another format or version', async () => {
    const dir = join(root.dir, 'events');
    const log = await EventLog.open(dir);
    await log.rawDb.put('m:format', JSON.stringify({ format: 'berth-event-log', version: 99 }));
    await log.close();
    await expect(EventLog.open(dir)).rejects.toThrow(/has format version 99; this berthd reads version 1/);
    const log2 = await EventLog.open(join(root.dir, 'other'));
    await log2.rawDb.put('m:format', JSON.stringify({ format: 'something-else', version: 1 }));
    await log2.close();
    await expect(EventLog.open(join(root.dir, 'other'))).rejects.toThrow(
      /foreign level database: format "something-else"/,
    );
  });

  it('initialises a missing or empty directory, and leaves a non-empty refused one untouched', async () => {
    const dir = join(root.dir, 'refused');
    await EventLog.open(join(root.dir, 'fresh')).then((l) => l.close());
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(root.dir, 'empty'));
    await EventLog.open(join(root.dir, 'empty')).then((l) => l.close());
    await mkdir(dir);
    await writeFile(join(dir, 'LOG'), 'partial');
    await expect(EventLog.open(dir)).rejects.toThrow(/no CURRENT file; found LOG/);
    expect(await readdir(dir)).toEqual(['LOG']);
  });
});
