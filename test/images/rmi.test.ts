// berth rmi and image GC through a real berthd: what only the removed image used goes (content,
// snapshots, with their events); what another image shares stays; the log still matches a rebuild.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageRecord } from '../../src/events/projections/state.js';
import { chainIds } from '../../src/snapshots/chainid.js';
import { runCli, startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { busyboxBinary, randomBytesSeeded, writeOciLayout, type BuiltLayout } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { listTree, pullViaApi, registryConfigArgs } from './support.js';

let reg: TestRegistry;
let work: string;
let berthd: RunningBerthd;
let first: BuiltLayout;
let second: BuiltLayout;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-rmi-'));
  reg = await startRegistry();
  const layout = path.join(work, 'layout');
  const base = { files: [{ path: 'bin/busybox', content: await busyboxBinary(), mode: 0o755 }] };
  first = await writeOciLayout(layout, 'first', {
    layers: [base, { files: [{ path: 'one', content: randomBytesSeeded(100_000, 21) }] }],
  });
  second = await writeOciLayout(layout, 'second', {
    layers: [base, { files: [{ path: 'two', content: randomBytesSeeded(100_000, 22) }] }],
  });
  await reg.push(layout, 'first', 'test/first');
  await reg.push(layout, 'second', 'test/second');
  berthd = await startBerthd({ args: await registryConfigArgs(work, [reg.host]) });
}, 180_000);

afterAll(async () => {
  await berthd?.stop();
  await berthd?.cleanup();
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

const blobs = async () =>
  (await listTree(path.join(berthd.root, 'content', 'blobs'))).map((p) => `sha256:${path.basename(p)}`);
const snapshotDirs = () => readdir(path.join(berthd.root, 'snapshots', 'overlayfs', 'snapshots'));

async function events(topic: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of berthd.client.stream<{ subject: string }>('/v1/events', { topic }))
    out.push(e.subject);
  return out;
}

describe('rmi and GC', () => {
  it('removes only what no other image uses, records it, and keeps the log consistent', async () => {
    const a = await pullViaApi(berthd.client, `${reg.host}/test/first:first`);
    const b = await pullViaApi(berthd.client, `${reg.host}/test/second:second`);
    expect(a.error ?? b.error).toBeUndefined();
    const [fa, fb] = [first.images[0]!, second.images[0]!];
    const chainA = chainIds(fa.layers.map((l) => l.diffId));
    const chainB = chainIds(fb.layers.map((l) => l.diffId));
    expect(await snapshotDirs()).toHaveLength(3);

    const cli = await runCli(berthd.socket, ['rmi', `${reg.host}/test/first:first`]);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/removed .*first:first \(3 blobs, 1 snapshots freed\)/);

    const names = (await berthd.client.get<ImageRecord[]>('/v1/images')).map((i) => i.name);
    expect(names).toEqual([`${reg.host}/test/second:second`]);
    const left = await blobs();
    // first's manifest, config and own layer are gone; the shared base layer stays.
    for (const d of [fa.manifestDigest, fa.configDigest, fa.layers[1]!.digest]) expect(left).not.toContain(d);
    for (const d of [fb.manifestDigest, fb.configDigest, ...fb.layers.map((l) => l.digest)])
      expect(left).toContain(d);
    expect(await snapshotDirs()).toHaveLength(2);
    expect(await events('/images/delete')).toEqual([`${reg.host}/test/first:first`]);
    expect((await events('/content/delete')).sort()).toEqual(
      [fa.manifestDigest, fa.configDigest, fa.layers[1]!.digest].sort(),
    );
    expect(await events('/snapshot/remove')).toEqual([chainA[1]]);
    expect(chainA[0]).toBe(chainB[0]);
    expect((await berthd.client.get<{ equal: boolean }>('/v1/replay/check')).equal).toBe(true);
  });

  it('removing the last image empties the content store and the snapshots', async () => {
    const cli = await runCli(berthd.socket, ['rmi', '--json', second.images[0]!.configDigest.slice(7, 19)]);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)[0].removed).toBe(true);
    expect(await blobs()).toEqual([]);
    expect(await snapshotDirs()).toEqual([]);
    const state = await berthd.client.get<{ content: object; snapshots: object; images: object }>(
      '/v1/replay',
      {
        at: String((await berthd.client.get<{ events: { lastSeq: number } }>('/v1/info')).events.lastSeq),
      },
    );
    expect(state).toMatchObject({ content: {}, snapshots: {}, images: {} });
  });

  it('rmi of an unknown image is not_found, naming it', async () => {
    const cli = await runCli(berthd.socket, ['rmi', 'nothing-here:1']);
    expect(cli.code).toBe(3);
    expect(cli.stderr).toContain('nothing-here:1');
  });

  it('an image pulled again after rmi comes back whole', async () => {
    const again = await pullViaApi(berthd.client, `${reg.host}/test/first:first`);
    expect(again.error).toBeUndefined();
    expect(await snapshotDirs()).toHaveLength(2);
    expect((await berthd.client.get<{ equal: boolean }>('/v1/replay/check')).equal).toBe(true);
  });
});
