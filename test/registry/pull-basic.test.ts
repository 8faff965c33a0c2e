// Pulls from a real docker-registry over plain HTTP: formats, platforms, progress, dedup.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsContentStore, digestOf, type Digest } from '../../src/content/index.js';
import { MediaTypes, Puller, RegistryClient, type BlobProgress } from '../../src/registry/index.js';
import { busyboxBinary, randomBytesSeeded, writeOciLayout, type BuiltLayout } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

let reg: TestRegistry;
let work: string;
let single: BuiltLayout;
let multi: BuiltLayout;
let mixed: BuiltLayout;
let platforms: BuiltLayout;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-pull-'));
  reg = await startRegistry();
  const layout = path.join(work, 'layout');
  const busybox = await busyboxBinary();
  single = await writeOciLayout(layout, 'single', {
    layers: [{ files: [{ path: 'bin/busybox', content: busybox, mode: 0o755 }] }],
  });
  multi = await writeOciLayout(layout, 'multi', {
    layers: [
      { files: [{ path: 'bin/busybox', content: busybox, mode: 0o755 }] },
      { files: [{ path: 'data/a', content: randomBytesSeeded(300_000, 1) }] },
      { files: [{ path: 'data/b', content: randomBytesSeeded(200_000, 2) }] },
      { files: [{ path: 'etc/hostname', content: 'berth\n' }] },
    ],
  });
  mixed = await writeOciLayout(layout, 'mixed', {
    layers: [
      { files: [{ path: 'gz', content: 'gzip layer' }], compression: 'gzip' },
      { files: [{ path: 'zst', content: randomBytesSeeded(50_000, 3) }], compression: 'zstd' },
      { files: [{ path: 'raw', content: 'plain tar' }], compression: 'none' },
    ],
  });
  platforms = await writeOciLayout(layout, 'multiarch', {
    platforms: [
      {
        platform: { os: 'linux', architecture: 'amd64' },
        layers: [{ files: [{ path: 'arch', content: 'amd64' }] }],
      },
      {
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
        layers: [{ files: [{ path: 'arch', content: 'arm64' }] }],
      },
    ],
  });
  await reg.push(layout, 'single', 'test/single');
  await reg.push(layout, 'multi', 'test/multi');
  await reg.push(layout, 'mixed', 'test/mixed');
  await reg.push(layout, 'multiarch', 'test/multiarch');
  await reg.push(layout, 'multiarch', 'test/manifestlist', { format: 'v2s2' });
  await reg.push(layout, 'single', 'test/schema2', { format: 'v2s2' });
});

afterAll(async () => {
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

async function newStore(): Promise<FsContentStore> {
  return new FsContentStore(await mkdtemp(path.join(work, 'root-')));
}

function client(): RegistryClient {
  return new RegistryClient({ config: { hosts: { [reg.host]: { plainHttp: true } } } });
}

describe('pull over plain HTTP', () => {
  it('pulls a single-layer OCI image: manifest, config and layer verified in the store', async () => {
    const store = await newStore();
    const c = client();
    const img = await new Puller({ client: c, store }).pull(`${reg.host}/test/single:single`);
    await c.close();
    const built = single.images[0]!;
    expect(img).toMatchObject({
      name: `${reg.host}/test/single:single`,
      digest: built.manifestDigest,
      mediaType: MediaTypes.ociManifest,
      configDigest: built.configDigest,
      layers: built.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
      diffIds: built.layers.map((l) => l.diffId),
    });
    expect(img.indexDigest).toBeUndefined();
    for (const d of [img.digest, img.configDigest, ...img.layers.map((l) => l.digest)]) {
      expect(digestOf(await store.readAll(d))).toBe(d);
    }
    // GC from the manifest keeps the whole image: the labels link it.
    expect((await store.gc([img.digest])).removed).toEqual([]);
    expect((await store.gc([])).removed.length).toBe(3);
  });

  it('pulls a multi-layer image with bounded parallelism and reports per-layer progress', async () => {
    const store = await newStore();
    const c = client();
    const events: BlobProgress[] = [];
    const img = await new Puller({ client: c, store, parallelism: 2 }).pull(`${reg.host}/test/multi:multi`, {
      onProgress: (p) => events.push(p),
    });
    await c.close();
    expect(img.layers.length).toBe(4);
    for (const layer of multi.images[0]!.layers) {
      const mine = events.filter((e) => e.digest === layer.digest);
      expect(mine.length).toBeGreaterThan(0);
      expect(mine.at(-1)).toMatchObject({ kind: 'layer', done: layer.size, total: layer.size });
      // Bytes done only grow.
      expect(mine.map((e) => e.done)).toEqual([...mine.map((e) => e.done)].sort((a, b) => a - b));
    }
  });

  it('pulls gzip, zstd and uncompressed layers with their media types', async () => {
    const store = await newStore();
    const c = client();
    const img = await new Puller({ client: c, store }).pull(`${reg.host}/test/mixed:mixed`);
    await c.close();
    expect(img.layers.map((l) => l.mediaType)).toEqual([
      MediaTypes.ociLayerGzip,
      MediaTypes.ociLayerZstd,
      MediaTypes.ociLayer,
    ]);
    expect(img.layers.map((l) => l.digest)).toEqual(mixed.images[0]!.layers.map((l) => l.digest));
  });

  it('selects the requested platform from an OCI index, and refuses a missing one by name', async () => {
    const store = await newStore();
    const c = client();
    const puller = new Puller({ client: c, store });
    const arm = await puller.pull(`${reg.host}/test/multiarch:multiarch`, {
      platform: { os: 'linux', architecture: 'arm64' },
    });
    const amd = await puller.pull(`${reg.host}/test/multiarch:multiarch`, {
      platform: { os: 'linux', architecture: 'amd64' },
    });
    expect(arm.indexDigest).toBe(platforms.digest);
    expect(arm.digest).toBe(platforms.images[1]!.manifestDigest);
    expect(arm.platform).toMatchObject({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(amd.digest).toBe(platforms.images[0]!.manifestDigest);
    await expect(
      puller.pull(`${reg.host}/test/multiarch:multiarch`, {
        platform: { os: 'linux', architecture: 's390x' },
      }),
    ).rejects.toThrow(/no image for platform linux\/s390x \(available: linux\/amd64, linux\/arm64\/v8\)/);
    await c.close();
  });

  it('defaults to the node platform', async () => {
    const store = await newStore();
    const c = client();
    const img = await new Puller({ client: c, store }).pull(`${reg.host}/test/multiarch:multiarch`);
    await c.close();
    const want = process.arch === 'arm64' ? 1 : 0;
    expect(img.digest).toBe(platforms.images[want]!.manifestDigest);
  });

  it('pulls a Docker manifest list and Docker schema 2 manifests', async () => {
    const store = await newStore();
    const c = client();
    const puller = new Puller({ client: c, store });
    const fromList = await puller.pull(`${reg.host}/test/manifestlist:multiarch`, {
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    });
    const top = await store.readAll(fromList.indexDigest as Digest);
    expect(JSON.parse(top.toString()).mediaType).toBe(MediaTypes.dockerManifestList);
    expect(fromList.mediaType).toBe(MediaTypes.dockerManifest);
    expect(fromList.layers[0]!.mediaType).toBe(MediaTypes.dockerLayerGzip);
    expect(fromList.diffIds).toEqual(platforms.images[1]!.layers.map((l) => l.diffId));

    const schema2 = await puller.pull(`${reg.host}/test/schema2:single`);
    expect(schema2.mediaType).toBe(MediaTypes.dockerManifest);
    expect(schema2.layers.map((l) => l.digest)).toEqual(single.images[0]!.layers.map((l) => l.digest));
    await c.close();
  });

  it('pulls by digest and verifies the manifest against it', async () => {
    const store = await newStore();
    const c = client();
    const digest = single.images[0]!.manifestDigest;
    const img = await new Puller({ client: c, store }).pull(`${reg.host}/test/single@${digest}`);
    expect(img.digest).toBe(digest);
    await c.close();
  });

  it('20 concurrent pulls of one reference fetch each blob once', async () => {
    const store = await newStore();
    const c = client();
    const puller = new Puller({ client: c, store, parallelism: 3 });
    const built = multi.images[0]!;
    const blobs = [built.configDigest, ...built.layers.map((l) => l.digest)];
    const before = new Map<string, number>();
    for (const d of blobs) before.set(d, await reg.blobFetches(d));
    const results = await Promise.all(
      Array.from({ length: 20 }, () => puller.pull(`${reg.host}/test/multi:multi`)),
    );
    await c.close();
    expect(new Set(results.map((r) => r.digest))).toEqual(new Set([built.manifestDigest]));
    for (const d of blobs) expect((await reg.blobFetches(d)) - (before.get(d) ?? 0)).toBe(1);
  });

  it('a pull joining a running one receives progress for every blob, config included', async () => {
    const store = await newStore();
    const c = client();
    const puller = new Puller({ client: c, store });
    const first: BlobProgress[] = [];
    const joined: BlobProgress[] = [];
    const a = puller.pull(`${reg.host}/test/multi:multi`, { onProgress: (p) => first.push(p) });
    const b = puller.pull(`${reg.host}/test/multi:multi`, { onProgress: (p) => joined.push(p) });
    expect((await a).digest).toBe((await b).digest);
    await c.close();
    const built = multi.images[0]!;
    const finished = (events: BlobProgress[]): string[] =>
      [...new Set(events.filter((e) => e.done === e.total).map((e) => `${e.kind}:${e.digest}`))].sort();
    const expected = [`config:${built.configDigest}`, ...built.layers.map((l) => `layer:${l.digest}`)].sort();
    expect(finished(first)).toEqual(expected);
    expect(finished(joined)).toEqual(expected);
  });

  it('never runs more blob fetches at once than its parallelism, and reports blobs in use to GC', async () => {
    const store = await newStore();
    let active = 0;
    let peak = 0;
    // The real client, instrumented to count concurrent blob fetches.
    class CountingClient extends RegistryClient {
      override async fetchBlob(...args: Parameters<RegistryClient['fetchBlob']>) {
        peak = Math.max(peak, ++active);
        try {
          return await super.fetchBlob(...args);
        } finally {
          active--;
        }
      }
    }
    const c = new CountingClient({ config: { hosts: { [reg.host]: { plainHttp: true } } } });
    const puller = new Puller({ client: c, store, parallelism: 2 });
    const seenInUse = new Set<string>();
    const img = await puller.pull(`${reg.host}/test/multi:multi`, {
      onProgress: () => puller.inUse().forEach((d) => seenInUse.add(d)),
    });
    await c.close();
    expect(peak).toBe(2);
    expect(seenInUse).toEqual(new Set([img.configDigest, ...img.layers.map((l) => l.digest)]));
    expect(puller.inUse()).toEqual([]);
  });

  it('two images sharing a layer pulled concurrently fetch the shared blob once', async () => {
    const store = await newStore();
    const c = client();
    const puller = new Puller({ client: c, store });
    const shared = multi.images[0]!.layers[0]!.digest; // busybox layer, also single's only layer
    expect(single.images[0]!.layers[0]!.digest).toBe(shared);
    const before = await reg.blobFetches(shared);
    await Promise.all([
      puller.pull(`${reg.host}/test/multi:multi`),
      puller.pull(`${reg.host}/test/single:single`),
    ]);
    await c.close();
    expect((await reg.blobFetches(shared)) - before).toBe(1);
  });
});
