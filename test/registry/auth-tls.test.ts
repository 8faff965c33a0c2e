// TLS trust, basic and bearer auth, and mirror fallback against real docker-registry instances.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsContentStore } from '../../src/content/index.js';
import { Puller, RegistryClient, RegistryError, type RegistryConfig } from '../../src/registry/index.js';
import { writeOciLayout, type BuiltImage } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

let work: string;
let layout: string;
let image: BuiltImage;
const running: TestRegistry[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-auth-'));
  layout = path.join(work, 'layout');
  const built = await writeOciLayout(layout, 'v1', {
    layers: [{ files: [{ path: 'hello', content: 'hello from a secured registry' }] }],
  });
  image = built.images[0]!;
});
afterAll(async () => {
  await Promise.all(running.map((r) => r.stop()));
  await rm(work, { recursive: true, force: true });
});

async function registry(opts: Parameters<typeof startRegistry>[0]): Promise<TestRegistry> {
  const reg = await startRegistry(opts);
  running.push(reg);
  await reg.push(layout, 'v1', 'secure/app');
  return reg;
}

async function pullWith(
  config: RegistryConfig,
  ref: string,
): Promise<{ result?: unknown; error?: Error; store: FsContentStore }> {
  const store = new FsContentStore(await mkdtemp(path.join(work, 'root-')));
  const client = new RegistryClient({ config });
  try {
    return { result: await new Puller({ client, store }).pull(ref), store };
  } catch (error) {
    return { error: error as Error, store };
  } finally {
    await client.close();
  }
}

async function expectUntouched(store: FsContentStore): Promise<void> {
  expect(await store.list()).toEqual([]);
  expect(await store.listIngests()).toEqual([]);
}

describe('TLS', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await registry({ tls: true });
  });

  it('pulls over TLS trusting the custom CA named for the host', async () => {
    const { result, error } = await pullWith(
      { hosts: { [reg.host]: { caFile: reg.caFile! } } },
      `${reg.host}/secure/app:v1`,
    );
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ digest: image.manifestDigest });
  });

  it('refuses a certificate from an unknown CA with an error that says what to configure', async () => {
    const { error, store } = await pullWith({}, `${reg.host}/secure/app:v1`);
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).code).toBe('failed_precondition');
    expect(error!.message).toMatch(
      new RegExp(`TLS certificate of ${reg.host} is not trusted .*add its CA as caFile for "${reg.host}"`),
    );
    await expectUntouched(store);
  });

  it('skips verification only for a host that names insecureSkipVerify', async () => {
    const { error } = await pullWith(
      { hosts: { [reg.host]: { insecureSkipVerify: true } } },
      `${reg.host}/secure/app:v1`,
    );
    expect(error).toBeUndefined();
    const other = await pullWith(
      { hosts: { 'other.example:5000': { insecureSkipVerify: true } } },
      `${reg.host}/secure/app:v1`,
    );
    expect(other.error?.message).toMatch(/not trusted/);
  });

  it('tells the user to set plainHttp when a plain HTTP registry is spoken to with TLS', async () => {
    const plain = await registry({});
    const { error } = await pullWith({}, `${plain.host}/secure/app:v1`);
    expect(error?.message).toMatch(
      new RegExp(`TLS handshake with ${plain.host} failed .*set plainHttp for "${plain.host}"`),
    );
  });
});

describe('basic auth (htpasswd)', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await registry({ auth: 'htpasswd', users: { alice: 'wonderland' } });
  });

  it('pulls with the configured credentials', async () => {
    const cfg = { hosts: { [reg.host]: { plainHttp: true, username: 'alice', password: 'wonderland' } } };
    const { result, error } = await pullWith(cfg, `${reg.host}/secure/app:v1`);
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ digest: image.manifestDigest });
  });

  it('says that credentials are missing', async () => {
    const { error, store } = await pullWith(
      { hosts: { [reg.host]: { plainHttp: true } } },
      `${reg.host}/secure/app:v1`,
    );
    expect((error as RegistryError).code).toBe('permission_denied');
    expect(error!.message).toMatch(/requires authentication \(basic\) and no credentials are configured/);
    await expectUntouched(store);
  });

  it('pings the v2 API, authenticating when asked', async () => {
    const good = new RegistryClient({
      config: { hosts: { [reg.host]: { plainHttp: true, username: 'alice', password: 'wonderland' } } },
    });
    const anonymous = new RegistryClient({ config: { hosts: { [reg.host]: { plainHttp: true } } } });
    try {
      await expect(good.ping(reg.host)).resolves.toBeUndefined();
      await expect(anonymous.ping(reg.host)).rejects.toThrow(/requires authentication \(basic\)/);
    } finally {
      await Promise.all([good.close(), anonymous.close()]);
    }
  });

  it('refuses wrong credentials with the registry message', async () => {
    const cfg = { hosts: { [reg.host]: { plainHttp: true, username: 'alice', password: 'wrong' } } };
    const { error, store } = await pullWith(cfg, `${reg.host}/secure/app:v1`);
    expect((error as RegistryError).code).toBe('permission_denied');
    expect(error!.message).toMatch(/HTTP 401: UNAUTHORIZED: authentication required/);
    await expectUntouched(store);
  });
});

describe('bearer token auth', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await registry({ auth: 'token', users: { bob: 'builder' } });
  });

  it('gets a scoped token from the realm in WWW-Authenticate and reuses it for the whole pull', async () => {
    const before = reg.tokenIssuer!.requests.length;
    const cfg = { hosts: { [reg.host]: { plainHttp: true, username: 'bob', password: 'builder' } } };
    const { result, error } = await pullWith(cfg, `${reg.host}/secure/app:v1`);
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ digest: image.manifestDigest, configDigest: image.configDigest });
    // One token for manifest, config and layer: cached, not fetched per request.
    expect(reg.tokenIssuer!.requests.slice(before)).toEqual([
      { scope: ['repository:secure/app:pull'], user: 'bob' },
    ]);
  });

  it('refuses an anonymous pull with the registry message when the issuer grants nothing', async () => {
    const { error, store } = await pullWith(
      { hosts: { [reg.host]: { plainHttp: true } } },
      `${reg.host}/secure/app:v1`,
    );
    expect((error as RegistryError).code).toBe('permission_denied');
    expect(error!.message).toMatch(/HTTP 401: UNAUTHORIZED: authentication required/);
    await expectUntouched(store);
  });

  it('reports a token service that refuses the credentials', async () => {
    const cfg = { hosts: { [reg.host]: { plainHttp: true, username: 'bob', password: 'nope' } } };
    const { error } = await pullWith(cfg, `${reg.host}/secure/app:v1`);
    expect((error as RegistryError).code).toBe('permission_denied');
    expect(error!.message).toMatch(
      /token service .* refused a token for repository:secure\/app:pull \(HTTP 401\): invalid credentials/,
    );
  });

  it('pulls anonymously when the issuer grants anonymous pull tokens (TLS + token)', async () => {
    const hub = await registry({ auth: 'token', anonymousPull: true, tls: true });
    const { result, error } = await pullWith(
      { hosts: { [hub.host]: { caFile: hub.caFile! } } },
      `${hub.host}/secure/app:v1`,
    );
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ digest: image.manifestDigest });
  });
});

describe('mirrors', () => {
  let upstream: TestRegistry;
  let emptyMirror: TestRegistry;
  let fullMirror: TestRegistry;
  beforeAll(async () => {
    upstream = await registry({});
    emptyMirror = await startRegistry({});
    running.push(emptyMirror);
    fullMirror = await registry({});
  });

  it('falls back to the upstream when a mirror lacks the image', async () => {
    const cfg = { hosts: { [upstream.host]: { plainHttp: true, mirrors: [`http://${emptyMirror.host}`] } } };
    const { result, error } = await pullWith(cfg, `${upstream.host}/secure/app:v1`);
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ digest: image.manifestDigest });
    expect(
      (await emptyMirror.accessLog()).some(
        (e) => e.path === '/v2/secure/app/manifests/v1' && e.status === 404,
      ),
    ).toBe(true);
    expect(await upstream.blobFetches(image.layers[0]!.digest)).toBeGreaterThan(0);
  });

  it('tries mirrors in order and uses the first that has the image, not the upstream', async () => {
    const deadPort = `127.0.0.1:1`;
    const cfg = {
      hosts: {
        [upstream.host]: {
          plainHttp: true,
          mirrors: [`http://${deadPort}`, `http://${emptyMirror.host}`, `http://${fullMirror.host}`],
        },
      },
    };
    const upstreamBefore = (await upstream.accessLog()).length;
    const { result, error } = await pullWith(cfg, `${upstream.host}/secure/app:v1`);
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ digest: image.manifestDigest });
    expect(await fullMirror.blobFetches(image.layers[0]!.digest)).toBe(1);
    expect((await upstream.accessLog()).length).toBe(upstreamBefore);
  });

  it('reports the upstream error with what the mirrors said when nothing has the image', async () => {
    const cfg = { hosts: { [upstream.host]: { plainHttp: true, mirrors: [`http://${emptyMirror.host}`] } } };
    const { error } = await pullWith(cfg, `${upstream.host}/secure/missing:v1`);
    expect((error as RegistryError).code).toBe('not_found');
    expect(error!.message).toMatch(
      new RegExp(`HTTP 404: MANIFEST_UNKNOWN.*mirrors tried first: ${emptyMirror.host}: .*HTTP 404`),
    );
  });
});
