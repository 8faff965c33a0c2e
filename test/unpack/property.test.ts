/**
 * Property test: for random stacks of layers (files, directories, symlinks, hardlinks,
 * whiteouts, opaque directories over a tiny name space, so entries collide), the overlay
 * snapshotter's mounted tree, the native snapshotter's tree and umoci's rootfs agree, or Berth
 * refuses the image with a typed error in both modes alike.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileCapture } from '../../src/common/exec.js';
import { NativeSnapshotter, OverlayfsSnapshotter, type Snapshotter } from '../../src/snapshots/index.js';
import { unpackLayers } from '../../src/unpack/index.js';
import { withMounted } from '../snapshots/helpers.js';
import { buildTar, MEDIA, type LayerEntry } from './layers.js';
import { writeOciLayout } from './oci-layout.js';
import { describeTree, type TreeNode } from './tree.js';

const name = fc.constantFrom('a', 'b', 'c');
const path = fc.array(name, { minLength: 1, maxLength: 3 }).map((p) => p.join('/'));
const entry: fc.Arbitrary<LayerEntry> = fc.oneof(
  fc.record({ name: path, data: fc.constantFrom('x', 'yy', 'zzz') }),
  path.map((p) => ({ name: `${p}/`, type: 'directory' as const, mode: 0o755 })),
  fc.record({
    name: path,
    linkname: fc.constantFrom('a', 'b/c', '/a', '../a', '../b', '/'),
    type: fc.constant('symlink' as const),
  }),
  fc.record({ name: path, linkname: path, type: fc.constant('link' as const) }),
  fc
    .tuple(fc.array(name, { maxLength: 2 }), name)
    .map(([dir, n]) => ({ name: [...dir, `.wh.${n}`].join('/') })),
  fc.array(name, { minLength: 1, maxLength: 2 }).map((dir) => ({ name: [...dir, '.wh..wh..opq'].join('/') })),
);
const image = fc.array(fc.array(entry, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 });

type Outcome = { tree: Record<string, TreeNode> } | { error: string };

describe('random layer stacks: overlayfs, native and umoci agree', () => {
  let work: string;
  let n = 0;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-prop-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  async function berth(
    open: (root: string) => Promise<Snapshotter>,
    layout: { diffIds: string[]; blobPaths: string[] },
  ): Promise<Outcome> {
    const sn = await open(join(work, `sn-${n++}`));
    try {
      const out = await unpackLayers(
        sn,
        layout.diffIds.map((diffId, i) => ({
          diffId,
          mediaType: MEDIA.tar,
          open: async () => createReadStream(layout.blobPaths[i] as string),
        })),
      );
      const top = out[out.length - 1]?.chainId as string;
      return { tree: await withMounted(await sn.view('check', top), (d) => describeTree(d)) };
    } catch (e) {
      return { error: (e as Error).name };
    } finally {
      // Nothing may still write under the work dir when the suite removes it.
      await sn.flush();
    }
  }

  it('agree on every generated image', async () => {
    await fc.assert(
      fc.asyncProperty(image, async (layers) => {
        const id = n++;
        const tars = await Promise.all(layers.map((l) => buildTar(l)));
        const layout = await writeOciLayout(
          join(work, `layout-${id}`),
          'p',
          tars.map((t) => ({ tar: t, blob: t, mediaType: MEDIA.tar })),
        );
        const overlay = await berth((r) => OverlayfsSnapshotter.open(r), layout);
        const native = await berth((r) => NativeSnapshotter.open(r), layout);
        expect(overlay).toEqual(native);
        if (process.env.BERTH_PROP_TRACE) console.log('tree' in native ? 'tree' : native.error);
        if ('tree' in native) {
          const bundle = join(work, `bundle-${id}`);
          const r = await execFileCapture('umoci', [
            'unpack',
            '--image',
            `${join(work, `layout-${id}`)}:p`,
            bundle,
          ]);
          expect(r.stderr).toBe('');
          expect(r.code).toBe(0);
          expect(native.tree).toEqual(await describeTree(join(bundle, 'rootfs')));
        }
      }),
      {
        numRuns: Number(process.env.BERTH_PROP_RUNS ?? 30),
        seed: Number(process.env.BERTH_PROP_SEED ?? 7),
        endOnFailure: true,
      },
    );
  }, 240_000);
});
