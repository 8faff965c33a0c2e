/** ImageFsInfo's snapshot usage: image layers measured once, writable layers refreshed behind. */
import { describe, expect, it } from 'vitest';
import { SnapshotUsageCache } from '../../src/daemon/snapshot-usage.js';
import type { SnapshotInfo, SnapshotUsage } from '../../src/snapshots/snapshotter.js';

/** A snapshotter's walk and usage over a table the test edits, counting each measure. */
function fakeSnapshotter() {
  const snapshots = new Map<string, { kind: 'committed' | 'active'; created: string; size: number }>();
  const measured: string[] = [];
  return {
    snapshots,
    measured,
    async walk(fn: (info: SnapshotInfo) => void | Promise<void>) {
      for (const [name, s] of snapshots)
        await fn({ name, kind: s.kind, labels: {}, created: s.created, updated: s.created });
    },
    async usage(name: string): Promise<SnapshotUsage> {
      measured.push(name);
      const s = snapshots.get(name);
      if (!s) throw new Error(`snapshot ${name} not found`);
      return { size: s.size, inodes: 1 };
    },
  };
}

describe('SnapshotUsageCache', () => {
  it('measures a committed snapshot once, and again only when its name is made anew', async () => {
    const snap = fakeSnapshotter();
    snap.snapshots.set('layer', { kind: 'committed', created: 't1', size: 100 });
    const cache = new SnapshotUsageCache(snap);
    expect((await cache.totals()).committed).toEqual({ size: 100, inodes: 1 });
    expect((await cache.totals()).committed).toEqual({ size: 100, inodes: 1 });
    expect(snap.measured).toEqual(['layer']);
    snap.snapshots.set('layer', { kind: 'committed', created: 't2', size: 300 });
    expect((await cache.totals()).committed.size).toBe(300);
    expect(snap.measured).toEqual(['layer', 'layer']);
  });

  it('counts a new writable layer as empty and measures it behind the call', async () => {
    const snap = fakeSnapshotter();
    for (let i = 0; i < 3; i++) snap.snapshots.set(`rw${i}`, { kind: 'active', created: 't1', size: 10 });
    const cache = new SnapshotUsageCache(snap, 10_000, () => 0);
    expect((await cache.totals()).active).toEqual({ size: 0, inodes: 0 });
    await cache.settled();
    expect(snap.measured).toEqual(['rw0', 'rw1', 'rw2']);
    expect((await cache.totals()).active).toEqual({ size: 30, inodes: 3 });
    expect(snap.measured).toHaveLength(3); // fresh now: not measured again
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
    expect(snap.measured).toEqual(['rw']);
    now = 11_000;
    expect((await cache.totals()).active.size).toBe(10); // stale: answered, refreshed behind
    await cache.settled();
    expect(snap.measured).toEqual(['rw', 'rw']);
    expect((await cache.totals()).active.size).toBe(50);
  });

  it('forgets removed snapshots, and counts one removed while measured as empty', async () => {
    const snap = fakeSnapshotter();
    snap.snapshots.set('rw', { kind: 'active', created: 't1', size: 10 });
    snap.snapshots.set('layer', { kind: 'committed', created: 't1', size: 7 });
    const cache = new SnapshotUsageCache(snap);
    await cache.totals();
    snap.snapshots.clear();
    expect(await cache.totals()).toEqual({
      committed: { size: 0, inodes: 0 },
      active: { size: 0, inodes: 0 },
    });
    const racing = { ...snap, usage: async () => Promise.reject(new Error('gone')) };
    snap.snapshots.set('new', { kind: 'active', created: 't3', size: 5 });
    const raced = new SnapshotUsageCache(racing);
    await raced.totals();
    await raced.settled();
    expect((await raced.totals()).active).toEqual({ size: 0, inodes: 0 });
  });
});
