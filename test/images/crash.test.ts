/**
 * pullImage under the crash harness: berthd is SIGKILLed before and after every activity, restarted
 * on the same root, and the pull re-issued (it joins the workflow in flight). The pull completes
 * once: each blob is downloaded once, each event appears once, the projection equals a rebuild and
 * nothing stays mounted. A crash in the middle of a layer resumes that layer by Range.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainIds } from '../../src/snapshots/chainid.js';
import { openSnapshotter } from '../../src/snapshots/index.js';
import { startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { hostState, logConsistency, runThroughCrashes } from '../helpers/crash.js';
import { busyboxBinary, randomBytesSeeded, writeOciLayout, type BuiltLayout } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../registry/fault-proxy.js';
import { pullViaApi } from './support.js';

const boundaries = (...activities: string[]) => activities.flatMap((a) => [`${a}:before`, `${a}:after`]);
// pullUnpack runs only when the fetch step could not unpack every layer itself (it can here).
const PULL = boundaries('pullResolve', 'pullFetchLayers', 'pullRecord');

let reg: TestRegistry;
let proxy: FaultProxy;
let work: string;
let image: BuiltLayout;
let big: BuiltLayout;
const daemons: RunningBerthd[] = [];
const priorConfig = process.env.BERTH_CONFIG;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-pull-crash-'));
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.host);
  const layout = path.join(work, 'layout');
  image = await writeOciLayout(layout, 'crashy', {
    layers: [
      { files: [{ path: 'bin/busybox', content: await busyboxBinary(), mode: 0o755 }] },
      { files: [{ path: 'data', content: randomBytesSeeded(300_000, 31) }] },
    ],
  });
  big = await writeOciLayout(layout, 'big', {
    layers: [{ files: [{ path: 'blob', content: randomBytesSeeded(3_000_000, 32) }], compression: 'none' }],
  });
  await reg.push(layout, 'crashy', 'test/crashy');
  await reg.push(layout, 'big', 'test/big');
  // The harness restarts berthd with its own flags: the registry config reaches it through BERTH_CONFIG.
  const registries = path.join(work, 'registries.json');
  await writeFile(
    registries,
    JSON.stringify({
      hosts: { [reg.host]: { plainHttp: true }, [proxy.host]: { plainHttp: true } },
      // A pull fails (and a dead worker's fetch is retried) after 4 s without progress.
      stallTimeoutMs: 2_000,
    }),
  );
  const config = path.join(work, 'berthd.json');
  await writeFile(config, JSON.stringify({ 'registry-config': registries }));
  process.env.BERTH_CONFIG = config;
}, 180_000);

afterAll(async () => {
  for (const d of daemons) {
    await d.stop();
    await d.cleanup();
  }
  if (priorConfig === undefined) delete process.env.BERTH_CONFIG;
  else process.env.BERTH_CONFIG = priorConfig;
  await proxy?.close();
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('pullImage through crashes', () => {
  it('completes after a crash at every activity boundary, exactly once, without leaks', async () => {
    const ref = `${reg.host}/test/crashy:crashy`;
    const run = await runThroughCrashes(PULL, async (d) => {
      const out = await pullViaApi(d.client, ref);
      if (out.error) throw new Error(`${out.error.code}: ${out.error.message}`);
      return out.image!;
    });
    daemons.push(run.daemon);
    expect(run.crashes).toBe(PULL.length);
    const built = image.images[0]!;
    expect(run.result.target.digest).toBe(image.digest);
    expect(run.result.chainId).toBe(chainIds(built.layers.map((l) => l.diffId)).at(-1));
    // Completed blobs were never downloaded again.
    for (const d of [built.configDigest, ...built.layers.map((l) => l.digest)])
      expect(await reg.blobFetches(d)).toBe(1);

    const log = await logConsistency(run.daemon, 'pull:');
    expect(log.chain.ok).toBe(true);
    expect(log.projection).toEqual({ equal: true, differences: [] });
    const count = (line: string) => log.events.filter((e) => e === line).length;
    expect(count(`/images/create ${ref}`)).toBe(1);
    expect(log.events.filter((e) => e.startsWith('/images/'))).toHaveLength(1);
    for (const c of chainIds(built.layers.map((l) => l.diffId))) {
      expect(count(`/snapshot/prepare extract-${c}`)).toBe(1);
      expect(count(`/snapshot/commit extract-${c}`)).toBe(1);
    }
    for (const d of [image.digest, built.configDigest, ...built.layers.map((l) => l.digest)])
      expect(count(`/content/create ${d}`)).toBe(1);
    expect(hostState(run.daemon.root, run.daemon.state).mounts).toEqual([]);
  }, 600_000);

  it('a crash in the middle of a layer resumes it by Range after the restart', async () => {
    const layer = big.images[0]!.layers[0]!;
    // The first transfer stops after 2.5 MB: the daemon is killed while it waits for more. The
    // content store writes in 1 MiB batches, so at least 1 MiB of it is in the ingest by then.
    const cut = 2_500_000;
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/blobs/${layer.digest}$`),
      action: { kind: 'stall', afterBytes: cut },
    });
    const first = await startBerthd();
    const ref = `${proxy.host}/test/big:big`;
    const pulling = pullViaApi(first.client, ref);
    while (proxy.bytesServed(layer.digest) < cut) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300)); // let the bytes in flight land
    first.proc.kill('SIGKILL');
    await first.stop();
    await pulling;
    const again = await startBerthd({ root: first.root, state: first.state, nodeId: first.nodeId });
    daemons.push(again);
    const out = await pullViaApi(again.client, ref);
    expect(out.error).toBeUndefined();
    expect(out.image?.target.digest).toBe(big.digest);
    const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(layer.digest));
    expect(gets).toHaveLength(2);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThanOrEqual(1024 * 1024);
    expect(proxy.bytesServed(layer.digest)).toBe(cut + layer.size - resumedAt);
    expect((await logConsistency(again, 'pull:')).projection.equal).toBe(true);
  }, 300_000);

  it('inside the unpack: crashed with a layer applied but not committed, mid-commit, and committed but not recorded', async () => {
    const ref = `${reg.host}/test/crashy:crashy`;
    const inside = ['unpack:applied', 'snapshot:commit-written', 'unpack:committed'];
    const run = await runThroughCrashes(inside, async (d) => {
      const out = await pullViaApi(d.client, ref);
      if (out.error) throw new Error(`${out.error.code}: ${out.error.message}`);
      return out.image!;
    });
    daemons.push(run.daemon);
    expect(run.crashes).toBe(inside.length);
    const chains = chainIds(image.images[0]!.layers.map((l) => l.diffId));
    expect(run.result.chainId).toBe(chains.at(-1));
    const log = await logConsistency(run.daemon, 'pull:');
    expect(log.chain.ok).toBe(true);
    expect(log.projection).toEqual({ equal: true, differences: [] });
    const count = (line: string) => log.events.filter((e) => e === line).length;
    for (const c of chains) {
      expect(count(`/snapshot/prepare extract-${c}`)).toBe(1);
      expect(count(`/snapshot/commit extract-${c}`)).toBe(1);
    }
    expect(hostState(run.daemon.root, run.daemon.state).mounts).toEqual([]);
    // On disk: the chain's snapshots, committed; the applied-but-uncommitted extraction was
    // removed at the restart, not left beside them.
    await run.daemon.stop();
    const sn = await openSnapshotter('overlayfs', path.join(run.daemon.root, 'snapshots', 'overlayfs'));
    const onDisk: string[] = [];
    await sn.walk((info) => void onDisk.push(`${info.kind} ${info.name}`));
    await sn.flush();
    expect(onDisk.sort()).toEqual(chains.map((c) => `committed ${c}`).sort());
  }, 600_000);

  it('inside the collection: crashed after removing content and snapshots, before recording it', async () => {
    const ref = `${reg.host}/test/crashy:crashy`;
    // Armed from the start: the pull collects nothing, the removal's collection crashes.
    const first = await startBerthd({ env: { BERTH_TEST_HOOKS: '1', BERTH_TEST_CRASH_AT: 'gc:removed' } });
    const pulled = await pullViaApi(first.client, ref);
    expect(pulled.error).toBeUndefined();
    // Re-issued after the restart, the removal finds the image already gone (recorded before the
    // collection): not found is its answer, and the resumed workflow finishes the collection.
    const run = await runThroughCrashes(
      ['gc:removed'],
      (d) =>
        d.client.delete(`/v1/images/${encodeURIComponent(ref)}`).catch((err: { code?: string }) => {
          if (err.code !== 'not_found') throw err;
        }),
      first,
    );
    daemons.push(run.daemon);
    expect(run.crashes).toBe(1);
    const built = image.images[0]!;
    const blobs = [image.digest, built.configDigest, ...built.layers.map((l) => l.digest)];
    const deletes = async () =>
      (await logConsistency(run.daemon, '')).events.filter((e) => e.startsWith('/content/delete ')).length;
    await expect.poll(deletes, { timeout: 120_000 }).toBe(blobs.length);
    const log = await logConsistency(run.daemon, 'image-remove:');
    expect(log.chain.ok).toBe(true);
    expect(log.projection).toEqual({ equal: true, differences: [] });
    const all = (await logConsistency(run.daemon, '')).events;
    for (const d of blobs) expect(all.filter((e) => e === `/content/delete ${d}`)).toHaveLength(1);
    for (const c of chainIds(built.layers.map((l) => l.diffId)))
      expect(all.filter((e) => e === `/snapshot/remove ${c}`)).toHaveLength(1);
    expect(await run.daemon.client.get<unknown[]>('/v1/images')).toEqual([]);
  }, 600_000);
});
