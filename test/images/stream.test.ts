// Streaming unpack: the layer next in order is applied while it still downloads, is committed only
// once both its compressed digest and its diff_id verify, and survives a cut transfer resumed by Range.
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageRecord } from '../../src/events/projections/state.js';
import { startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { randomBytesSeeded, writeOciLayout, type BuiltLayout, type FileSpec } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../registry/fault-proxy.js';
import { listTree, pullViaApi, registryConfigArgs } from './support.js';

let reg: TestRegistry;
let proxy: FaultProxy;
let work: string;
let berthd: RunningBerthd;
const built = new Map<string, { layout: BuiltLayout; files: FileSpec[] }>();

/** One gzip layer: a small file first, then a large one, so the first is whole early in the blob. */
const filesOf = (name: string, seed: number): FileSpec[] => [
  { path: `${name}/first`, content: randomBytesSeeded(100_000, seed) },
  { path: `${name}/second`, content: randomBytesSeeded(1_500_000, seed + 1) },
];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-images-stream-'));
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.host);
  const layout = path.join(work, 'layout');
  for (const [name, seed] of [
    ['paused', 41],
    ['tampered', 43],
    ['cut', 45],
  ] as const) {
    const files = filesOf(name, seed);
    built.set(name, { layout: await writeOciLayout(layout, name, { layers: [{ files }] }), files });
    await reg.push(layout, name, `test/${name}`);
  }
  berthd = await startBerthd({ args: await registryConfigArgs(work, [reg.host, proxy.host]) });
}, 180_000);

afterAll(async () => {
  await berthd?.stop();
  await berthd?.cleanup();
  await proxy?.close();
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

const snapshotsDir = () => path.join(berthd.root, 'snapshots', 'overlayfs', 'snapshots');
const blobs = () => listTree(path.join(berthd.root, 'content', 'blobs'));
const layerOf = (name: string) => built.get(name)!.layout.images[0]!.layers[0]!;

/** The snapshot directory (`…/<id>/fs`) holding `file` with `size` bytes, if any. */
async function snapshotHolding(file: string, size: number): Promise<string | undefined> {
  for (const id of await readdir(snapshotsDir()).catch(() => [] as string[])) {
    const fs = path.join(snapshotsDir(), id, 'fs');
    const st = await stat(path.join(fs, file)).catch(() => undefined);
    if (st?.size === size) return fs;
  }
  return undefined;
}

/** Every file of the image is in `fs` with its content. */
async function expectTree(fs: string, name: string): Promise<void> {
  const files = built.get(name)!.files;
  expect((await listTree(fs)).sort()).toEqual(files.map((f) => f.path).sort());
  for (const f of files)
    expect((await readFile(path.join(fs, f.path))).equals(f.content as Buffer)).toBe(true);
}

describe('streaming unpack', () => {
  it('applies a layer while it is still downloading: its files land before the last byte is sent', async () => {
    const layer = layerOf('paused');
    let release!: () => void;
    const until = new Promise<void>((r) => (release = r));
    // Half the blob, then nothing until the test has seen the first file unpacked.
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/blobs/${layer.digest}$`),
      action: { kind: 'pause', afterBytes: Math.floor(layer.size / 2), until },
    });
    let finished = false;
    const pulling = pullViaApi(berthd.client, `${proxy.host}/test/paused:paused`).finally(
      () => (finished = true),
    );
    let unpackedEarly: string | undefined;
    while (!finished && !unpackedEarly) {
      unpackedEarly = await snapshotHolding('paused/first', 100_000);
      if (!unpackedEarly) await new Promise((r) => setTimeout(r, 20));
    }
    // Observed while the proxy still holds the second half back: the blob is not in the store yet.
    const servedWhenSeen = proxy.bytesServed(layer.digest);
    const blobsWhenSeen = await blobs();
    release();
    const out = await pulling;
    expect(unpackedEarly).toBeDefined();
    expect(servedWhenSeen).toBe(Math.floor(layer.size / 2));
    expect(blobsWhenSeen).not.toContain(path.join('sha256', layer.digest.slice(7)));
    expect(out.error).toBeUndefined();
    expect(out.image?.target.digest).toBe(built.get('paused')!.layout.digest);
    // One transfer, not read back: the committed snapshot is the one that was filled while it ran.
    expect(proxy.requests.filter((r) => r.path.endsWith(layer.digest)).length).toBe(1);
    await expectTree(unpackedEarly!, 'paused');
  });

  it('a streamed layer whose blob fails its digest is not committed, though its diff_id verifies', async () => {
    const layer = layerOf('tampered');
    // Byte 4 is the gzip header's mtime: the layer still decompresses to the tar its diff_id names,
    // so only the compressed digest tells the bytes are not the blob's.
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/blobs/${layer.digest}$`),
      action: { kind: 'corrupt', offset: 4 },
      times: 100,
    });
    const blobsBefore = await blobs();
    const snapshotsBefore = await readdir(snapshotsDir());
    const out = await pullViaApi(berthd.client, `${proxy.host}/test/tampered:tampered`);
    expect(out.error?.code).toBe('invalid_argument');
    expect(out.error?.message).toContain(layer.digest);
    const images = await berthd.client.get<ImageRecord[]>('/v1/images');
    expect(images.map((i) => i.name)).not.toContain(`${proxy.host}/test/tampered:tampered`);
    expect(await snapshotHolding('tampered/second', 1_500_000)).toBeUndefined();
    expect(await readdir(snapshotsDir())).toEqual(snapshotsBefore);
    expect(await blobs()).toEqual(blobsBefore);
    expect((await berthd.client.get<{ equal: boolean }>('/v1/replay/check')).equal).toBe(true);
  });

  it('a connection cut mid-stream is resumed by Range and yields the same tree', async () => {
    const layer = layerOf('cut');
    const cutAt = Math.floor(layer.size / 3);
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/blobs/${layer.digest}$`),
      action: { kind: 'cut', afterBytes: cutAt },
    });
    const out = await pullViaApi(berthd.client, `${proxy.host}/test/cut:cut`);
    expect(out.error).toBeUndefined();
    const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(layer.digest));
    expect(gets.map((g) => g.range ?? 'bytes=0-')).toEqual(['bytes=0-', `bytes=${cutAt}-`]);
    const fs = await snapshotHolding('cut/second', 1_500_000);
    expect(fs).toBeDefined();
    await expectTree(fs!, 'cut');
  });
});
