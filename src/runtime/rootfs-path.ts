/**
 * Path resolution inside a container root filesystem that never leaves it: symlinks planted by an image
 * (absolute or with `..`) are resolved as if the rootfs were `/`, the way chroot would see them.
 */
import { lstat, readFile, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';

const MAX_SYMLINKS = 40;

/** The host path that `path` (absolute, in-container) names under `root`; missing components are kept as-is. */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  const pending = path.split('/').filter((c) => c !== '' && c !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = join(root, ...resolved, part);
    let isLink = false;
    try {
      isLink = (await lstat(candidate)).isSymbolicLink();
    } catch {
      // Missing: nothing below it can be a symlink, keep the name as-is.
      resolved.push(part);
      continue;
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new Error(`too many symlinks resolving ${path} in ${root}`);
    const target = await readlink(candidate);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
  }
  return join(root, posix.normalize(`/${resolved.join('/')}`));
}

/** Reads a file inside the rootfs (contained), or returns '' when it does not exist. */
export async function readInRoot(root: string, path: string): Promise<string> {
  try {
    return await readFile(await resolveInRoot(root, path), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}
