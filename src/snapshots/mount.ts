/** Mount descriptions (as containerd's mount.Mount) and helpers applying them with mount(8)/umount(8). */
import { InvalidArgumentError } from '../common/errors.js';
import { execFile } from '../common/exec.js';
import { readFile } from 'node:fs/promises';

/**
 * One mount: `type` is the filesystem type (`overlay`, `bind`), `source` the device or directory,
 * `options` the mount(8) `-o` options (`ro`, `rbind`, `lowerdir=…`). Applying a list of mounts
 * in order to an empty directory produces a snapshot's tree.
 */
export interface Mount {
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

/** Mount options are comma-separated and overlay's lowerdir is colon-separated: such paths cannot be expressed. */
export function assertMountablePath(path: string): void {
  if (/[,:\n]/.test(path)) {
    throw new InvalidArgumentError(
      `path ${JSON.stringify(path)} contains ',' ':' or a newline and cannot be used in mount options`,
    );
  }
}

/** Mounts each of `mounts` on `target` in order. On failure, undoes the ones already made. */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  let done = 0;
  try {
    for (const m of mounts) {
      const isBind = m.type === 'bind' || m.options.includes('bind') || m.options.includes('rbind');
      const args = isBind
        ? [...bindArgs(m), m.source, target]
        : ['-t', m.type, '-o', m.options.join(','), m.source, target];
      await execFile('mount', args);
      done++;
    }
  } catch (err) {
    for (let i = 0; i < done; i++) await unmount(target).catch(() => undefined);
    throw err;
  }
}

function bindArgs(m: Mount): string[] {
  // util-linux turns "bind,ro" into a bind followed by a read-only remount.
  const opts = m.options.filter((o) => o !== 'bind' && o !== 'rbind');
  const bind = m.options.includes('rbind') ? 'rbind' : 'bind';
  return ['-o', [bind, ...opts].join(',')];
}

/** Unmounts `target` (one mount). */
export async function unmount(target: string): Promise<void> {
  await execFile('umount', [target]);
}

/** True if `target` is a mount point (per /proc/self/mountinfo). */
export async function isMountPoint(target: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const escaped = target.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return info.split('\n').some((line) => line.split(' ')[4] === escaped);
}
