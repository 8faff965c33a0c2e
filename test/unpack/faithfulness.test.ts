/**
 * Faithfulness: the tree Berth unpacks, through both snapshotters, equals the one umoci (an
 * independent implementation) unpacks from the same OCI layout.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from '../../src/common/exec.js';
import { NativeSnapshotter, OverlayfsSnapshotter, type Snapshotter } from '../../src/snapshots/index.js';
import { unpackLayers } from '../../src/unpack/index.js';
import { withMounted } from '../snapshots/helpers.js';
import { BASE_LAYER, MIDDLE_LAYER, TOP_LAYER } from './fixtures.js';
import { buildTar, gzip, MEDIA } from './layers.js';
import { writeOciLayout, type WrittenImage } from './oci-layout.js';
import { describeTree, type TreeNode } from './tree.js';

describe('unpack faithfulness against umoci', () => {
  let work: string;
  let image: WrittenImage;
  let reference: Record<string, TreeNode>;
  const mediaTypes = [MEDIA.gzip, MEDIA.tar, MEDIA.gzip];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-faithful-'));
    const tars = [await buildTar(BASE_LAYER), await buildTar(MIDDLE_LAYER), await buildTar(TOP_LAYER)];
    image = await writeOciLayout(
      join(work, 'layout'),
      'test',
      tars.map((t, i) => ({
        tar: t,
        blob: mediaTypes[i] === MEDIA.gzip ? gzip(t) : t,
        mediaType: mediaTypes[i] as string,
      })),
    );
    await execFile('umoci', ['unpack', '--image', `${join(work, 'layout')}:test`, join(work, 'bundle')]);
    reference = await describeTree(join(work, 'bundle', 'rootfs'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const layers = (): Parameters<typeof unpackLayers>[1] =>
    image.diffIds.map((diffId, i) => ({
      diffId,
      mediaType: mediaTypes[i] as string,
      open: async () => createReadStream(image.blobPaths[i] as string),
    }));

  const cases: Array<[string, (root: string) => Promise<Snapshotter>]> = [
    ['overlayfs', (root) => OverlayfsSnapshotter.open(root)],
    ['native', (root) => NativeSnapshotter.open(root)],
  ];
  for (const [name, open] of cases) {
    it(`${name}: the mounted tree equals umoci's (type, mode, owner, size, content, link, device, xattrs)`, async () => {
      const sn = await open(join(work, `sn-${name}`));
      const unpacked = await unpackLayers(sn, layers());
      const top = unpacked[unpacked.length - 1]?.chainId as string;
      const tree = await withMounted(await sn.view('check', top), (dir) => describeTree(dir));
      // Sanity: the reference has what the fixtures promise, so equality means something.
      expect(reference['usr/bin/ping']?.xattrs['security.capability']).toBeDefined();
      expect(reference['usr/bin/su']?.mode).toBe('4755');
      expect(reference['run/initctl']?.type).toBe('fifo');
      expect(reference['rm/victim']).toBeUndefined();
      expect(reference['opq/old1']).toBeUndefined();
      expect(reference['usr/lib/libnew.so']?.type).toBe('file');
      expect(tree).toEqual(reference);
    });
  }
});
