// Pulls that must fail cleanly: bad references, unknown hosts, foreign manifests, corrupt blobs,
// a registry that stops sending. Each gives a clear error and leaves no image and no stray blobs.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/content/digest.js';
import type { ImageRecord } from '../../src/events/projections/state.js';
import { RegistryClient, parseReference, pushBlob, pushManifest } from '../../src/registry/index.js';
import { runCli, startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { randomBytesSeeded, writeOciLayout, type BuiltLayout } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../registry/fault-proxy.js';
import { listTree, pullViaApi, registryConfigArgs } from './support.js';

let reg: TestRegistry;
let proxy: FaultProxy;
let work: string;
let berthd: RunningBerthd;
let corrupt: BuiltLayout;
let stalling: BuiltLayout;

const STALL_MS = 1_000;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-images-fail-'));
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.host);
  const layout = path.join(work, 'layout');
  corrupt = await writeOciLayout(layout, 'corrupt', {
    layers: [{ files: [{ path: 'x', content: randomBytesSeeded(200_000, 11) }] }],
  });
  stalling = await writeOciLayout(layout, 'stalling', {
    layers: [{ files: [{ path: 'y', content: randomBytesSeeded(200_000, 12) }] }],
  });
  await reg.push(layout, 'corrupt', 'test/corrupt');
  await reg.push(layout, 'stalling', 'test/stalling');
  await pushForeignArtifact(reg.host);
  // The registry client gives up a silent transfer after STALL_MS; a pull fails after twice that.
  berthd = await startBerthd({
    args: await registryConfigArgs(work, [reg.host, proxy.host], { stallTimeoutMs: STALL_MS }),
  });
}, 180_000);

afterAll(async () => {
  await berthd?.stop();
  await berthd?.cleanup();
  await proxy?.close();
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

/** An OCI manifest whose config is a Helm chart's: a valid manifest, but not a container image. */
async function pushForeignArtifact(host: string): Promise<void> {
  const client = new RegistryClient({ config: { hosts: { [host]: { plainHttp: true } } } });
  const ref = parseReference(`${host}/test/chart:1.0`);
  const config = Buffer.from('{"name":"chart","version":"1.0"}');
  const layer = randomBytesSeeded(1000, 13);
  const configDesc = {
    mediaType: 'application/vnd.cncf.helm.config.v1+json',
    digest: digestOf(config),
    size: config.length,
  };
  const layerDesc = {
    mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
    digest: digestOf(layer),
    size: layer.length,
  };
  await pushBlob(client, ref, configDesc, async () => config);
  await pushBlob(client, ref, layerDesc, async () => layer);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: configDesc,
    layers: [layerDesc],
  };
  await pushManifest(client, ref, manifest.mediaType, Buffer.from(JSON.stringify(manifest)));
  await client.close();
}

const images = () => berthd.client.get<ImageRecord[]>('/v1/images');
const blobs = () => listTree(path.join(berthd.root, 'content', 'blobs'));

describe('pulls that fail', () => {
  it('refuses malformed references with invalid_argument before anything runs', async () => {
    const before = await blobs();
    for (const ref of ['', 'UPPER/Case:x', 'busybox:bad tag', 'a//b', `${reg.host}/x@sha256:123`]) {
      const out = await pullViaApi(berthd.client, ref);
      expect(out.error?.code, ref).toBe('invalid_argument');
    }
    const cli = await runCli(berthd.socket, ['pull', 'Not A Ref']);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/invalid image reference/);
    expect(await blobs()).toEqual(before);
    expect(await images()).toEqual([]);
  });

  it('refuses a malformed namespace', async () => {
    const out = await pullViaApi(berthd.client, `${reg.host}/test/corrupt:corrupt`, { namespace: 'Bad NS' });
    expect(out.error?.code).toBe('invalid_argument');
    expect(out.error?.message).toMatch(/namespace/);
  });

  it('reports an unknown host as unavailable, naming it', async () => {
    const before = await blobs();
    const out = await pullViaApi(berthd.client, 'registry.does-not-exist.invalid/team/app:1');
    expect(out.error?.code).toBe('unavailable');
    expect(out.error?.message).toContain('registry.does-not-exist.invalid');
    expect(await blobs()).toEqual(before);
    // Through the CLI: exit code 1 with the reason; 4 means only that berthd does not answer.
    const cli = await runCli(berthd.socket, ['pull', 'registry.does-not-exist.invalid/team/app:1']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('registry.does-not-exist.invalid');
    const down = await runCli(path.join(work, 'no-berthd.sock'), ['images']);
    expect(down.code).toBe(4);
    expect(down.stderr).toMatch(/berthd is not running: no API socket at/);
  });

  it('refuses a manifest that is not a container image and leaves the store unchanged', async () => {
    const before = await blobs();
    const out = await pullViaApi(berthd.client, `${reg.host}/test/chart:1.0`);
    expect(out.error?.code).toBe('failed_precondition');
    expect(out.error?.message).toMatch(/helm\.config.*not an image config/);
    expect(await blobs()).toEqual(before);
    expect(await images()).toEqual([]);
  });

  it('a blob that does not match its digest is not committed and the image is not recorded', async () => {
    const layer = corrupt.images[0]!.layers[0]!;
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/blobs/${layer.digest}$`),
      action: { kind: 'corrupt', offset: 100 },
      times: 100,
    });
    const before = await blobs();
    const out = await pullViaApi(berthd.client, `${proxy.host}/test/corrupt:corrupt`);
    expect(out.error?.code).toBe('invalid_argument');
    expect(out.error?.message).toContain(layer.digest);
    expect(await images()).toEqual([]);
    // Nothing of the image stays: not the bad layer, not the manifest and config resolve stored.
    expect(await blobs()).toEqual(before);
    const check = await berthd.client.get<{ equal: boolean }>('/v1/replay/check');
    expect(check.equal).toBe(true);
  });

  it('a layer whose content does not match its diff_id is refused; no snapshot is committed, nothing stays', async () => {
    const layout = path.join(work, 'badiff');
    const good = await writeOciLayout(layout, 'good', {
      layers: [
        { files: [{ path: 'one', content: randomBytesSeeded(60_000, 15) }] },
        { files: [{ path: 'two', content: randomBytesSeeded(60_000, 16) }] },
      ],
    });
    // The same layers under a config that claims another diff_id for the second one.
    const img = good.images[0]!;
    const blob = (d: string) => path.join(layout, 'blobs', 'sha256', d.slice(7));
    const put = async (data: Buffer) => {
      const d = digestOf(data);
      await writeFile(blob(d), data);
      return { digest: d, size: data.length };
    };
    const config = JSON.parse(await readFile(blob(img.configDigest), 'utf8')) as {
      rootfs: { diff_ids: string[] };
    };
    const claimed = `sha256:${'ab'.repeat(32)}`;
    config.rootfs.diff_ids[1] = claimed;
    const manifest = JSON.parse(await readFile(blob(img.manifestDigest), 'utf8')) as {
      config: { digest: string; size: number };
    };
    manifest.config = { ...manifest.config, ...(await put(Buffer.from(JSON.stringify(config)))) };
    const m = await put(Buffer.from(JSON.stringify(manifest)));
    await writeFile(
      path.join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...m,
            annotations: { 'org.opencontainers.image.ref.name': 'bad' },
          },
        ],
      }),
    );
    await reg.push(layout, 'bad', 'test/badiff');
    const before = await blobs();
    const snapsBefore = await readdir(path.join(berthd.root, 'snapshots', 'overlayfs', 'snapshots')).catch(
      () => [],
    );
    const out = await pullViaApi(berthd.client, `${reg.host}/test/badiff:bad`);
    expect(out.error?.code).toBe('invalid_argument');
    expect(out.error?.message).toContain(claimed);
    expect(out.error?.message).toContain(img.layers[1]!.diffId);
    expect(await images()).toEqual([]);
    // The first layer's snapshot was committed before the second was refused; the failed pull's
    // collection removed it again, with the blobs.
    expect(
      await readdir(path.join(berthd.root, 'snapshots', 'overlayfs', 'snapshots')).catch(() => []),
    ).toEqual(snapsBefore);
    expect(await blobs()).toEqual(before);
    expect((await berthd.client.get<{ equal: boolean }>('/v1/replay/check')).equal).toBe(true);
  });

  it('a layer writing through a symlink that climbs out of the snapshot is refused, naming the entry; nothing outside changes, nothing stays', async () => {
    // Snapshots live at <root>/snapshots/overlayfs/snapshots/<id>/fs: five levels below berthd's
    // root, where the sentinel sits, so an uncontained write through `esc` would replace it.
    const sentinel = path.join(berthd.root, 'escape-sentinel');
    await writeFile(sentinel, 'untouched');
    const layout = path.join(work, 'escape');
    await writeOciLayout(layout, 'evil', {
      layers: [
        { files: [{ path: 'base', content: randomBytesSeeded(10_000, 17) }] },
        // A dangling symlink is legal on its own; the next layer writes through it.
        { files: [{ path: 'esc', type: 'symlink', linkname: '../../../../..' }] },
        { files: [{ path: 'esc/escape-sentinel', content: 'pwned' }], compression: 'zstd' },
      ],
    });
    await reg.push(layout, 'evil', 'test/escape');
    const snapshotsDir = path.join(berthd.root, 'snapshots', 'overlayfs', 'snapshots');
    const blobsBefore = await blobs();
    const snapsBefore = await readdir(snapshotsDir).catch(() => []);
    const rootBefore = (await readdir(berthd.root)).sort();

    const out = await pullViaApi(berthd.client, `${reg.host}/test/escape:evil`);
    expect(out.error?.code).toBe('invalid_argument');
    expect(out.error?.message).toContain('"esc/escape-sentinel" refused');
    expect(await readFile(sentinel, 'utf8')).toBe('untouched');
    expect((await readdir(berthd.root)).sort()).toEqual(rootBefore);
    expect(await images()).toEqual([]);
    // The first two layers' snapshots were committed before the third was refused; the failed
    // pull's collection removed them, the refused layer's active snapshot and the blobs.
    expect(await readdir(snapshotsDir).catch(() => [])).toEqual(snapsBefore);
    expect(await blobs()).toEqual(blobsBefore);
    expect((await berthd.client.get<{ equal: boolean }>('/v1/replay/check')).equal).toBe(true);
    await rm(sentinel);
  });

  it('a transfer that keeps stalling but moves each time is resumed by Range until it completes', async () => {
    const layer = stalling.images[0]!.layers[0]!;
    // Each request sends 50 kB and goes silent: slow, but progress every time.
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/blobs/${layer.digest}$`),
      action: { kind: 'stall', afterBytes: 50_000 },
      times: 1000,
    });
    const out = await pullViaApi(berthd.client, `${proxy.host}/test/stalling:stalling`);
    expect(out.error).toBeUndefined();
    expect(out.image?.target.digest).toBe(stalling.digest);
    const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(layer.digest));
    expect(gets.map((g) => g.range ?? 'bytes=0-')).toEqual(
      Array.from({ length: gets.length }, (_, i) => `bytes=${i * 50_000}-`),
    );
    expect(gets.length).toBeGreaterThan(1);
    await berthd.client.delete(`/v1/images/${encodeURIComponent(out.image!.name)}`);
  }, 120_000);

  it('a registry that stops sending fails the pull for making no progress', async () => {
    const silent = await writeOciLayout(path.join(work, 'layout'), 'silent', {
      layers: [{ files: [{ path: 'z', content: randomBytesSeeded(100_000, 14) }] }],
    });
    await reg.push(path.join(work, 'layout'), 'silent', 'test/silent');
    const layer = silent.images[0]!.layers[0]!;
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/blobs/${layer.digest}$`),
      action: { kind: 'stall', afterBytes: 0 },
      times: 1000,
    });
    const out = await pullViaApi(berthd.client, `${proxy.host}/test/silent:silent`);
    expect(out.error?.code).toBe('unavailable');
    expect(out.error?.message).toMatch(/no progress|stall/i);
    expect(await images()).toEqual([]);
  }, 120_000);
});
