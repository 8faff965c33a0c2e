// docker-archive tarballs through a real berthd, checked against skopeo (an independent writer and
// reader of the format): import what skopeo writes, export what skopeo reads back, round trip,
// and a tampered layer refused with nothing recorded.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from '../../src/common/exec.js';
import type { ImageRecord } from '../../src/events/projections/state.js';
import { chainIds } from '../../src/snapshots/chainid.js';
import { runCli, startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { busyboxBinary, randomBytesSeeded, writeOciLayout, type BuiltLayout } from '../helpers/oci-images.js';
import { listTree } from './support.js';

let work: string;
let berthd: RunningBerthd;
let built: BuiltLayout;
let layout: string;
let archive: string;
const NAME = 'example.com/team/tool:v2';

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-docker-archive-'));
  layout = path.join(work, 'layout');
  built = await writeOciLayout(layout, 'v2', {
    layers: [
      { files: [{ path: 'bin/busybox', content: await busyboxBinary(), mode: 0o755 }] },
      { files: [{ path: 'etc/data', content: randomBytesSeeded(300_000, 7) }] },
    ],
  });
  archive = path.join(work, 'tool.tar');
  // skopeo writes docker-archive layers uncompressed, as docker save does.
  await execFile('skopeo', ['copy', '--quiet', `oci:${layout}:v2`, `docker-archive:${archive}:${NAME}`]);
  berthd = await startBerthd();
}, 180_000);

afterAll(async () => {
  await berthd?.stop();
  await berthd?.cleanup();
  await rm(work, { recursive: true, force: true });
});

const images = () => berthd.client.get<ImageRecord[]>('/v1/images');
const blobs = () => listTree(path.join(berthd.root, 'content', 'blobs'));
const diffIds = () => built.images[0]!.layers.map((l) => l.diffId);

describe('docker-archive', () => {
  it('imports a docker-archive skopeo wrote: named by its tag, unpacked to the same chain', async () => {
    const cli = await runCli(berthd.socket, ['image', 'import', '--json', archive]);
    expect(cli.stderr).toBe('');
    const [record] = JSON.parse(cli.stdout) as ImageRecord[];
    expect(record).toMatchObject({ name: NAME });
    expect(record!.chainId).toBe(chainIds(diffIds()).at(-1));
    expect((await images()).map((i) => i.name)).toEqual([NAME]);
  });

  it('exports a docker-archive skopeo reads (uncompressed layers: digests are the diff_ids), which imports back', async () => {
    const out = path.join(work, 'exported.tar');
    const cli = await runCli(berthd.socket, ['image', 'export', '--format', 'docker-archive', NAME, out]);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const inspected = JSON.parse(await execFile('skopeo', ['inspect', `docker-archive:${out}`])) as {
      Layers: string[];
    };
    expect(inspected.Layers).toEqual(diffIds());
    // skopeo can convert it, and the config in it is the original's, byte for byte.
    await execFile('skopeo', [
      'copy',
      '--quiet',
      `docker-archive:${out}`,
      `oci:${path.join(work, 'copy')}:x`,
    ]);
    const listing = JSON.parse(await execFile('tar', ['-xOf', out, 'manifest.json'])) as [
      { Config: string; RepoTags: string[] },
    ];
    expect(listing[0].RepoTags).toEqual([NAME]);
    const config = await execFile('tar', ['-xOf', out, listing[0].Config]);
    expect(`sha256:${createHash('sha256').update(config).digest('hex')}`).toBe(built.images[0]!.configDigest);
    await runCli(berthd.socket, ['rmi', NAME]);
    expect(await blobs()).toEqual([]);
    const back = await runCli(berthd.socket, ['image', 'import', '--json', out]);
    expect(back.stderr).toBe('');
    const [again] = JSON.parse(back.stdout) as ImageRecord[];
    expect(again).toMatchObject({ name: NAME, chainId: chainIds(diffIds()).at(-1) });
  });

  it('a layer that does not hash to its diff_id is refused naming both, and nothing is recorded', async () => {
    const before = { images: await images(), blobs: await blobs() };
    const dir = path.join(work, 'tampered');
    await execFile('mkdir', ['-p', dir]);
    await execFile('tar', ['-C', dir, '-xf', archive]);
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as [
      { Layers: string[] },
    ];
    const layerFile = path.join(dir, manifest[0].Layers[1]!);
    const bytes = await readFile(layerFile);
    bytes[700] = (bytes[700] ?? 0) ^ 0xff;
    await writeFile(layerFile, bytes);
    const tar = path.join(work, 'tampered.tar');
    await execFile('tar', ['-C', dir, '-cf', tar, '.']);
    const cli = await runCli(berthd.socket, ['image', 'import', '--name', 'example.com/evil:1', tar]);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain(diffIds()[1]);
    expect(cli.stderr).toMatch(/its config says/);
    expect(await images()).toEqual(before.images);
    expect(await blobs()).toEqual(before.blobs);
  });

  it('a tar that is neither format is refused saying what it lacks', async () => {
    const junk = path.join(work, 'junk.tar');
    await writeFile(path.join(work, 'readme.txt'), 'not an image\n');
    await execFile('tar', ['-C', work, '-cf', junk, 'readme.txt']);
    const cli = await runCli(berthd.socket, ['image', 'import', '--name', 'example.com/junk:1', junk]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(
      /neither an OCI image layout archive .* nor a docker-archive \(no manifest.json\)/,
    );
  });

  it('export refuses an unknown format', async () => {
    const cli = await runCli(berthd.socket, [
      'image',
      'export',
      '--format',
      'zip',
      NAME,
      path.join(work, 'x'),
    ]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/export format "zip" is not supported \(oci, docker-archive\)/);
  });
});
