// Faults injected between the client and a real registry: cuts, corruption, 429, bad manifests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, NotFoundError } from '../../src/common/errors.js';
import { DigestMismatchError, FsContentStore, type Digest } from '../../src/content/index.js';
import { Puller, RegistryClient, RegistryError } from '../../src/registry/index.js';
import { randomBytesSeeded, writeOciLayout, type BuiltImage } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';

let reg: TestRegistry;
let work: string;
let image: BuiltImage;
let proxy: FaultProxy;
let store: FsContentStore;
let sleeps: number[];
let client: RegistryClient;
let ref: string;
const LAYER_SIZE = 600_000;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-faults-'));
  reg = await startRegistry();
  const layout = path.join(work, 'layout');
  const built = await writeOciLayout(layout, 'v1', {
    layers: [
      { files: [{ path: 'big', content: randomBytesSeeded(LAYER_SIZE, 9) }], compression: 'none' },
      { files: [{ path: 'small', content: 'small' }] },
    ],
  });
  image = built.images[0]!;
  await reg.push(layout, 'v1', 'faults/app');
});
afterAll(async () => {
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  proxy = await startFaultProxy(reg.host);
  store = new FsContentStore(await mkdtemp(path.join(work, 'root-')));
  sleeps = [];
  client = newClient();
  ref = `${proxy.host}/faults/app:v1`;
});
afterEach(async () => {
  await client.close();
  await proxy.close();
});

function newClient(
  extra: { maxRetryAfterMs?: number; maxManifestBytes?: number; stallTimeoutMs?: number } = {},
): RegistryClient {
  return new RegistryClient({
    config: { hosts: { [proxy.host]: { plainHttp: true } }, ...extra },
    // Retry-After waits are recorded, not slept: the test asserts the wait asked for.
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
}

const bigLayer = (): BuiltImage['layers'][number] => image.layers[0]!;
const blobPath = (digest: string): RegExp => new RegExp(`/blobs/${digest}$`);

async function expectStoreEmpty(): Promise<void> {
  expect(await store.list()).toEqual([]);
  expect(await store.listIngests()).toEqual([]);
}

describe('transfer faults', () => {
  it('resumes a layer cut mid-transfer with Range, without downloading its bytes again', async () => {
    const layer = bigLayer();
    proxy.addFault({
      method: 'GET',
      path: blobPath(layer.digest),
      action: { kind: 'cut', afterBytes: 250_000 },
    });
    const img = await new Puller({ client, store }).pull(ref);
    expect(img.layers[0]!.digest).toBe(layer.digest);
    const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(layer.digest));
    expect(gets.map((g) => g.status)).toEqual([200, 206]);
    expect(gets[0]!.bytes).toBe(250_000);
    // The client resumes from what it had written when the connection died (bytes still in
    // its socket buffer at the cut are lost), and the second response carries only the rest.
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(250_000);
    expect(gets[1]!.bytes).toBe(layer.size - resumedAt);
  });

  it('keeps a cut ingest when the registry keeps failing, and a later pull resumes it', async () => {
    const layer = bigLayer();
    proxy.addFault({
      method: 'GET',
      path: blobPath(layer.digest),
      action: { kind: 'cut', afterBytes: 100_000 },
    });
    proxy.addFault({
      method: 'GET',
      path: blobPath(layer.digest),
      action: {
        kind: 'respond',
        status: 503,
        body: '{"errors":[{"code":"UNAVAILABLE","message":"storage offline"}]}',
      },
      times: 1,
    });
    const err = await new Puller({ client, store }).pull(ref).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe('unavailable');
    expect((err as Error).message).toMatch(/HTTP 503: UNAVAILABLE: storage offline/);
    const ingests = await store.listIngests();
    expect(ingests.length).toBe(1);
    const kept = ingests[0]!.offset;
    expect(kept).toBeGreaterThan(0);
    expect(await store.has(image.manifestDigest as Digest)).toBe(false);

    // A new client and puller (as after a daemon restart) resume from the ingest.
    const again = newClient();
    await new Puller({ client: again, store }).pull(ref);
    await again.close();
    const last = proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(layer.digest)).at(-1);
    expect(last).toMatchObject({ range: `bytes=${kept}-`, status: 206, bytes: layer.size - kept });
    expect(await store.listIngests()).toEqual([]);
  });

  it('fails a transfer that stops making progress and resumes it with Range', async () => {
    await client.close();
    client = newClient({ stallTimeoutMs: 300 });
    const layer = bigLayer();
    proxy.addFault({
      method: 'GET',
      path: blobPath(layer.digest),
      action: { kind: 'stall', afterBytes: 150_000 },
    });
    await new Puller({ client, store }).pull(ref);
    const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(layer.digest));
    expect(gets.length).toBe(2);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(gets[1]).toMatchObject({ status: 206, bytes: layer.size - resumedAt });
  });

  it('fetches a blob again from the start when a kept partial ingest holds bad bytes', async () => {
    const layer = bigLayer();
    const w = await store.writer(`fetch-${layer.digest}`);
    await w.write(Buffer.alloc(1000, 0x55)); // not the blob's first 1000 bytes
    await w.close();
    await new Puller({ client, store }).pull(ref);
    const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(layer.digest));
    expect(gets.map((g) => [g.range, g.status])).toEqual([
      ['bytes=1000-', 206],
      [undefined, 200],
    ]);
    expect(await store.has(layer.digest as Digest)).toBe(true);
    expect(await store.listIngests()).toEqual([]);
  });

  it('refuses a blob whose bytes do not match its digest: error names it, nothing committed', async () => {
    const layer = bigLayer();
    proxy.addFault({
      method: 'GET',
      path: blobPath(layer.digest),
      action: { kind: 'corrupt', offset: 12_345 },
    });
    const err = await new Puller({ client, store, parallelism: 1 }).pull(ref).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as Error).message).toContain(`expected ${layer.digest}`);
    expect((err as Error).message).toContain(proxy.host);
    expect(await store.has(layer.digest as Digest)).toBe(false);
    expect(await store.has(image.manifestDigest as Digest)).toBe(false);
    expect(await store.listIngests()).toEqual([]);
  });

  it('waits as a 429 Retry-After asks, then succeeds', async () => {
    proxy.addFault({
      method: 'GET',
      path: /\/manifests\/v1$/,
      action: {
        kind: 'respond',
        status: 429,
        headers: { 'retry-after': '2' },
        body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
      },
      times: 2,
    });
    const img = await new Puller({ client, store }).pull(ref);
    expect(img.digest).toBe(image.manifestDigest);
    expect(sleeps).toEqual([2000, 2000]);
  });

  it('fails a 429 whose Retry-After is longer than allowed, with the registry message, store unchanged', async () => {
    await client.close();
    client = newClient({ maxRetryAfterMs: 10_000 });
    proxy.addFault({
      method: 'GET',
      path: /\/manifests\/v1$/,
      action: { kind: 'respond', status: 429, headers: { 'retry-after': '3600' } },
    });
    await expect(new Puller({ client, store }).pull(ref)).rejects.toThrow(
      /rate limiting \(HTTP 429\).*3600 s/,
    );
    expect(sleeps).toEqual([]);
    await expectStoreEmpty();
  });

  it('gives up after repeated 429s with the registry message', async () => {
    proxy.addFault({
      method: 'GET',
      path: /\/manifests\/v1$/,
      action: {
        kind: 'respond',
        status: 429,
        headers: { 'retry-after': '1' },
        body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"quota exceeded"}]}',
      },
      times: 10,
    });
    const err = await new Puller({ client, store }).pull(ref).catch((e: unknown) => e);
    expect((err as RegistryError).code).toBe('unavailable');
    expect((err as Error).message).toMatch(/HTTP 429: TOOMANYREQUESTS: quota exceeded/);
    expect(sleeps).toEqual([1000, 1000, 1000]);
  });

  it('never sends the registry credentials to a redirect target on another origin', async () => {
    const storage = await startFaultProxy(reg.host);
    try {
      const layer = image.layers[1]!;
      await client.close();
      client = new RegistryClient({
        config: { hosts: { [proxy.host]: { plainHttp: true, username: 'u', password: 'secret' } } },
      });
      // The registry asks for basic auth once, so the client authorizes every later request.
      proxy.addFault({
        path: /\/manifests\/v1$/,
        action: { kind: 'respond', status: 401, headers: { 'www-authenticate': 'Basic realm="test"' } },
      });
      proxy.addFault({
        method: 'GET',
        path: blobPath(layer.digest),
        action: {
          kind: 'respond',
          status: 302,
          headers: { location: `http://${storage.host}/v2/faults/app/blobs/${layer.digest}` },
        },
      });
      await new Puller({ client, store }).pull(ref);
      const toRegistry = proxy.requests.filter((r) => r.path.endsWith(layer.digest));
      expect(toRegistry[0]!.authorization).toBe(`Basic ${Buffer.from('u:secret').toString('base64')}`);
      const toStorage = storage.requests.filter((r) => r.path.endsWith(layer.digest));
      expect(toStorage).toMatchObject([{ status: 200 }]);
      expect(toStorage[0]!.authorization).toBeUndefined();
    } finally {
      await storage.close();
    }
  });

  it('follows a redirect to blob storage', async () => {
    const layer = image.layers[1]!;
    proxy.addFault({
      method: 'GET',
      path: blobPath(layer.digest),
      action: {
        kind: 'respond',
        status: 307,
        headers: { location: `http://${reg.host}/v2/faults/app/blobs/${layer.digest}` },
      },
    });
    const img = await new Puller({ client, store }).pull(ref);
    expect(img.layers[1]!.digest).toBe(layer.digest);
    expect((await reg.accessLog()).some((e) => e.path.endsWith(layer.digest) && e.status === 200)).toBe(true);
  });
});

describe('registry answers turned into clear errors', () => {
  it('404 of an unknown tag: NotFound-coded error with the registry message, store unchanged', async () => {
    const err = await new Puller({ client, store })
      .pull(`${proxy.host}/faults/app:nope`)
      .catch((e: unknown) => e);
    expect((err as RegistryError).code).toBe('not_found');
    expect((err as Error).message).toMatch(/manifest .*faults\/app:nope.*HTTP 404: MANIFEST_UNKNOWN/);
    await expectStoreEmpty();
  });

  it('403 with the registry message is permission_denied', async () => {
    proxy.addFault({
      path: /\/manifests\/v1$/,
      action: {
        kind: 'respond',
        status: 403,
        body: '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
      },
    });
    const err = await new Puller({ client, store }).pull(ref).catch((e: unknown) => e);
    expect((err as RegistryError).code).toBe('permission_denied');
    expect((err as Error).message).toMatch(/HTTP 403: DENIED: requested access to the resource is denied/);
  });

  it('refuses a manifest over the size limit (declared length), store unchanged', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 0x20);
    proxy.addFault({
      path: /\/manifests\/v1$/,
      action: {
        kind: 'respond',
        status: 200,
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: big,
      },
    });
    await expect(new Puller({ client, store }).pull(ref)).rejects.toThrow(
      /5242880 bytes, over the 4194304-byte limit/,
    );
    await expectStoreEmpty();
  });

  it('refuses a manifest over the size limit without a declared length (chunked)', async () => {
    await client.close();
    client = newClient({ maxManifestBytes: 64 * 1024 });
    proxy.addFault({
      path: /\/manifests\/v1$/,
      action: {
        kind: 'respond',
        status: 200,
        chunked: true,
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: Buffer.alloc(200 * 1024, 0x20),
      },
    });
    await expect(new Puller({ client, store }).pull(ref)).rejects.toThrow(/over the 65536-byte limit/);
    await expectStoreEmpty();
  });

  it.each([
    ['application/vnd.example.thing+json', /unsupported media type "application\/vnd.example.thing\+json"/],
    ['application/vnd.docker.distribution.manifest.v1+prettyjws', /Docker schema 1/],
  ])('refuses a manifest served as %s', async (type, why) => {
    proxy.addFault({
      path: /\/manifests\/v1$/,
      action: { kind: 'headers', headers: { 'content-type': type } },
    });
    await expect(new Puller({ client, store }).pull(ref)).rejects.toThrow(why);
    await expectStoreEmpty();
  });

  it('refuses a manifest whose bytes do not match the digest it was pulled by', async () => {
    proxy.addFault({ path: /\/manifests\/sha256:/, action: { kind: 'corrupt', offset: 3 } });
    const err = await new Puller({ client, store })
      .pull(`${proxy.host}/faults/app@${image.manifestDigest}`)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as Error).message).toContain(image.manifestDigest);
    await expectStoreEmpty();
  });

  it('refuses bad references before any request', async () => {
    for (const bad of ['UPPER/case', `${proxy.host}/x:`, `${proxy.host}/x@sha256:abc`]) {
      await expect(new Puller({ client, store }).pull(bad)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    expect(proxy.requests).toEqual([]);
    await expectStoreEmpty();
  });

  it('names an unknown registry host', async () => {
    const c = new RegistryClient();
    const err = await new Puller({ client: c, store })
      .pull('no-such-registry.invalid/x:1')
      .catch((e: unknown) => e);
    await c.close();
    expect((err as RegistryError).code).toBe('unavailable');
    expect((err as Error).message).toMatch(/cannot resolve registry host no-such-registry.invalid/);
    expect(err).not.toBeInstanceOf(NotFoundError);
    await expectStoreEmpty();
  });

  it('names a registry that refuses connections', async () => {
    const port = Number(proxy.host.split(':')[1]);
    await proxy.close();
    const err = await new Puller({ client, store }).pull(`127.0.0.1:${port}/x:1`).catch((e: unknown) => e);
    proxy = await startFaultProxy(reg.host);
    expect((err as RegistryError).code).toBe('unavailable');
    expect((err as Error).message).toMatch(/cannot reach registry 127.0.0.1:\d+: ECONNREFUSED/);
  });
});
