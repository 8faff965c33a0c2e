/**
 * ImageFsInfo's and container stats' snapshot usage: image layers measured once, writable layers
 * refreshed behind the call, every layer due in one pass.
 */
import { describe, expect, it } from 'vitest';
import { SnapshotUsageCache } from '../../src/daemon/snapshot-usage.js';
import type { SnapshotInfo, SnapshotUsage } from '../../src/snapshots/snapshotter.js';

/** A snapshotter's walk and usageOf over a table the test edits, recording each pass's names. */
function fakeSnapshotter() {
  const snapshots = new Map<string, { kind: 'committed' | 'active'; created: string; size: number }>();
  const passes: string[][] = [];
  let fail: Error | undefined;
  let gate: Promise<void> | undefined;
  return {
    snapshots,
    passes,
    failNext(err: Error) {
      fail = err;
    },
    /** Holds the next passes until the returned function is called. */
    hold(): () => void {
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      return () => {
        gate = undefined;
        open();
      };
    },
    async walk(fn: (info: SnapshotInfo) => void | Promise<void>) {
      for (const [name, s] of snapshots)
        await fn({ name, kind: s.kind, labels: {}, created: s.created, updated: s.created });
    },
    async usageOf(names: readonly string[]): Promise<Map<string, SnapshotUsage>> {
      passes.push([...names]);
      await gate;
      if (fail) {
        const err = fail;
        fail = undefined;
        throw err;
      }
      const result = new Map<string, SnapshotUsage>();
      for (const name of names) {
        const s = snapshots.get(name);
        if (s) result.set(name, { size: s.size, inodes: 1 });
      }
      return result;
    },
  };
}

describe('SnapshotUsageCache', () => {
  it('measures committed snapshots once, in one pass, and again only when a name is made anew', async () => {
    const snap = fakeSnapshotter();
    snap.snapshots.set('layer1', { kind: 'committed', created: 't1', size: 100 });
    snap.snapshots.set('layer2', { kind: 'committed', created: 't1', size: 20 });
    const cache = new SnapshotUsageCache(snap);
    expect((await cache.totals()).committed).toEqual({ size: 120, inodes: 2 });
    expect((await cache.totals()).committed).toEqual({ size: 120, inodes: 2 });
    expect(snap.passes).toEqual([['layer1', 'layer2']]);
    snap.snapshots.set('layer1', { kind: 'committed', created: 't2', size: 300 });
    expect((await cache.totals()).committed.size).toBe(320);
    expect(snap.passes).toEqual([['layer1', 'layer2'], ['layer1']]);
  });

  it('counts new writable layers as empty and measures them all behind the call in one pass', async () => {
    const snap = fakeSnapshotter();
    for (let i = 0; i < 100; i++) snap.snapshots.set(`rw${i}`, { kind: 'active', created: 't1', size: 10 });
    const cache = new SnapshotUsageCache(snap, 10_000, () => 0);
    expect((await cache.totals()).active).toEqual({ size: 0, inodes: 0 });
    await cache.settled();
    expect(snap.passes).toHaveLength(1);
    expect(snap.passes[0]).toHaveLength(100);
    expect((await cache.totals()).active).toEqual({ size: 1000, inodes: 100 });
    expect(snap.passes).toHaveLength(1); // fresh now: not measured again
  });

  it('answers a writable layer from its last measure and measures it again behind once stale', async () => {
    const snap = fakeSnapshotter();
    let now = 0;
    snap.snapshots.set('rw', { kind: 'active', created: 't1', size: 10 });
    const cache = new SnapshotUsageCache(snap, 10_000, () => now);
    await cache.totals(); // new: counted empty, measured behind
    await cache.settled();
    expect((await cache.totals()).active.size).toBe(10);
    snap.snapshots.get('rw')!.size = 50;
    now = 5_000;
    expect((await cache.totals()).active.size).toBe(10); // fresh enough: not measured again
    expect(cache.activeUsage('rw').size).toBe(10);
    expect(snap.passes).toEqual([['rw']]);
    now = 11_000;
    expect(cache.activeUsage('rw').size).toBe(10); // stale: answered, refreshed behind
    await cache.settled();
    expect(snap.passes).toEqual([['rw'], ['rw']]);
    expect((await cache.totals()).active.size).toBe(50);
  });

  it('gives container stats the same measures, queuing what is asked during a pass for the next one', async () => {
    const snap = fakeSnapshotter();
    for (const name of ['a', 'b', 'c']) snap.snapshots.set(name, { kind: 'active', created: 't1', size: 7 });
    const cache = new SnapshotUsageCache(snap, 10_000, () => 0);
    const release = snap.hold();
    expect(cache.activeUsage('a')).toEqual({ size: 0, inodes: 0 }); // new: empty until measured
    await Promise.resolve();
    // During a's pass: a is not queued again, b and c wait for one pass after it.
    for (const name of ['a', 'b', 'c', 'a', 'b']) cache.activeUsage(name);
    release();
    await cache.settled();
    expect(snap.passes).toEqual([['a'], ['b', 'c']]);
    expect((await cache.totals()).active).toEqual({ size: 21, inodes: 3 });
  });

  it('reports a failed pass and keeps what it was for due, measuring it at the next call', async () => {
    const snap = fakeSnapshotter();
    let now = 0;
    snap.snapshots.set('rw', { kind: 'active', created: 't1', size: 10 });
    snap.snapshots.set('layer', { kind: 'committed', created: 't1', size: 7 });
    const failures: unknown[] = [];
    const cache = new SnapshotUsageCache(
      snap,
      10_000,
      () => now,
      (err) => failures.push(err),
    );
    snap.failNext(new Error('du: read error'));
    // The image layer's pass fails: it counts empty this once and is measured at the next call.
    expect((await cache.totals()).committed.size).toBe(0);
    await cache.settled();
    expect((await cache.totals()).committed.size).toBe(7);
    expect((await cache.totals()).active.size).toBe(10);
    // A writable layer's refresh fails: it keeps its last measure and stays due.
    snap.snapshots.get('rw')!.size = 30;
    now = 11_000;
    snap.failNext(new Error('du: read error'));
    expect((await cache.totals()).active.size).toBe(10);
    await cache.settled();
    expect((await cache.totals()).active.size).toBe(10);
    await cache.settled();
    expect((await cache.totals()).active.size).toBe(30);
    expect(failures).toHaveLength(2);
    expect(snap.passes).toEqual([['layer'], ['rw'], ['layer'], ['rw'], ['rw']]);
  });

  it('forgets removed snapshots, and counts one removed while measured as empty', async () => {
    const snap = fakeSnapshotter();
    snap.snapshots.set('rw', { kind: 'active', created: 't1', size: 10 });
    snap.snapshots.set('layer', { kind: 'committed', created: 't1', size: 7 });
    const cache = new SnapshotUsageCache(snap);
    await cache.totals();
    await cache.settled();
    snap.snapshots.clear();
    expect(await cache.totals()).toEqual({
      committed: { size: 0, inodes: 0 },
      active: { size: 0, inodes: 0 },
    });
    snap.snapshots.set('new', { kind: 'active', created: 't3', size: 5 });
    const release = snap.hold();
    await cache.totals(); // queued, its pass held
    snap.snapshots.delete('new'); // removed while measured
    release();
    await cache.settled();
    snap.snapshots.set('new', { kind: 'active', created: 't3', size: 5 });
    expect((await cache.totals()).active).toEqual({ size: 0, inodes: 0 });
  });
});
