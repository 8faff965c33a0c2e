/**
 * diskUsage (src/snapshots/usage.ts) counts what containerd's walk counts: allocated blocks of
 * every entry, directories included, and inodes, a hard-linked inode once. Checked against a walk
 * of lstat calls written here as the reference, on a tree with hard links, symlinks, a FIFO, a
 * sparse file and nested folders.
 */
import { execFileSync } from 'node:child_process';
import { link, lstat, mkdir, mkdtemp, readdir, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskUsage, diskUsageOf } from '../../src/snapshots/usage.js';

async function referenceWalk(root: string): Promise<{ inodes: number; size: number }> {
  const seen = new Set<bigint>();
  let size = 0;
  const visit = async (path: string): Promise<void> => {
    const st = await lstat(path, { bigint: true });
    if (!seen.has(st.ino)) {
      seen.add(st.ino);
      size += Number(st.blocks) * 512;
    }
    if (st.isDirectory()) for (const name of await readdir(path)) await visit(join(path, name));
  };
  await visit(root);
  return { inodes: seen.size, size };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-usage-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('diskUsage', () => {
  it('counts blocks and inodes as a walk of lstat calls does, hard links once', async () => {
    const root = join(dir, 'tree');
    await mkdir(join(root, 'a/b/c'), { recursive: true });
    for (let i = 0; i < 50; i++) await writeFile(join(root, 'a/b', `f${i}`), 'x'.repeat(i * 300));
    await link(join(root, 'a/b/f49'), join(root, 'a/hard'));
    await link(join(root, 'a/b/f49'), join(root, 'a/b/c/hard2'));
    await symlink('b/f1', join(root, 'a/link'));
    await symlink('x'.repeat(200), join(root, 'a/long-link'));
    execFileSync('mkfifo', [join(root, 'a/fifo')]);
    await writeFile(join(root, 'sparse'), '');
    await truncate(join(root, 'sparse'), 10 * 1024 * 1024);
    const expected = await referenceWalk(root);
    expect(expected.inodes, 'root, 3 folders, 50 files, 2 symlinks, a FIFO, a sparse file').toBe(58);
    expect(await diskUsage(root)).toEqual(expected);
  });

  it('measures many folders in one pass as it measures each, leaving out missing ones', async () => {
    const roots = [0, 1, 2].map((i) => join(dir, `many-${i}`));
    for (const [i, root] of roots.entries()) {
      await mkdir(join(root, 'sub'), { recursive: true });
      for (let k = 0; k <= i; k++) await writeFile(join(root, 'sub', `f${k}`), 'y'.repeat(5000 * (k + 1)));
    }
    const odd = join(dir, 'a name\nwith a newline');
    await mkdir(odd);
    await writeFile(join(odd, 'f'), 'z');
    const missing = join(dir, 'missing-too');
    const all = await diskUsageOf([...roots, odd, missing, roots[0]!]);
    expect([...all.keys()].sort()).toEqual([...roots, odd].sort());
    for (const root of [...roots, odd]) expect(all.get(root)).toEqual(await referenceWalk(root));
    expect(all.get(roots[2]!)!.inodes).toBe(5);
  });

  it('refuses a missing folder as ENOENT, naming it', async () => {
    const missing = join(dir, 'missing');
    const err = (await diskUsage(missing).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toBe('ENOENT');
    expect(err.message).toContain(missing);
  });
});
