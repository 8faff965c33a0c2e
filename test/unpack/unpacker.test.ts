/** unpackLayers over real snapshotters: diff id verification, sharing by chain id, cleanup on failure. */
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  chainIds,
  NativeSnapshotter,
  OverlayfsSnapshotter,
  type Snapshotter,
  type SnapshotterOpenOptions,
} from '../../src/snapshots/index.js';
import {
  DiffIdMismatchError,
  InvalidLayerEntryError,
  removeStaleExtractions,
  SysOps,
  unpackLayers,
  type LayerSource,
} from '../../src/unpack/index.js';
import { tempRoot, withMounted } from '../snapshots/helpers.js';
import { buildTar, gzip, MEDIA, sha256, streamOf, zstd, type LayerEntry } from './layers.js';

async function layerOf(
  entries: LayerEntry[],
  compress: 'gzip' | 'zstd' | 'none' = 'gzip',
): Promise<LayerSource & { opened: () => number }> {
  const tar = await buildTar(entries);
  const blob = compress === 'gzip' ? gzip(tar) : compress === 'zstd' ? zstd(tar) : tar;
  let opens = 0;
  return {
    diffId: sha256(tar),
    mediaType: compress === 'gzip' ? MEDIA.gzip : compress === 'zstd' ? MEDIA.zstd : MEDIA.tar,
    open: async () => {
      opens++;
      return streamOf(blob);
    },
    opened: () => opens,
  };
}

const kinds: Array<[string, (root: string, opts?: SnapshotterOpenOptions) => Promise<Snapshotter>]> = [
  ['overlayfs', (r, o) => OverlayfsSnapshotter.open(r, o)],
  ['native', (r, o) => NativeSnapshotter.open(r, o)],
];

for (const [kind, open] of kinds) {
  describe(`unpackLayers (${kind})`, () => {
    let root: string;
    let sn: Snapshotter;
    /** Other instances a test opened on the same root. */
    const alsoOpen: Snapshotter[] = [];
    beforeEach(async () => {
      root = await tempRoot(`berth-unpack-${kind}-`);
      sn = await open(root);
    });
    afterEach(async () => {
      // Nothing may still sync under the root when it is removed.
      for (const s of [sn, ...alsoOpen.splice(0)]) await s.flush();
      await rm(root, { recursive: true, force: true });
    });

    async function names(): Promise<string[]> {
      const out: string[] = [];
      await sn.walk((i) => void out.push(`${i.kind}:${i.name}`));
      return out;
    }

    it('commits each layer under its chain id and mounts the result (gzip, zstd and plain layers)', async () => {
      const layers = [
        await layerOf([{ name: 'a', data: 'A' }], 'gzip'),
        await layerOf([{ name: 'b', data: 'B' }], 'zstd'),
        await layerOf([{ name: '.wh.a' }, { name: 'c', data: 'C' }], 'none'),
      ];
      const out = await unpackLayers(sn, layers);
      const ids = chainIds(layers.map((l) => l.diffId));
      expect(out.map((o) => o.chainId)).toEqual(ids);
      expect(out.every((o) => !o.reused)).toBe(true);
      expect(await names()).toEqual(ids.map((id) => `committed:${id}`).sort());
      await withMounted(await sn.view('v', ids[2]), async (d) => {
        expect((await readdir(d)).sort()).toEqual(['b', 'c']);
        expect(await readFile(join(d, 'b'), 'utf8')).toBe('B');
      });
    });

    it("serves every layer with the caller's mknod/xattr helper and leaves it open for the caller", async () => {
      const layers = [
        await layerOf([
          { name: 'd/', type: 'directory' },
          { name: 'd/a', data: 'A' },
          { name: 'gone', data: 'x' },
        ]),
        await layerOf([{ name: 'd/.wh..wh..opq' }, { name: 'd/b', data: 'B' }, { name: '.wh.gone' }]),
      ];
      const sys = new SysOps();
      try {
        const out = await unpackLayers(sn, layers, { sys });
        await withMounted(await sn.view('v', out[1]?.chainId), async (d) => {
          expect((await readdir(d)).sort()).toEqual(['d']);
          expect(await readdir(join(d, 'd'))).toEqual(['b']);
        });
        // Still usable: unpackLayers did not close a helper it does not own.
        expect(await sys.llistxattr(root)).toEqual(expect.any(Array));
      } finally {
        await sys.close();
      }
    });

    it('refuses a layer whose uncompressed digest differs from its diff id, naming both, and commits nothing for it', async () => {
      const good = await layerOf([{ name: 'a', data: 'A' }]);
      const bad = await layerOf([{ name: 'b', data: 'B' }]);
      const claimed = 'sha256:' + createHash('sha256').update('something else').digest('hex');
      const err = await unpackLayers(sn, [good, { ...bad, diffId: claimed }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DiffIdMismatchError);
      expect((err as Error).message).toContain(claimed);
      expect((err as Error).message).toContain(bad.diffId);
      // The good base stays committed; no active snapshot or data of the refused layer remains.
      expect(await names()).toEqual([`committed:${good.diffId}`]);
      expect(await readdir(join(root, 'snapshots'))).toHaveLength(1);
    });

    it('removes the active snapshot of a layer with a refused entry', async () => {
      const evil = await layerOf([
        { name: 'x', data: 'x' },
        { name: 'hl', type: 'link', linkname: 'missing' },
      ]);
      await expect(unpackLayers(sn, [evil])).rejects.toBeInstanceOf(InvalidLayerEntryError);
      expect(await names()).toEqual([]);
      expect(await readdir(join(root, 'snapshots'))).toHaveLength(0);
    });

    it('two images sharing base layers share their snapshots: one directory on disk each, unpacked once', async () => {
      const base0 = await layerOf([
        { name: 'etc/', type: 'directory' },
        { name: 'etc/os-release', data: 'berth' },
      ]);
      const base1 = await layerOf([
        { name: 'usr/', type: 'directory' },
        { name: 'usr/lib', data: 'lib' },
      ]);
      const app1 = await layerOf([{ name: 'app', data: 'one' }]);
      const app2 = await layerOf([{ name: 'app', data: 'two' }]);
      const one = await unpackLayers(sn, [base0, base1, app1]);
      const two = await unpackLayers(sn, [base0, base1, app2]);
      expect(two.map((l) => l.reused)).toEqual([true, true, false]);
      expect(two.slice(0, 2).map((l) => l.chainId)).toEqual(one.slice(0, 2).map((l) => l.chainId));
      expect(base0.opened()).toBe(1);
      expect(base1.opened()).toBe(1);
      // 2 shared base snapshots + 2 app snapshots.
      expect(await readdir(join(root, 'snapshots'))).toHaveLength(4);
      for (const [image, want] of [
        [one, 'one'],
        [two, 'two'],
      ] as const) {
        await withMounted(await sn.view(`v-${want}`, image[2]?.chainId), async (d) => {
          expect(await readFile(join(d, 'app'), 'utf8')).toBe(want);
          expect(await readFile(join(d, 'etc/os-release'), 'utf8')).toBe('berth');
        });
      }
    });

    it('after a crash mid-unpack, stale extractions are removed and the unpack redone from scratch', async () => {
      const layers = [await layerOf([{ name: 'a', data: 'A' }]), await layerOf([{ name: 'b', data: 'B' }])];
      const ids = chainIds(layers.map((l) => l.diffId));
      await unpackLayers(sn, layers.slice(0, 1));
      // What a daemon killed while applying layer 2 leaves: an active extraction snapshot with partial data.
      const key = `extract-deadbeef0000-${ids[1]}`;
      await sn.prepare(key, ids[0]);
      await writeFile(join(await sn.dataDir(key), 'partial'), 'half');
      const reopened = await open(root);
      alsoOpen.push(reopened);
      expect(await removeStaleExtractions(reopened)).toEqual([key]);
      const out = await unpackLayers(reopened, layers);
      expect(out.map((l) => l.reused)).toEqual([true, false]);
      await withMounted(await reopened.view('v', ids[1]), async (d) =>
        expect((await readdir(d)).sort()).toEqual(['a', 'b']),
      );
    });

    it('the sync behind the commits waits until every layer is written, then runs by itself', async () => {
      const eager = await open(join(root, 'eager'), { syncBehindDelayMs: 1 });
      alsoOpen.push(eager);
      const synced = join(root, 'eager', 'synced');
      const [first, second] = [
        await layerOf([{ name: 'a', data: 'A' }]),
        await layerOf([{ name: 'b', data: 'B' }]),
      ];
      let syncedWhileWriting: boolean | undefined;
      const slow: LayerSource = {
        ...second!,
        open: async () => {
          // Long after the first layer's commit would have triggered the sync on its own.
          await new Promise((r) => setTimeout(r, 300));
          syncedWhileWriting = await stat(synced).then(
            () => true,
            () => false,
          );
          return second!.open();
        },
      };
      await unpackLayers(eager, [first!, slow]);
      expect(syncedWhileWriting).toBe(false);
      await expect
        .poll(
          () =>
            stat(synced).then(
              () => true,
              () => false,
            ),
          { timeout: 10_000 },
        )
        .toBe(true);
    });

    it('concurrent unpacks of the same image end with one snapshot per layer', async () => {
      const layers = [await layerOf([{ name: 'a', data: 'A' }]), await layerOf([{ name: 'b', data: 'B' }])];
      const [x, y] = await Promise.all([unpackLayers(sn, layers), unpackLayers(sn, layers)]);
      expect(x?.map((l) => l.chainId)).toEqual(y?.map((l) => l.chainId));
      expect((await names()).every((n) => n.startsWith('committed:'))).toBe(true);
      expect(await readdir(join(root, 'snapshots'))).toHaveLength(2);
    });
  });
}
