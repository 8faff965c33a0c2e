/**
 * Durability conformance (part of the shared suite): commits return before their data is synced,
 * and a reopen in another boot (a power loss, simulated by the boot id) keeps exactly what a
 * sync covered, dropping the rest with everything built on it.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SnapshotNotFoundError, type Snapshotter } from '../../src/snapshots/index.js';
import type { SnapshotterFactory } from './conformance.js';
import { tempRoot, withMounted } from './helpers.js';

/** Held back so only flush() syncs: a test decides what the "power loss" catches. */
const HELD = { syncBehindDelayMs: 3_600_000 };

async function commitLayer(sn: Snapshotter, name: string, parent?: string): Promise<void> {
  const key = `extract-${name}`;
  await withMounted(await sn.prepare(key, parent), (dir) => writeFile(join(dir, `${name}.txt`), name));
  await sn.commit(name, key);
}

export function durabilityConformance(label: string, factory: SnapshotterFactory): void {
  describe(`snapshotter durability: ${label}`, () => {
    let root: string;
    const dataDirs = async () => (await readdir(join(root, 'snapshots'))).length;

    beforeEach(async () => {
      root = await tempRoot(`berth-snapdur-${label}-`);
    });
    afterEach(async () => {
      await rm(root, { recursive: true, force: true });
    });

    it('after a power loss, synced commits stay and unsynced ones go with everything built on them', async () => {
      const sn = await factory(root, { bootId: 'boot-a', ...HELD });
      await commitLayer(sn, 'base');
      await sn.flush();
      expect(await readFile(join(root, 'synced'), 'utf8')).toMatch(/^boot-a:\d+\n$/);
      await commitLayer(sn, 'mid', 'base');
      await commitLayer(sn, 'top', 'mid');
      await sn.prepare('container', 'top');
      await sn.prepare('other', 'base');
      // The internal label is not the caller's.
      expect((await sn.stat('mid')).labels).toEqual({});

      const rebooted = await factory(root, { bootId: 'boot-b', ...HELD });
      expect(rebooted.lostAtOpen).toEqual(['container', 'mid', 'top']);
      for (const gone of ['mid', 'top', 'container'])
        await expect(rebooted.stat(gone)).rejects.toThrow(SnapshotNotFoundError);
      expect((await rebooted.stat('base')).kind).toBe('committed');
      expect((await rebooted.stat('other')).kind).toBe('active');
      expect(await dataDirs()).toBe(2);

      // What the first boot synced stays trusted after later reboots too.
      await commitLayer(rebooted, 'next', 'base');
      await rebooted.flush();
      const again = await factory(root, { bootId: 'boot-c', ...HELD });
      expect(again.lostAtOpen).toEqual([]);
      expect((await again.stat('base')).kind).toBe('committed');
      expect((await again.stat('next')).kind).toBe('committed');
    });

    it('a restart in the same boot keeps unsynced commits (the page cache has them) and syncs them', async () => {
      const sn = await factory(root, { bootId: 'boot-a', ...HELD });
      await commitLayer(sn, 'base');
      const restarted = await factory(root, { bootId: 'boot-a', ...HELD });
      expect(restarted.lostAtOpen).toEqual([]);
      await commitLayer(restarted, 'mid', 'base');
      await restarted.flush();
      const rebooted = await factory(root, { bootId: 'boot-b', ...HELD });
      expect(rebooted.lostAtOpen).toEqual([]);
      expect((await rebooted.stat('mid')).parent).toBe('base');
    });

    it('the sync runs by itself shortly after the commits stop', async () => {
      const sn = await factory(root, { bootId: 'boot-a', syncBehindDelayMs: 20 });
      await commitLayer(sn, 'base');
      await expect
        .poll(() => readFile(join(root, 'synced'), 'utf8').catch(() => ''), { timeout: 10_000 })
        .toMatch(/^boot-a:\d+\n$/);
      const rebooted = await factory(root, { bootId: 'boot-b', ...HELD });
      expect(rebooted.lostAtOpen).toEqual([]);
    });
  });
}
