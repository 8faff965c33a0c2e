/**
 * Found by the sandbox leak test: berthd killed while another sandbox's CNI cache entry was being
 * written leaves `<ifName>.json.tmp-<pid>`; forgetting the attachment must remove it too, or the
 * sandbox's cache dir outlives it — also when the crash came before the first entry existed, so
 * DEL finds nothing to undo (seed 882874561 left two such dirs).
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { AttachmentCache } from '../../src/network/cache.js';
import { CniNetwork } from '../../src/network/cni.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it('removing an attachment also removes a temp file a crash left, and the sandbox dir with it', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-cni-cache-'));
  dirs.push(dir);
  const cache = new AttachmentCache(dir);
  const id = 'a'.repeat(64);
  await mkdir(path.join(dir, id));
  await writeFile(path.join(dir, id, 'eth0.json'), '{}');
  await writeFile(path.join(dir, id, 'eth0.json.tmp-4242'), '{"partial":');
  await cache.remove(id, 'eth0');
  expect(await readdir(dir)).toEqual([]);
});

it('DEL of an attachment whose first write a crash cut short removes the temp file and the dir', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-cni-cache-'));
  dirs.push(dir);
  const cni = new CniNetwork({ cacheDir: dir, berthConfDir: path.join(dir, 'conf') });
  const id = 'b'.repeat(64);
  // No eth0.json: the crash came before the rename that would have made it.
  await mkdir(path.join(dir, id));
  await writeFile(path.join(dir, id, 'eth0.json.tmp-4242'), '{"partial":');
  await cni.del(id);
  expect(await readdir(dir)).toEqual([]);
});
