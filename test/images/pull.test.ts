// Pull end to end through a real berthd from a real registry: records, snapshots, progress, CLI.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageRecord, SnapshotRecord } from '../../src/events/projections/state.js';
import { chainIds } from '../../src/snapshots/chainid.js';
import { execFile } from '../../src/common/exec.js';
import { BERTH_CLI, runCli, startBerthd, testEnv, type RunningBerthd } from '../helpers/berthd.js';
import { busyboxBinary, randomBytesSeeded, writeOciLayout, type BuiltLayout } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { pullViaApi, registryConfigArgs } from './support.js';

let reg: TestRegistry;
let work: string;
let berthd: RunningBerthd;
let app: BuiltLayout;
let sibling: BuiltLayout;
let crowd: BuiltLayout;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-images-'));
  reg = await startRegistry();
  const layout = path.join(work, 'layout');
  const busybox = await busyboxBinary();
  const base = { files: [{ path: 'bin/busybox', content: busybox, mode: 0o755 }] };
  app = await writeOciLayout(layout, 'app', {
    layers: [base, { files: [{ path: 'app/data', content: randomBytesSeeded(400_000, 1) }] }],
    cmd: ['/bin/busybox', 'true'],
  });
  sibling = await writeOciLayout(layout, 'sibling', {
    layers: [base, { files: [{ path: 'srv/other', content: randomBytesSeeded(100_000, 2) }] }],
  });
  crowd = await writeOciLayout(layout, 'crowd', {
    layers: [
      { files: [{ path: 'a', content: randomBytesSeeded(300_000, 3) }] },
      { files: [{ path: 'b', content: randomBytesSeeded(200_000, 4) }] },
    ],
  });
  await reg.push(layout, 'app', 'test/app');
  await reg.push(layout, 'sibling', 'test/sibling');
  await reg.push(layout, 'crowd', 'test/crowd');
  berthd = await startBerthd({ args: await registryConfigArgs(work, [reg.host]) });
}, 180_000);

afterAll(async () => {
  await berthd?.stop();
  await berthd?.cleanup();
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

const committedSnapshots = async (ns = 'default') =>
  berthd.client
    .get<{ snapshots: Record<string, SnapshotRecord> }>('/v1/replay', { at: String(await lastSeq()) })
    .then((s) => Object.values(s.snapshots).filter((r) => r.namespace === ns && r.kind === 'committed'));

describe('pull through berthd', () => {
  it('pulls, unpacks and records an image; berth images lists it', async () => {
    const out = await pullViaApi(berthd.client, `${reg.host}/test/app:app`);
    expect(out.error).toBeUndefined();
    const img = out.image!;
    const built = app.images[0]!;
    expect(img.name).toBe(`${reg.host}/test/app:app`);
    expect(img.target.digest).toBe(app.digest);
    expect(img.configDigest).toBe(built.configDigest);
    const chain = chainIds(built.layers.map((l) => l.diffId));
    expect(img.chainId).toBe(chain.at(-1));
    expect(img.size).toBe(built.layers.reduce((n, l) => n + l.size, 0) + (await configSize(img)));
    // Progress came through NATS to the stream: the fetch phase saw every layer's bytes.
    expect(out.progress.length).toBeGreaterThan(0);
    const lastFetch = out.progress.filter((p) => p.phase === 'fetch').at(-1);
    expect(lastFetch?.bytesDone).toBe(lastFetch?.bytesTotal);

    const cli = await runCli(berthd.socket, ['images']);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain(`${reg.host}/test/app:app`);
    expect(cli.stdout).toContain(built.configDigest.slice(7, 19));
    const json = await runCli(berthd.socket, ['images', '--json']);
    expect((JSON.parse(json.stdout) as ImageRecord[]).map((i) => i.name)).toContain(img.name);
    const inspect = await runCli(berthd.socket, ['image', 'inspect', img.configDigest!.slice(7, 19)]);
    expect(inspect.code).toBe(0);
    expect(JSON.parse(inspect.stdout).config.config.Cmd).toEqual(['/bin/busybox', 'true']);

    // Every layer is a committed snapshot keyed by its chain id, recorded in the log.
    const names = (await committedSnapshots()).map((s) => s.key);
    for (const c of chain) expect(names).toContain(c);
  });

  it('berth pull prints plain progress lines without a TTY and the result at the end', async () => {
    const cli = await runCli(berthd.socket, ['pull', `${reg.host}/test/sibling:sibling`]);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/: fetched \(/);
    expect(cli.stdout).toContain(`${reg.host}/test/sibling:sibling: pulled ${sibling.digest}`);
  });

  it('berth pull on a terminal redraws per-layer progress in place with bytes and rate', async () => {
    await berthd.client.delete(`/v1/images/${encodeURIComponent(`${reg.host}/test/sibling:sibling`)}`);
    // script(1) gives the CLI a pseudo-terminal, so it takes its TTY path.
    const cmd = [
      process.execPath,
      BERTH_CLI,
      '--socket',
      berthd.socket,
      'pull',
      `${reg.host}/test/sibling:sibling`,
    ];
    const out = await execFile('script', ['-qec', cmd.map((a) => `'${a}'`).join(' '), '/dev/null'], {
      env: testEnv(),
    });
    expect(out).toContain('\x1b[2K');
    for (const l of sibling.images[0]!.layers) expect(out).toContain(l.digest.slice(7, 19));
    expect(out).toMatch(/ B\/s|KB\/s|MB\/s/);
    expect(out).toContain(`pulled ${sibling.digest}`);
  });

  it('two images sharing a base layer share one snapshot directory', async () => {
    await pullViaApi(berthd.client, `${reg.host}/test/app:app`);
    await pullViaApi(berthd.client, `${reg.host}/test/sibling:sibling`);
    const appChain = chainIds(app.images[0]!.layers.map((l) => l.diffId));
    const sibChain = chainIds(sibling.images[0]!.layers.map((l) => l.diffId));
    expect(appChain[0]).toBe(sibChain[0]);
    const unique = new Set([...appChain, ...sibChain]);
    // overlayfs keeps one directory per snapshot: three, not four.
    const dirs = await readdir(path.join(berthd.root, 'snapshots', 'overlayfs', 'snapshots'));
    expect(dirs.length).toBe(unique.size);
  });

  it('20 concurrent pulls of one reference fetch each blob once', async () => {
    const ref = `${reg.host}/test/crowd:crowd`;
    const outs = await Promise.all(Array.from({ length: 20 }, () => pullViaApi(berthd.client, ref)));
    for (const o of outs) {
      expect(o.error).toBeUndefined();
      expect(o.image?.target.digest).toBe(crowd.digest);
    }
    const built = crowd.images[0]!;
    for (const d of [built.configDigest, ...built.layers.map((l) => l.digest)]) {
      expect(await reg.blobFetches(d)).toBe(1);
    }
  });

  it('a second pull of a pulled image fetches no blob and records nothing new', async () => {
    const ref = `${reg.host}/test/crowd:crowd`;
    const before = await lastSeq();
    const again = await pullViaApi(berthd.client, ref);
    expect(again.error).toBeUndefined();
    const built = crowd.images[0]!;
    for (const d of built.layers.map((l) => l.digest)) expect(await reg.blobFetches(d)).toBe(1);
    expect(await lastSeq()).toBe(before);
  });

  it('a pull of a present image only asks the registry what its tag names now: no transition, no progress', async () => {
    const ref = `${reg.host}/test/crowd:crowd`;
    const seen = (await reg.accessLog()).length;
    const again = await pullViaApi(berthd.client, ref);
    expect(again.error).toBeUndefined();
    expect(again.image?.target.digest).toBe(crowd.digest);
    expect(again.progress).toEqual([]);
    const requests = (await reg.accessLog()).slice(seen).map((e) => `${e.method} ${e.path}`);
    expect(requests).toEqual(['GET /v2/test/crowd/manifests/crowd']);
  });

  it('a pull after the tag moved to another image pulls and records that image', async () => {
    const layout = path.join(work, 'layout');
    const ref = `${reg.host}/test/moving:v1`;
    await reg.push(layout, 'app', 'test/moving', { destTag: 'v1' });
    expect((await pullViaApi(berthd.client, ref)).image?.target.digest).toBe(app.digest);
    await reg.push(layout, 'sibling', 'test/moving', { destTag: 'v1' });
    const moved = await pullViaApi(berthd.client, ref);
    expect(moved.error).toBeUndefined();
    expect(moved.image?.target.digest).toBe(sibling.digest);
    const listed = await berthd.client.get<ImageRecord[]>('/v1/images');
    expect(listed.find((i) => i.name === ref)?.target.digest).toBe(sibling.digest);
  });

  it('namespaces are separate: an image pulled into k8s.io is not in default, and shares snapshots', async () => {
    const out = await pullViaApi(berthd.client, `${reg.host}/test/app:app`, { namespace: 'k8s.io' });
    expect(out.error).toBeUndefined();
    const k8s = await berthd.client.get<ImageRecord[]>('/v1/images', { namespace: 'k8s.io' });
    expect(k8s.map((i) => i.name)).toEqual([`${reg.host}/test/app:app`]);
    const chain = chainIds(app.images[0]!.layers.map((l) => l.diffId));
    const k8sSnaps = (await committedSnapshots('k8s.io')).map((s) => s.key).sort();
    expect(k8sSnaps).toEqual([...chain].sort());
  });
});

async function configSize(img: ImageRecord): Promise<number> {
  return (await stat(path.join(work, 'layout', 'blobs', 'sha256', img.configDigest!.slice(7)))).size;
}

const lastSeq = () =>
  berthd.client.get<{ events: { lastSeq: number } }>('/v1/info').then((i) => i.events.lastSeq);
