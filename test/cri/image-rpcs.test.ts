import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageFsInfoResponse__Output } from '../../src/cri/generated/runtime/v1/ImageFsInfoResponse.js';
import type { ImageStatusResponse__Output } from '../../src/cri/generated/runtime/v1/ImageStatusResponse.js';
import type { ListImagesResponse__Output } from '../../src/cri/generated/runtime/v1/ListImagesResponse.js';
import type { PullImageResponse__Output } from '../../src/cri/generated/runtime/v1/PullImageResponse.js';
import type { PullAuth } from '../../src/cri/types/image.js';
import { expectStatus, rpc, startGateway, type Gateway } from './harness.js';

let g: Gateway;
beforeAll(async () => {
  g = await startGateway();
});
afterAll(async () => {
  await g.close();
});

describe('images', () => {
  it('PullImage passes the request credentials and returns the image ref', async () => {
    const r = await rpc<PullImageResponse__Output>((cb) =>
      g.image.PullImage(
        {
          image: { image: 'registry.local:5000/app:v1' },
          auth: { username: 'alice', password: 's3cret', server_address: 'registry.local:5000' },
        },
        cb,
      ),
    );
    expect(r.image_ref).toMatch(/^sha256:[0-9a-f]{64}$/);
    const auth = g.backend.callsTo('pullImage')[0]!.args[1] as PullAuth;
    expect(auth).toMatchObject({
      username: 'alice',
      password: 's3cret',
      serverAddress: 'registry.local:5000',
    });
  });

  it('PullImage without credentials gives the backend no auth', async () => {
    await rpc((cb) => g.image.PullImage({ image: { image: 'busybox' } }, cb));
    expect(g.backend.callsTo('pullImage').at(-1)!.args[1]).toBeUndefined();
  });

  it('PullImage refuses an empty image, naming the field', async () => {
    const before = g.backend.callsTo('pullImage').length;
    await expectStatus(
      rpc((cb) => g.image.PullImage({ image: { image: '' } }, cb)),
      grpc.status.INVALID_ARGUMENT,
      'image.image',
      'empty',
    );
    await expectStatus(
      rpc((cb) => g.image.PullImage({}, cb)),
      grpc.status.INVALID_ARGUMENT,
      'image is missing',
    );
    expect(g.backend.callsTo('pullImage')).toHaveLength(before);
  });

  it('PullImage passes a pod config without metadata on as absent (critest sends labels only)', async () => {
    await rpc((cb) =>
      g.image.PullImage({ image: { image: 'labels-only:1' }, sandbox_config: { labels: { a: 'b' } } }, cb),
    );
    expect(g.backend.callsTo('pullImage').at(-1)!.args[2]).toBeUndefined();
    await rpc((cb) => g.image.RemoveImage({ image: { image: 'labels-only:1' } }, cb));
  });

  it('PullImage validates the pod config sent with it', async () => {
    const before = g.backend.callsTo('pullImage').length;
    await expectStatus(
      rpc((cb) =>
        g.image.PullImage({ image: { image: 'busybox' }, sandbox_config: { metadata: { name: 'x' } } }, cb),
      ),
      grpc.status.INVALID_ARGUMENT,
      'sandbox_config.metadata.uid',
    );
    expect(g.backend.callsTo('pullImage')).toHaveLength(before);
  });

  it('ListImages lists all or filters by reference; ImageStatus answers a missing image with no image', async () => {
    const all = await rpc<ListImagesResponse__Output>((cb) => g.image.ListImages({}, cb));
    expect(all.images.map((i) => i.repo_tags[0]).sort()).toEqual([
      'busybox:latest',
      'registry.local:5000/app:v1',
    ]);
    const one = await rpc<ListImagesResponse__Output>((cb) =>
      g.image.ListImages({ filter: { image: { image: 'busybox:latest' } } }, cb),
    );
    expect(one.images).toHaveLength(1);
    expect(one.images[0]).toMatchObject({ size: 1234567, uid: null, pinned: false });

    const present = await rpc<ImageStatusResponse__Output>((cb) =>
      g.image.ImageStatus({ image: { image: 'busybox:latest' }, verbose: true }, cb),
    );
    expect(present.image?.repo_tags).toEqual(['busybox:latest']);
    expect(present.info).toEqual({ info: '{"chainID":"x"}' });
    const missing = await rpc<ImageStatusResponse__Output>((cb) =>
      g.image.ImageStatus({ image: { image: 'nothere:1' } }, cb),
    );
    expect(missing.image).toBeNull();
  });

  it('RemoveImage is idempotent', async () => {
    await rpc((cb) => g.image.RemoveImage({ image: { image: 'busybox:latest' } }, cb));
    await rpc((cb) => g.image.RemoveImage({ image: { image: 'busybox:latest' } }, cb));
    await expectStatus(
      rpc((cb) => g.image.RemoveImage({ image: { image: '' } }, cb)),
      grpc.status.INVALID_ARGUMENT,
    );
  });

  it('ImageFsInfo reports the image filesystem', async () => {
    const r = await rpc<ImageFsInfoResponse__Output>((cb) => g.image.ImageFsInfo({}, cb));
    expect(r.image_filesystems).toHaveLength(1);
    expect(r.image_filesystems[0]).toMatchObject({
      fs_id: { mountpoint: '/var/lib/berth/content' },
      used_bytes: { value: 1000 },
      inodes_used: { value: 10 },
    });
    expect(r.container_filesystems).toEqual([]);
  });
});
