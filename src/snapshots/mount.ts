/** Mount descriptions (as containerd's mount.Mount) and helpers applying them with mount(2)/umount2(2). */
import { InvalidArgumentError } from '../common/errors.js';
import { mountSyscall, unmountSyscall } from '../common/mount-syscall.js';
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
      // Type bind without bind or rbind among the options is a plain bind, as mount(8) makes it.
      const named = m.options.includes('bind') || m.options.includes('rbind');
      const options = isBind && !named ? ['bind', ...m.options] : m.options;
      await mountSyscall(m.source, target, isBind ? '' : m.type, options);
      done++;
    }
  } catch (err) {
    for (let i = 0; i < done; i++) await unmount(target).catch(() => undefined);
    throw err;
  }
}

/** Unmounts `target` (one mount). */
export async function unmount(target: string): Promise<void> {
  await unmountSyscall(target);
}

/** True if `target` is a mount point (per /proc/self/mountinfo). */
export async function isMountPoint(target: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const escaped = target.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return info.split('\n').some((line) => line.split(' ')[4] === escaped);
}
