/**
 * The snapshotter conformance suite (in the spirit of containerd's core/snapshots/testsuite):
 * every Snapshotter implementation must pass it, run against the real kernel mounts.
 */
import { link, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  SnapshotExistsError,
  SnapshotHasChildrenError,
  SnapshotKindError,
  SnapshotNotFoundError,
  collectSnapshots,
  type SnapshotEvent,
  type Snapshotter,
  type SnapshotInfo,
  type SnapshotterOpenOptions,
} from '../../src/snapshots/index.js';
import { tempRoot, withMounted } from './helpers.js';

export type SnapshotterFactory = (root: string, opts?: SnapshotterOpenOptions) => Promise<Snapshotter>;

async function listTree(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const st = await stat(join(dir, p));
    out.push(st.isDirectory() ? `${p}/` : p);
    if (st.isDirectory()) out.push(...(await listTree(dir, p)));
  }
  return out;
}

/** Makes a committed snapshot `name` on `parent` whose layer is written by `fill` through its mounts. */
async function layer(
  sn: Snapshotter,
  name: string,
  parent: string | undefined,
  fill: (dir: string) => Promise<void>,
): Promise<void> {
  const key = `extract-${name}`;
  const mounts = await sn.prepare(key, parent);
  await withMounted(mounts, fill);
  await sn.commit(name, key);
}

export function snapshotterConformance(label: string, factory: SnapshotterFactory): void {
  describe(`snapshotter conformance: ${label}`, () => {
    let root: string;
    let sn: Snapshotter;
    let opened: Snapshotter[] = [];
    const open = async (opts?: SnapshotterOpenOptions): Promise<Snapshotter> => {
      const instance = await factory(root, opts);
      opened.push(instance);
      return instance;
    };

    beforeEach(async () => {
      root = await tempRoot(`berth-snap-${label}-`);
      sn = await open();
    });
    afterEach(async () => {
      // Every instance's sync behind its commits writes `synced` into the root when its timer
      // fires: let them finish first (as berthd does when it stops), or they race the removal.
      for (const instance of opened) await instance.flush();
      opened = [];
      await rm(root, { recursive: true, force: true });
    });

    it('prepare then commit turns an active snapshot into a committed one and drops the key', async () => {
      await layer(sn, 'base', undefined, async (d) => writeFile(join(d, 'a'), 'A'));
      expect((await sn.stat('base')).kind).toBe('committed');
      await expect(sn.stat('extract-base')).rejects.toBeInstanceOf(SnapshotNotFoundError);
    });

    it('shows files through a chain of three layers, with changes and deletions of upper layers', async () => {
      await layer(sn, 'l1', undefined, async (d) => {
        await writeFile(join(d, 'keep'), 'k1');
        await writeFile(join(d, 'change'), 'c1');
        await mkdir(join(d, 'dir'));
        await writeFile(join(d, 'dir', 'gone'), 'g');
        await writeFile(join(d, 'dir', 'stay'), 's');
      });
      await layer(sn, 'l2', 'l1', async (d) => {
        await writeFile(join(d, 'change'), 'c2');
        await rm(join(d, 'dir', 'gone'));
        await writeFile(join(d, 'added'), 'a2');
      });
      await layer(sn, 'l3', 'l2', async (d) => {
        await rm(join(d, 'added'));
        await writeFile(join(d, 'top'), 't3');
      });
      await withMounted(await sn.view('v3', 'l3'), async (d) => {
        expect(await listTree(d)).toEqual(['change', 'dir/', 'dir/stay', 'keep', 'top']);
        expect(await readFile(join(d, 'change'), 'utf8')).toBe('c2');
      });
      await withMounted(await sn.view('v2', 'l2'), async (d) => {
        expect(await listTree(d)).toEqual(['added', 'change', 'dir/', 'dir/stay', 'keep']);
      });
      await withMounted(await sn.view('v1', 'l1'), async (d) => {
        expect(await listTree(d)).toEqual(['change', 'dir/', 'dir/gone', 'dir/stay', 'keep']);
        expect(await readFile(join(d, 'change'), 'utf8')).toBe('c1');
      });
    });

    it('an active snapshot on a parent starts with the parent content, and its writes do not reach the parent', async () => {
      await layer(sn, 'p', undefined, async (d) => writeFile(join(d, 'f'), 'parent'));
      await withMounted(await sn.prepare('rw', 'p'), async (d) => {
        expect(await readFile(join(d, 'f'), 'utf8')).toBe('parent');
        await writeFile(join(d, 'f'), 'child');
      });
      await withMounted(await sn.mounts('rw'), async (d) =>
        expect(await readFile(join(d, 'f'), 'utf8')).toBe('child'),
      );
      await withMounted(await sn.view('pv', 'p'), async (d) =>
        expect(await readFile(join(d, 'f'), 'utf8')).toBe('parent'),
      );
    });

    it('a view is read-only and cannot be committed', async () => {
      await layer(sn, 'p', undefined, async (d) => writeFile(join(d, 'f'), 'x'));
      const mounts = await sn.view('v', 'p');
      await withMounted(mounts, async (d) => {
        await expect(writeFile(join(d, 'new'), 'y')).rejects.toMatchObject({ code: 'EROFS' });
      });
      await expect(sn.commit('c', 'v')).rejects.toBeInstanceOf(SnapshotKindError);
      expect((await sn.stat('v')).kind).toBe('view');
    });

    it('refuses an existing key, a missing parent, a parent that is not committed, and committing onto an existing name', async () => {
      await sn.prepare('a');
      await expect(sn.prepare('a')).rejects.toBeInstanceOf(SnapshotExistsError);
      await expect(sn.view('a')).rejects.toBeInstanceOf(SnapshotExistsError);
      await expect(sn.prepare('b', 'nope')).rejects.toBeInstanceOf(SnapshotNotFoundError);
      await expect(sn.prepare('b', 'a')).rejects.toBeInstanceOf(SnapshotNotFoundError);
      await sn.commit('c', 'a');
      await sn.prepare('a2', 'c');
      await expect(sn.commit('c', 'a2')).rejects.toBeInstanceOf(SnapshotExistsError);
      expect((await sn.stat('a2')).kind).toBe('active');
      await expect(sn.commit('d', 'missing')).rejects.toBeInstanceOf(SnapshotNotFoundError);
      await expect(sn.mounts('c')).rejects.toBeInstanceOf(SnapshotKindError);
      // A failed prepare leaves nothing behind.
      const names: string[] = [];
      await sn.walk((i) => void names.push(i.name));
      expect(names).toEqual(['a2', 'c']);
    });

    it('remove refuses a parent with children, then removes leaf first and frees the data', async () => {
      await layer(sn, 'base', undefined, async (d) => writeFile(join(d, 'f'), 'x'));
      await sn.prepare('child', 'base');
      const baseDir = await sn.dataDir('base');
      const err = await sn.remove('base').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SnapshotHasChildrenError);
      expect((err as Error).message).toContain('"child"');
      const childDir = await sn.dataDir('child');
      await sn.remove('child');
      await expect(stat(childDir)).rejects.toMatchObject({ code: 'ENOENT' });
      await sn.remove('base');
      await expect(stat(baseDir)).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(sn.remove('base')).rejects.toBeInstanceOf(SnapshotNotFoundError);
      // The key can be used again.
      await sn.prepare('child');
    });

    it('usage counts allocated bytes and inodes, hardlinks once', async () => {
      const mounts = await sn.prepare('u');
      const empty = await sn.usage('u');
      expect(empty.inodes).toBe(1);
      await withMounted(mounts, async (d) => {
        await writeFile(join(d, 'big'), Buffer.alloc(1 << 20, 1));
        await link(join(d, 'big'), join(d, 'big-link'));
        await writeFile(join(d, 'small'), 'x');
      });
      const used = await sn.usage('u');
      expect(used.inodes).toBe(3);
      expect(used.size).toBeGreaterThanOrEqual(1 << 20);
      expect(used.size).toBeLessThan(2 << 20);
    });

    it('usageOf measures several snapshots in one pass, as usage does each, and leaves out unknown keys', async () => {
      await layer(sn, 'base', undefined, async (d) => writeFile(join(d, 'f'), Buffer.alloc(64 << 10, 2)));
      const mounts = await sn.prepare('rw', 'base');
      await withMounted(mounts, async (d) => writeFile(join(d, 'g'), Buffer.alloc(256 << 10, 3)));
      const both = await sn.usageOf(['base', 'rw', 'no-such-key', 'rw']);
      expect([...both.keys()].sort()).toEqual(['base', 'rw']);
      expect(both.get('base')).toEqual(await sn.usage('base'));
      expect(both.get('rw')).toEqual(await sn.usage('rw'));
      expect(both.get('rw')!.size).toBeGreaterThanOrEqual(256 << 10);
      expect(await sn.usageOf([])).toEqual(new Map());
    });

    it('walk reports every snapshot with its kind, parent and labels', async () => {
      await layer(sn, 'base', undefined, async () => undefined);
      await sn.prepare('act', 'base', { labels: { role: 'container' } });
      await sn.view('vw', 'base');
      const seen: SnapshotInfo[] = [];
      await sn.walk((i) => void seen.push(i));
      expect(seen.map((i) => [i.name, i.kind, i.parent ?? null, i.labels.role ?? null])).toEqual([
        ['act', 'active', 'base', 'container'],
        ['base', 'committed', null, null],
        ['vw', 'view', 'base', null],
      ]);
    });

    it('commit keeps the labels of the active snapshot and adds new ones', async () => {
      await sn.prepare('k', undefined, { labels: { a: '1' } });
      await sn.commit('n', 'k', { labels: { b: '2' } });
      expect((await sn.stat('n')).labels).toEqual({ a: '1', b: '2' });
    });

    it('a new instance on the same root sees the same snapshots and content', async () => {
      await layer(sn, 'base', undefined, async (d) => writeFile(join(d, 'f'), 'persisted'));
      await sn.prepare('act', 'base', { labels: { x: 'y' } });
      const again = await open();
      expect(await again.stat('base')).toEqual(await sn.stat('base'));
      expect((await again.stat('act')).labels).toEqual({ x: 'y' });
      await withMounted(await again.view('v', 'base'), async (d) =>
        expect(await readFile(join(d, 'f'), 'utf8')).toBe('persisted'),
      );
      // Ids do not collide with the first instance's.
      await again.prepare('more', 'base');
      expect(await again.dataDir('more')).not.toBe(await again.dataDir('act'));
      await expect(again.remove('base')).rejects.toBeInstanceOf(SnapshotHasChildrenError);
    });

    it('removes data directories a crash left without metadata when opened', async () => {
      await sn.prepare('a');
      const orphan = join(root, 'snapshots', '999');
      await mkdir(join(orphan, 'fs'), { recursive: true });
      const again = await open();
      await expect(stat(orphan)).rejects.toMatchObject({ code: 'ENOENT' });
      await again.stat('a');
      // New ids go past the leftover.
      await again.prepare('b');
      expect(Number((await again.dataDir('b')).split('/').at(-2))).toBeGreaterThan(999);
    });

    it('reports /snapshot/prepare, /snapshot/commit and /snapshot/remove events in order, after persisting', async () => {
      const events: SnapshotEvent[] = [];
      const watched = await open({
        onEvent: async (e) => {
          events.push(e);
        },
      });
      await watched.prepare('k');
      await watched.commit('n', 'k');
      await watched.view('v', 'n');
      await watched.remove('v');
      await expect(watched.prepare('k2', 'missing')).rejects.toBeInstanceOf(SnapshotNotFoundError);
      const type = watched.type;
      expect(events).toEqual([
        { topic: '/snapshot/prepare', snapshotter: type, key: 'k', kind: 'active' },
        { topic: '/snapshot/commit', snapshotter: type, key: 'k', name: 'n' },
        { topic: '/snapshot/prepare', snapshotter: type, key: 'v', parent: 'n', kind: 'view' },
        { topic: '/snapshot/remove', snapshotter: type, key: 'v' },
      ]);
    });

    it('garbage collection removes what is neither kept nor an ancestor of something kept, children first', async () => {
      await layer(sn, 'a', undefined, async () => undefined);
      await layer(sn, 'b', 'a', async () => undefined);
      await layer(sn, 'c', 'b', async () => undefined);
      await layer(sn, 'd', undefined, async () => undefined);
      await layer(sn, 'e', 'd', async () => undefined);
      await sn.prepare('container', 'e', { labels: { 'berth.io/gc.root': 'true' } });
      await sn.prepare('orphan', 'd');
      const removed = await collectSnapshots(
        sn,
        (i) => i.name === 'c' || i.labels['berth.io/gc.root'] === 'true',
      );
      expect(removed).toEqual(['orphan']);
      await sn.remove('container');
      expect(await collectSnapshots(sn, (i) => i.name === 'c')).toEqual(['e', 'd']);
      const left: string[] = [];
      await sn.walk((i) => void left.push(i.name));
      expect(left).toEqual(['a', 'b', 'c']);
      expect(await readdir(join(root, 'snapshots'))).toHaveLength(3);
    });

    it('concurrent prepares: distinct keys all succeed, one key succeeds exactly once', async () => {
      await layer(sn, 'base', undefined, async (d) => writeFile(join(d, 'f'), 'x'));
      const keys = Array.from({ length: 8 }, (_, i) => `c${i}`);
      await Promise.all(keys.map((k) => sn.prepare(k, 'base')));
      const dirs = await Promise.all(keys.map((k) => sn.dataDir(k)));
      expect(new Set(dirs).size).toBe(keys.length);
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => sn.prepare('same', 'base')));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results)
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(SnapshotExistsError);
    });
  });
}
