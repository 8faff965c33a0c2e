/**
 * Disk usage of a directory tree, as containerd computes it: allocated blocks (directories
 * included) and inodes, each hard-linked inode counted once. GNU du does the walk: on a
 * 27,000-entry image layer it takes about a fifth of the time a walk of `lstat` calls took in
 * Node, and its CPU is not berthd's thread's (each new snapshot is measured once for ImageFsInfo,
 * right after a pull). Its totals equal that walk's (compared on trees with hard links,
 * symlinks and FIFOs).
 */
import { execFileCapture } from '../common/exec.js';
import type { SnapshotUsage } from './snapshotter.js';

export async function diskUsage(root: string): Promise<SnapshotUsage> {
  const [size, inodes] = await Promise.all([du(root, '-B1'), du(root, '--inodes')]);
  return { inodes, size };
}

/** `du -s <unit> root`'s total; a missing root is ENOENT, as the fs calls would say. */
async function du(root: string, unit: string): Promise<number> {
  // The C locale: the missing-root check below reads du's English message.
  const r = await execFileCapture('du', ['-s', unit, '--', root], {
    env: { ...process.env, LC_ALL: 'C' },
    timeoutMs: 120_000,
  });
  const total = Number(/^(\d+)\t/.exec(r.stdout)?.[1]);
  if (r.code === 0 && Number.isFinite(total)) return total;
  const why = r.stderr.trim() || `exit ${r.code}`;
  const err: NodeJS.ErrnoException = new Error(`measuring the disk usage of ${root}: du: ${why}`);
  if (/No such file or directory/.test(why)) err.code = 'ENOENT';
  throw err;
}
