/**
 * Reading the mount table and unmounting (umount2 through the mount addon): shared by namespace
 * pinning and the sandbox tests' leak checks.
 */
import { readFile } from 'node:fs/promises';
import { unmountSyscall } from '../common/mount-syscall.js';

/** One line of /proc/self/mountinfo, reduced to what Berth needs. */
export interface MountEntry {
  /** Where the mount is attached, with mountinfo's octal escapes decoded. */
  mountPoint: string;
  /** Filesystem type, e.g. `nsfs`, `overlay`, `ext4`. */
  fsType: string;
  /** Optional fields such as `shared:12` or `master:3`; empty for a private mount. */
  propagation: string[];
  /** Per-superblock options; for cgroup v1 these name the controllers (`cpu`, `name=systemd`). */
  superOptions: string[];
}

function decodeMountPath(raw: string): string {
  return raw.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses the calling process's mount table. */
export async function readMounts(): Promise<MountEntry[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** Parses the text of a /proc/<pid>/mountinfo. */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const mountPoint = left[4];
    const fsType = right[0];
    if (mountPoint === undefined || fsType === undefined) continue;
    entries.push({
      mountPoint: decodeMountPath(mountPoint),
      fsType,
      propagation: left.slice(6),
      superOptions: (right[2] ?? '').split(','),
    });
  }
  return entries;
}

/** Mount points at or below `dir`, deepest first (the order to unmount them in). */
export async function mountsUnder(dir: string): Promise<MountEntry[]> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const all = await readMounts();
  return all
    .filter((m) => m.mountPoint === dir || m.mountPoint.startsWith(prefix))
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length);
}

/** True when `path` is itself a mount point. */
export async function isMountPoint(path: string): Promise<boolean> {
  const all = await readMounts();
  return all.some((m) => m.mountPoint === path);
}

/**
 * Unmounts `path` until it is no longer a mount point (a path can be stacked several times).
 * Succeeds when nothing is mounted there, so callers can use it idempotently.
 */
export async function unmountAll(path: string): Promise<void> {
  for (let i = 0; i < 16 && (await isMountPoint(path)); i++) {
    const failed = await unmountSyscall(path).then(
      () => undefined,
      (err: Error) => err,
    );
    if (failed && (await isMountPoint(path))) throw failed;
  }
}
