// The device nodes an image layer carries: a pull through berthd leaves them out of the snapshot
// by default and names them in the layer's /snapshot/commit event; --allow-image-devices makes them.
import { lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BerthEvent } from '../../src/events/model.js';
import { startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { writeOciLayout } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { pullViaApi, registryConfigArgs } from './support.js';

let reg: TestRegistry;
let work: string;
let ref: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-images-devices-'));
  reg = await startRegistry();
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, 'devices', {
    layers: [
      {
        files: [
          { path: 'dev', type: 'directory' },
          // What a hostile image would carry: /dev/mem's numbers, and a disk.
          { path: 'dev/mem', type: 'character-device', device: { major: 1, minor: 1 }, mode: 0o666 },
          { path: 'dev/sda', type: 'block-device', device: { major: 8, minor: 0 }, mode: 0o666 },
          { path: 'etc/hostname', content: 'devices\n' },
        ],
      },
    ],
  });
  await reg.push(layout, 'devices', 'test/devices');
  ref = `${reg.host}/test/devices:devices`;
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Every character or block device under `dir` that is not an overlay whiteout (0/0), by path. */
async function hostDevices(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isCharacterDevice() && !e.isBlockDevice()) continue;
    const full = path.join(e.parentPath, e.name);
    if ((await lstat(full)).rdev !== 0) found.push(path.relative(dir, full));
  }
  return found.sort();
}

async function pullAndLook(berthd: RunningBerthd) {
  const pulled = await pullViaApi(berthd.client, ref);
  expect(pulled.error).toBeUndefined();
  const commits: BerthEvent[] = [];
  for await (const e of berthd.client.stream<BerthEvent>('/v1/audit', { topic: '/snapshot/commit' }))
    commits.push(e);
  expect(commits).toHaveLength(1); // one layer: one commit, or there is nothing to compare
  const snapshots = path.join(berthd.root, 'snapshots');
  expect((await readdir(snapshots)).length).toBeGreaterThan(0);
  return { commit: commits[0]!, devices: await hostDevices(snapshots) };
}

describe('device nodes in image layers', () => {
  it('are left out of the snapshot by default and named in the commit event', async () => {
    const berthd = await startBerthd({ args: await registryConfigArgs(work, [reg.host]) });
    try {
      const { commit, devices } = await pullAndLook(berthd);
      expect(devices).toEqual([]);
      expect(commit.data).toMatchObject({
        skippedDeviceCount: 2,
        skippedDevices: [
          { path: 'dev/mem', type: 'character-device', major: 1, minor: 1 },
          { path: 'dev/sda', type: 'block-device', major: 8, minor: 0 },
        ],
      });
    } finally {
      await berthd.stop();
      await berthd.cleanup();
    }
  }, 120_000);

  it('are created with --allow-image-devices', async () => {
    const berthd = await startBerthd({
      args: [...(await registryConfigArgs(work, [reg.host])), '--allow-image-devices'],
    });
    try {
      const { commit, devices } = await pullAndLook(berthd);
      expect(devices.map((d) => path.basename(d))).toEqual(['mem', 'sda']);
      expect(commit.data).not.toHaveProperty('skippedDevices');
    } finally {
      await berthd.stop();
      await berthd.cleanup();
    }
  }, 120_000);
});
