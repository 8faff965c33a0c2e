import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { join } from 'node:path';
import { Level } from 'level';
import { EventLog } from '../../src/events/log.js';
import type { AppendRequest } from '../../src/events/model.js';
import { Projections } from '../../src/events/projections/projections.js';
import { emptyState, foldEvents } from '../../src/events/projections/state.js';
import { eventKey } from '../../src/events/keys.js';
import { tempRoot } from './helpers/fixtures.js';
import { eventSequence } from './helpers/arbitrary.js';

let root: { dir: string; cleanup: () => Promise<void> };
let n = 0;
beforeEach(async () => {
  root = await tempRoot();
});
afterEach(async () => {
  await root.cleanup();
});

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

/** Appends each request; workflow-caused requests get a unique key so none is deduplicated away. */
async function appendAll(log: EventLog, reqs: AppendRequest[], offset = 0): Promise<void> {
  for (const [i, r] of reqs.entries()) await log.append({ ...r, key: `k${offset + i}` });
}

describe('projection properties', () => {
  it('rebuild from 0 == checkpoint + tail == incremental, for random event sequences', async () => {
    await fc.assert(
      fc.asyncProperty(eventSequence(40), fc.nat(), async (reqs, cut) => {
        const k = cut % (reqs.length + 1);
        const log = await EventLog.open(join(root.dir, `p${n++}`));
        const incremental = await Projections.open(log, { checkpointEvery: 0 });
        await appendAll(log, reqs.slice(0, k));
        await incremental.checkpoint();
        await appendAll(log, reqs.slice(k), k);
        const events = [];
        for await (const e of log.read()) events.push(e);
        const rebuilt = foldEvents(events, emptyState());
        const fromCheckpoint = await Projections.open(log, { checkpointEvery: 0 });
        expect(fromCheckpoint.loaded.checkpointSeq).toBe(k);
        expect(fromCheckpoint.loaded.tailEvents).toBe(reqs.length - k);
        expect(plain(incremental.state)).toEqual(plain(rebuilt));
        expect(plain(fromCheckpoint.state)).toEqual(plain(rebuilt));
        expect((await incremental.check()).differences).toEqual([]);
        await log.close();
      }),
      { numRuns: 40 },
    );
  });
});

describe('tamper evidence', () => {
  it('any single-byte change in any stored event value is caught by verify at that seq', async () => {
    await fc.assert(
      fc.asyncProperty(
        eventSequence(12),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (reqs, which, pos, xor) => {
          const dir = join(root.dir, `t${n++}`);
          const log = await EventLog.open(dir);
          await appendAll(log, reqs);
          await log.close();
          const seq = (which % reqs.length) + 1;
          const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
          await db.open();
          const value = (await db.get(eventKey(seq)))!;
          const at = pos % value.length;
          value[at] = value[at]! ^ xor;
          await db.put(eventKey(seq), value);
          await db.close();
          const reopened = await EventLog.open(dir);
          const result = await reopened.verify();
          await reopened.close();
          expect(result.ok).toBe(false);
          expect(result.firstBad?.seq).toBe(seq);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('any single-byte change in an event key (the seq link) is caught at that seq', async () => {
    await fc.assert(
      fc.asyncProperty(
        eventSequence(12),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 127 }),
        async (reqs, which, pos, xor) => {
          const dir = join(root.dir, `k${n++}`);
          const log = await EventLog.open(dir);
          await appendAll(log, reqs);
          await log.close();
          const seq = (which % reqs.length) + 1;
          const db = new Level<string, string>(dir);
          await db.open();
          const key = eventKey(seq);
          const value = (await db.get(key))!;
          const at = pos % key.length;
          const altered =
            key.slice(0, at) + String.fromCharCode(key.charCodeAt(at) ^ xor) + key.slice(at + 1);
          await db.batch([
            { type: 'del', key },
            { type: 'put', key: altered, value },
          ]);
          await db.close();
          if (seq === reqs.length) {
            // The head's own event is gone from its key: startup refuses and names the seq.
            await expect(EventLog.open(dir)).rejects.toThrow(
              new RegExp(`head says seq ${seq} but event ${seq} is missing`),
            );
            return;
          }
          const reopened = await EventLog.open(dir);
          const result = await reopened.verify();
          await reopened.close();
          expect(result.ok).toBe(false);
          // A changed key that lands on an earlier event's key overwrites that event: the chain
          // is broken there first (fast-check found seq 4's key turned into seq 1's).
          const overwritten = Array.from({ length: reqs.length }, (_, i) => i + 1).find(
            (s) => eventKey(s) === altered,
          );
          expect(result.firstBad?.seq).toBe(Math.min(seq, overwritten ?? seq));
        },
      ),
      { numRuns: 60 },
    );
  });
});
