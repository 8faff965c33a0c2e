// Push from the content store to a real registry with basic auth, checked by skopeo and a pull back.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsContentStore, digestOf } from '../../src/content/index.js';
import { Puller, RegistryClient, parseReference, pushImage } from '../../src/registry/index.js';
import {
  randomBytesSeeded,
  skopeoInspectRaw,
  writeOciLayout,
  type BuiltLayout,
} from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

let work: string;
let source: TestRegistry;
let dest: TestRegistry;
let built: BuiltLayout;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-push-'));
  const layout = path.join(work, 'layout');
  built = await writeOciLayout(layout, 'v1', {
    layers: [
      { files: [{ path: 'a', content: randomBytesSeeded(400_000, 5) }] },
      { files: [{ path: 'b', content: 'b' }], compression: 'zstd' },
    ],
  });
  [source, dest] = await Promise.all([
    startRegistry(),
    startRegistry({ auth: 'htpasswd', users: { pusher: 'pw' } }),
  ]);
  await source.push(layout, 'v1', 'src/app');
});
afterAll(async () => {
  await Promise.all([source?.stop(), dest?.stop()]);
  await rm(work, { recursive: true, force: true });
});

describe('pushImage', () => {
  it('pushes a pulled image (blobs then manifest) and skips blobs the registry has', async () => {
    const store = new FsContentStore(await mkdtemp(path.join(work, 'root-')));
    const client = new RegistryClient({
      config: {
        hosts: {
          [source.host]: { plainHttp: true },
          [dest.host]: { plainHttp: true, username: 'pusher', password: 'pw' },
        },
      },
    });
    try {
      const img = await new Puller({ client, store }).pull(`${source.host}/src/app:v1`);
      const target = parseReference(`${dest.host}/pushed/app:copy`);
      const first = await pushImage(client, store, target, img.digest);
      expect(first.uploaded.sort()).toEqual([img.configDigest, ...img.layers.map((l) => l.digest)].sort());
      expect(first.skipped).toEqual([]);

      const raw = await skopeoInspectRaw(`docker://${dest.host}/pushed/app:copy`, [
        '--tls-verify=false',
        '--creds',
        'pusher:pw',
      ]);
      expect(digestOf(raw)).toBe(built.images[0]!.manifestDigest);

      const again = await pushImage(
        client,
        store,
        parseReference(`${dest.host}/pushed/app:again`),
        img.digest,
      );
      expect(again.uploaded).toEqual([]);
      expect(again.skipped.length).toBe(3);

      const back = new FsContentStore(await mkdtemp(path.join(work, 'root-')));
      const pulled = await new Puller({ client, store: back }).pull(`${dest.host}/pushed/app:again`);
      expect(pulled).toMatchObject({
        digest: img.digest,
        configDigest: img.configDigest,
        diffIds: img.diffIds,
      });
    } finally {
      await client.close();
    }
  });

  it('refuses to push without credentials, with the registry message', async () => {
    const store = new FsContentStore(await mkdtemp(path.join(work, 'root-')));
    const client = new RegistryClient({
      config: { hosts: { [source.host]: { plainHttp: true }, [dest.host]: { plainHttp: true } } },
    });
    try {
      const img = await new Puller({ client, store }).pull(`${source.host}/src/app:v1`);
      await expect(
        pushImage(client, store, parseReference(`${dest.host}/pushed/x:1`), img.digest),
      ).rejects.toThrow(/requires authentication \(basic\) and no credentials are configured/);
    } finally {
      await client.close();
    }
  });
});
