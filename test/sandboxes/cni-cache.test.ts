/**
 * Found by the sandbox leak test: berthd killed while another sandbox's CNI cache entry was being
 * written leaves `<ifName>.json.tmp-<pid>`; forgetting the attachment must remove it too, or the
 * sandbox's cache dir outlives it.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { AttachmentCache } from '../../src/network/cache.js';

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
