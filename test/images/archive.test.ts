// Air-gapped paths through a real berthd: import an OCI layout tar, tag, export (checked by skopeo),
// re-import the export, push to a real registry; a tampered archive commits nothing.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from '../../src/common/exec.js';
import type { ImageRecord } from '../../src/events/projections/state.js';
import { chainIds } from '../../src/snapshots/chainid.js';
import { runCli, startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { busyboxBinary, randomBytesSeeded, writeOciLayout, type BuiltLayout } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { listTree, registryConfigArgs } from './support.js';

let work: string;
let reg: TestRegistry;
let berthd: RunningBerthd;
let built: BuiltLayout;
let archive: string;
const NAME = 'example.com/team/app:v1';

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-archive-'));
  reg = await startRegistry();
  const layout = path.join(work, 'layout');
  built = await writeOciLayout(layout, 'v1', {
    layers: [
      { files: [{ path: 'bin/busybox', content: await busyboxBinary(), mode: 0o755 }] },
      { files: [{ path: 'data', content: randomBytesSeeded(200_000, 41) }] },
    ],
  });
  archive = path.join(work, 'app.tar');
  await execFile('tar', ['-C', layout, '-cf', archive, '.']);
  berthd = await startBerthd({ args: await registryConfigArgs(work, [reg.host]) });
}, 180_000);

afterAll(async () => {
  await berthd?.stop();
  await berthd?.cleanup();
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

const images = () => berthd.client.get<ImageRecord[]>('/v1/images');
const blobs = () => listTree(path.join(berthd.root, 'content', 'blobs'));

describe('import, tag, export, push', () => {
  it('refuses an archive that names its image by tag only, until a name is given', async () => {
    const bare = await runCli(berthd.socket, ['image', 'import', archive]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/only by the tag "v1".*--name/);
    expect(await images()).toEqual([]);
    const cli = await runCli(berthd.socket, ['image', 'import', '--name', NAME, archive]);
    expect(cli.stderr).toBe('');
    expect(cli.stdout).toContain(`imported ${NAME} (${built.digest})`);
    const [img] = await images();
    expect(img).toMatchObject({ name: NAME, target: { digest: built.digest } });
    expect(img!.chainId).toBe(chainIds(built.images[0]!.layers.map((l) => l.diffId)).at(-1));
  });

  it('tags an image: a second name for the same target', async () => {
    const cli = await runCli(berthd.socket, ['image', 'tag', NAME, 'example.com/team/app:latest']);
    expect(cli.code).toBe(0);
    const list = await images();
    expect(list.map((i) => i.name).sort()).toEqual(['example.com/team/app:latest', NAME]);
    expect(new Set(list.map((i) => i.target.digest)).size).toBe(1);
  });

  it('exports an OCI layout tar that skopeo reads, and that imports back to the same image', async () => {
    const out = path.join(work, 'exported.tar');
    const cli = await runCli(berthd.socket, ['image', 'export', NAME, out]);
    expect(cli.stderr).toBe('');
    const inspected = JSON.parse(await execFile('skopeo', ['inspect', '--raw', `oci-archive:${out}`])) as {
      layers: { digest: string }[];
    };
    expect(inspected.layers.map((l) => l.digest)).toEqual(built.images[0]!.layers.map((l) => l.digest));
    // An existing file is kept unless the export is told to replace it; no partial file is left.
    const first = await readFile(out);
    await writeFile(out, 'precious');
    const again = await runCli(berthd.socket, ['image', 'export', NAME, out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`${out} exists: export with --force to replace it`);
    expect(await readFile(out, 'utf8')).toBe('precious');
    const forced = await runCli(berthd.socket, ['image', 'export', '--force', NAME, out]);
    expect(forced.stderr).toBe('');
    expect((await readFile(out)).length).toBe(first.length); // the archive again (tar times differ)
    expect((await readdir(work)).filter((f) => f.includes('.partial'))).toEqual([]);
    // Removing both names frees everything; importing the export brings the image back by its own name.
    await runCli(berthd.socket, ['rmi', NAME, 'example.com/team/app:latest']);
    expect(await blobs()).toEqual([]);
    const back = await runCli(berthd.socket, ['image', 'import', '--json', out]);
    expect(back.stderr).toBe('');
    expect((JSON.parse(back.stdout) as ImageRecord[]).map((r) => [r.name, r.target.digest])).toEqual([
      [NAME, built.digest],
    ]);
  });

  it('pushes an image to a registry, from where skopeo reads it', async () => {
    const target = `${reg.host}/pushed/app:v1`;
    const cli = await runCli(berthd.socket, ['image', 'push', NAME, target]);
    expect(cli.stderr).toBe('');
    expect(cli.stdout).toMatch(/pushed sha256:[0-9a-f]{64} \(3 blobs uploaded/);
    const raw = await execFile('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${target}`]);
    expect(JSON.parse(raw).layers).toHaveLength(2);
  });

  it('a tampered archive is refused naming the digest, and commits and records nothing', async () => {
    const before = await blobs();
    // A layer the store does not hold yet (one it holds is never read from an archive again).
    const bad = path.join(work, 'tampered');
    const evil = await writeOciLayout(bad, 'evil', {
      layers: [{ files: [{ path: 'evil', content: randomBytesSeeded(50_000, 42) }] }],
    });
    const layer = evil.images[0]!.layers[0]!;
    const blob = path.join(bad, 'blobs', 'sha256', layer.digest.slice(7));
    const bytes = await readFile(blob);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(blob, bytes);
    const tar = path.join(work, 'tampered.tar');
    await execFile('tar', ['-C', bad, '-cf', tar, '.']);
    const cli = await runCli(berthd.socket, ['image', 'import', '--name', 'example.com/evil:1', tar]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain(layer.digest);
    expect((await images()).map((i) => i.name)).toEqual([NAME]);
    expect(await blobs()).toEqual(before);
  });

  it('import of a file that does not exist is not_found; export wants an absolute path', async () => {
    const missing = await runCli(berthd.socket, [
      'image',
      'import',
      '--name',
      'a.b/c:d',
      path.join(work, 'nope.tar'),
    ]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('nope.tar');
    const rel = await berthd.client
      .get(`/v1/images/${encodeURIComponent(NAME)}/export?output=relative.tar`)
      .catch((e: Error) => e);
    expect((rel as Error).message).toMatch(/absolute/);
  });
});
