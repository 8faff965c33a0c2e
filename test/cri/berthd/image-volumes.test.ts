/**
 * Image volumes (KEP-4639) against a real berthd's CRI socket: a Mount naming an image (not on
 * the node yet: pulled on the way) is mounted read-only, whole or by image_sub_path; an image so
 * mounted cannot be removed while the container exists; a sub path that is missing or leads out of
 * the image through a symlink, and an image that does not exist, are refused with nothing left
 * (no container, no mount); removing the container unmounts everything.
 */
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CreateContainerResponse__Output } from '../../../src/cri/generated/runtime/v1/CreateContainerResponse.js';
import type { ListContainersResponse__Output } from '../../../src/cri/generated/runtime/v1/ListContainersResponse.js';
import type { Mount } from '../../../src/cri/generated/runtime/v1/Mount.js';
import { writeOciLayout } from '../../helpers/oci-images.js';
import { expectStatus, rpc } from '../harness.js';
import { criPodSuite } from './pod-suite.js';

const suite = criPodSuite({ name: 'imgvol', namespace: 'imgvol', uid: 'uid-imgvol', attempt: 0 });
let dataImage = '';

beforeAll(async () => {
  const { env } = suite;
  const layout = path.join(env.work, 'layout-data');
  await writeOciLayout(layout, 'data', {
    layers: [
      {
        files: [
          { path: 'data', type: 'directory', mode: 0o755 },
          { path: 'data/hello.txt', content: 'hello from the image\n', mode: 0o644 },
          { path: 'data/sub', type: 'directory', mode: 0o755 },
          { path: 'data/sub/inner.txt', content: 'inner\n', mode: 0o644 },
          { path: 'data/escape', type: 'symlink', linkname: '/etc' },
        ],
      },
    ],
  });
  await env.reg.push(layout, 'data', 'cri/data', { destTag: '1' });
  dataImage = `${env.reg.host}/cri/data:1`;
}, 180_000);

function create(name: string, mounts: Mount[], command = ['sleep', '600']): Promise<string> {
  return rpc<CreateContainerResponse__Output>((cb) =>
    suite.runtime.CreateContainer(
      {
        pod_sandbox_id: suite.podId,
        config: { metadata: { name, attempt: 0 }, image: { image: suite.env.image }, command, mounts },
        sandbox_config: { metadata: suite.metadata },
      },
      cb,
    ),
  ).then((r) => r.container_id);
}

const imageMount = (containerPath: string, subPath = ''): Mount => ({
  container_path: containerPath,
  image: { image: dataImage },
  image_sub_path: subPath,
  readonly: true,
});

/** berthd's mounts of image volumes, from the host's mount table. */
async function volumeMounts(): Promise<string[]> {
  const table = await readFile('/proc/self/mountinfo', 'utf8');
  return table
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(suite.env.berthd.state) && m.includes('image-volumes'));
}

const containerIds = async (): Promise<string[]> =>
  (await rpc<ListContainersResponse__Output>((cb) => suite.runtime.ListContainers({}, cb))).containers
    .map((c) => c.id)
    .sort();

describe('image volumes through the CRI', () => {
  let containerId = '';

  it('mounts an image read-only, whole and by sub path, pulling it on the way', async () => {
    containerId = await create(
      'reader',
      [imageMount('/vol'), imageMount('/sub', 'data/sub')],
      [
        'sh',
        '-c',
        'cat /vol/data/hello.txt /sub/inner.txt; touch /vol/x 2>/dev/null && echo writable || echo read-only; sleep 600',
      ],
    );
    await rpc((cb) => suite.runtime.StartContainer({ container_id: containerId }, cb));
    const deadline = Date.now() + 30_000;
    let logs = '';
    while (!/read-only|writable/.test((logs = (await suite.env.crictl(['logs', containerId])).stdout))) {
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(logs).toBe('hello from the image\ninner\nread-only\n');
    expect(await volumeMounts()).toHaveLength(2);
  });

  it('an image mounted as a volume cannot be removed while the container exists', async () => {
    await expectStatus(
      rpc((cb) => suite.images.RemoveImage({ image: { image: dataImage } }, cb)),
      grpc.status.FAILED_PRECONDITION,
      'mounted as an image volume',
      containerId,
    );
  });

  it('a missing sub path, one leading out of the image and an unknown image are refused, leaving nothing', async () => {
    const before = await containerIds();
    const mountsBefore = await volumeMounts();
    await expectStatus(
      create('missing-sub', [imageMount('/v', 'data/nope')]),
      grpc.status.INVALID_ARGUMENT,
      'image_sub_path "data/nope" does not exist',
    );
    await expectStatus(
      create('escaping-sub', [imageMount('/v', 'data/escape')]),
      grpc.status.INVALID_ARGUMENT,
      'leads out of image',
    );
    const unknown = `${suite.env.reg.host}/cri/no-such-image:1`;
    const err = await create('unknown-image', [{ ...imageMount('/v'), image: { image: unknown } }]).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    expect(err?.message).toContain('no-such-image');
    expect(await containerIds()).toEqual(before);
    expect(await volumeMounts()).toEqual(mountsBefore);
  });

  it('removing the container unmounts its image volumes; the image can then go', async () => {
    await rpc((cb) => suite.runtime.StopContainer({ container_id: containerId, timeout: 0 }, cb));
    await rpc((cb) => suite.runtime.RemoveContainer({ container_id: containerId }, cb));
    expect(await volumeMounts()).toEqual([]);
    await rpc((cb) => suite.images.RemoveImage({ image: { image: dataImage } }, cb));
  });
});
