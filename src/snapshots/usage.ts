/** Disk usage of a directory tree, as containerd computes it: allocated blocks, hardlinks counted once. */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotUsage } from './snapshotter.js';

export async function diskUsage(root: string): Promise<SnapshotUsage> {
  const seen = new Set<bigint>();
  let size = 0;
  let inodes = 0;
  const visit = async (path: string): Promise<void> => {
    const st = await lstat(path, { bigint: true });
    if (!seen.has(st.ino)) {
      seen.add(st.ino);
      inodes++;
      size += Number(st.blocks) * 512;
    }
    if (st.isDirectory()) {
      for (const name of await readdir(path)) await visit(join(path, name));
    }
  };
  await visit(root);
  return { inodes, size };
}
