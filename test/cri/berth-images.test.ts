/**
 * CriImages over a real snapshotter and a stand-in image list: ImageStatus reports an image whose
 * snapshot is gone (dropped after a power loss) as absent, so kubelet pulls it again.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/common/errors.js';
import { CriImages } from '../../src/cri/berth/images.js';
import type { BerthCriDeps } from '../../src/cri/berth/deps.js';
import type { ImageSpec } from '../../src/cri/types/image.js';
import type { ImageService } from '../../src/daemon/images.js';
import type { NodeServices } from '../../src/daemon/node-services.js';
import type { ImageRecord } from '../../src/events/projections/state.js';
import { OverlayfsSnapshotter, type Snapshotter } from '../../src/snapshots/index.js';
import { tempRoot } from '../snapshots/helpers.js';

let root: string;
let snapshotter: Snapshotter;

const record = (name: string, chainId: string): ImageRecord =>
  ({
    namespace: 'k8s.io',
    name,
    target: {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${'a'.repeat(64)}`,
      size: 1,
    },
    configDigest: `sha256:${chainId.slice(-64)}`,
    chainId,
    size: 1,
  }) as unknown as ImageRecord;

const spec = (image: string): ImageSpec => ({
  image,
  annotations: {},
  userSpecifiedImage: image,
  runtimeHandler: '',
});

function criImages(records: ImageRecord[]): CriImages {
  const images = {
    get: (name: string) => {
      const r = records.find((x) => x.name === name);
      if (!r) throw new NotFoundError(`image ${name} not found`);
      return r;
    },
    list: () => records,
    config: async () => ({ config: {} }),
  } as unknown as ImageService;
  return new CriImages({
    images: () => images,
    node: () => ({ snapshotter }) as unknown as NodeServices,
  } as unknown as BerthCriDeps);
}

beforeAll(async () => {
  root = await tempRoot('berth-cri-images-');
  snapshotter = await OverlayfsSnapshotter.open(root);
  await snapshotter.prepare('extract', undefined);
  await snapshotter.commit(`sha256:${'1'.repeat(64)}`, 'extract');
});

afterAll(async () => {
  await snapshotter.flush();
  await rm(root, { recursive: true, force: true });
});

describe('CRI ImageStatus and the image snapshot', () => {
  it('an image whose snapshot is committed is present', async () => {
    const cri = criImages([record('reg/present:1', `sha256:${'1'.repeat(64)}`)]);
    expect((await cri.status(spec('reg/present:1'), false)).image?.repoTags).toEqual(['reg/present:1']);
  });

  it('an image whose snapshot is gone is absent, so kubelet pulls (and Berth unpacks) it again', async () => {
    const cri = criImages([record('reg/dropped:1', `sha256:${'2'.repeat(64)}`)]);
    expect(await cri.status(spec('reg/dropped:1'), false)).toEqual({ info: {} });
  });
});
