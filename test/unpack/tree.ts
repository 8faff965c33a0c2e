/** Test helper: a canonical description of a directory tree for comparing two unpackers' results. */
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { SysOps } from '../../src/unpack/sysops.js';

export interface TreeNode {
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  link?: string;
  rdev?: number;
  xattrs: Record<string, string>;
}

function typeOf(st: Stats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'other';
}

/** Walks `root` and describes every path (type, mode, owner, size, content hash, link target, device, xattrs). */
export async function describeTree(
  root: string,
  ignoreXattr: (name: string) => boolean = () => false,
): Promise<Record<string, TreeNode>> {
  const sys = new SysOps();
  const out: Record<string, TreeNode> = {};
  const visit = async (rel: string): Promise<void> => {
    const abs = rel === '' ? root : join(root, rel);
    const st = await lstat(abs);
    const xattrs: Record<string, string> = {};
    for (const name of (await sys.llistxattr(abs)).sort()) {
      if (!ignoreXattr(name)) xattrs[name] = (await sys.lgetxattr(abs, name)).toString('hex');
    }
    const node: TreeNode = {
      type: typeOf(st),
      mode: (st.mode & 0o7777).toString(8),
      uid: st.uid,
      gid: st.gid,
      xattrs,
    };
    if (st.isFile()) {
      node.size = st.size;
      node.sha256 = createHash('sha256')
        .update(await readFile(abs))
        .digest('hex');
    }
    if (st.isSymbolicLink()) node.link = await readlink(abs);
    if (st.isCharacterDevice() || st.isBlockDevice()) node.rdev = st.rdev;
    out[rel === '' ? '/' : rel] = node;
    if (st.isDirectory())
      for (const name of (await readdir(abs)).sort()) await visit(rel === '' ? name : `${rel}/${name}`);
  };
  try {
    await visit('');
  } finally {
    await sys.close();
  }
  return out;
}

/**
 * The hardlink groups of the tree at `root`: for every non-directory with more than one link, the
 * sorted relative paths inside the tree that share its inode. A group of one means the inode has
 * links that the tree does not show (for instance a lower layer's name hidden by an overlay copy-up).
 * Inode numbers differ between trees, so only the grouping is returned, sorted, for comparison.
 * Kept apart from describeTree: overlay and native legitimately differ here (see faithfulness.test.ts).
 */
export async function describeHardlinks(root: string): Promise<string[][]> {
  const byInode = new Map<string, string[]>();
  const visit = async (rel: string): Promise<void> => {
    const st = await lstat(rel === '' ? root : join(root, rel));
    if (st.isDirectory()) {
      for (const name of (await readdir(join(root, rel))).sort())
        await visit(rel === '' ? name : `${rel}/${name}`);
    } else if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      byInode.set(key, [...(byInode.get(key) ?? []), rel]);
    }
  };
  await visit('');
  return [...byInode.values()]
    .map((paths) => paths.sort())
    .sort((a, b) => (a[0] ?? '').localeCompare(b[0] ?? ''));
}
