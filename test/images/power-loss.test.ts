/**
 * A power loss before the sync behind an unpack, simulated on disk: berthd is stopped, and its
 * committed snapshots' labels are rewritten to name another boot that no sync covered (what a
 * machine going down between the commit and the sync leaves). At its next start berthd drops
 * them, records their removal, and the next pull unpacks the image again from the content store
 * without downloading anything.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BerthEvent } from '../../src/events/index.js';
import { UNSYNCED_LABEL } from '../../src/snapshots/sync-behind.js';
import { startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { randomBytesSeeded, writeOciLayout, type BuiltLayout } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { pullViaApi, registryConfigArgs } from './support.js';

let reg: TestRegistry;
let work: string;
let image: BuiltLayout;
const daemons: RunningBerthd[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-power-loss-'));
  reg = await startRegistry();
  const layout = path.join(work, 'layout');
  image = await writeOciLayout(layout, 'lossy', {
    layers: [
      { files: [{ path: 'base', content: randomBytesSeeded(200_000, 41) }] },
      { files: [{ path: 'top', content: randomBytesSeeded(100_000, 42) }] },
    ],
  });
  await reg.push(layout, 'lossy', 'test/lossy');
}, 180_000);

afterAll(async () => {
  for (const d of daemons) {
    await d.stop();
    await d.cleanup();
  }
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

async function events(d: RunningBerthd): Promise<BerthEvent[]> {
  const out: BerthEvent[] = [];
  for await (const e of d.client.stream<BerthEvent>('/v1/events', {})) out.push(e);
  return out;
}

/** What a machine going down before the sync leaves: commits labelled by a boot no sync covered. */
async function loseTheSync(root: string): Promise<string[]> {
  const store = path.join(root, 'snapshots', 'overlayfs');
  const committed: string[] = [];
  for (const file of await readdir(path.join(store, 'metadata'))) {
    const p = path.join(store, 'metadata', file);
    const rec = JSON.parse(await readFile(p, 'utf8')) as {
      name: string;
      kind: string;
      labels: Record<string, string>;
    };
    if (rec.kind !== 'committed') continue;
    rec.labels[UNSYNCED_LABEL] = '00000000-0000-4000-8000-00000000dead:7';
    await writeFile(p, JSON.stringify(rec) + '\n');
    committed.push(rec.name);
  }
  await rm(path.join(store, 'synced'), { force: true });
  return committed.sort();
}

describe('a power loss before the sync behind an unpack', () => {
  it('drops the torn snapshots at start, records it, and the next pull unpacks again without downloading', async () => {
    const ref = `${reg.host}/test/lossy:lossy`;
    const args = await registryConfigArgs(work, [reg.host]);
    const first = await startBerthd({ args });
    daemons.push(first);
    const pulled = await pullViaApi(first.client, ref);
    expect(pulled.error).toBeUndefined();
    await first.stop();
    const chains = await loseTheSync(first.root);
    expect(chains).toHaveLength(2);

    const second = await startBerthd({ root: first.root, state: first.state, nodeId: first.nodeId, args });
    daemons.push(second);
    expect(second.output()).toMatch(/reached the disk: dropped/);
    const removals = (await events(second)).filter(
      (e) => e.topic === '/snapshot/remove' && e.cause.kind === 'reconciler',
    );
    expect(removals.map((e) => (e.data as { key: string }).key).sort()).toEqual(chains);

    const fetchesBefore = await Promise.all(image.images[0]!.layers.map((l) => reg.blobFetches(l.digest)));
    const again = await pullViaApi(second.client, ref);
    expect(again.error).toBeUndefined();
    expect(again.image?.chainId).toBe(pulled.image?.chainId);
    // From the content store: no layer is downloaded again.
    expect(await Promise.all(image.images[0]!.layers.map((l) => reg.blobFetches(l.digest)))).toEqual(
      fetchesBefore,
    );
    const commits = (await events(second)).filter(
      (e) => e.topic === '/snapshot/commit' && e.seq > Math.max(...removals.map((r) => r.seq)),
    );
    expect(commits.map((e) => (e.data as { name: string }).name).sort()).toEqual(chains);
  }, 180_000);
});
