/**
 * mount(2) and umount2(2) through the Node-API addon built from mount-syscall.c, on libuv's thread
 * pool. mount(8) and umount(8) cost a process start each (about 12 ms here, against about 1 ms for
 * the system call), and berthd mounts and unmounts a rootfs for every container. Options are
 * split the way mount(8) splits them: the words it turns into flags become flags, the rest is the
 * filesystem's data (overlay's lowerdir=…); a read-only bind is a bind and then a read-only
 * remount, as mount(8) makes it.
 */
import { createRequire } from 'node:module';
import { builtModule } from './built-module.js';

interface Addon {
  mount(source: string, target: string, fstype: string, flags: number, data: string): Promise<void>;
  unmount(target: string, flags: number): Promise<void>;
}

const MS_RDONLY = 0x1;
const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_NOEXEC = 0x8;
const MS_SYNCHRONOUS = 0x10;
const MS_REMOUNT = 0x20;
const MS_DIRSYNC = 0x80;
const MS_NOATIME = 0x400;
const MS_NODIRATIME = 0x800;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_UNBINDABLE = 0x20000;
const MS_PRIVATE = 0x40000;
const MS_SLAVE = 0x80000;
const MS_SHARED = 0x100000;
const MS_RELATIME = 0x200000;
const MS_STRICTATIME = 0x1000000;
/** umount2: detach now, finish when no longer busy (umount --lazy). */
export const MNT_DETACH = 0x2;

/** The option words mount(8) turns into flags: [flags set, flags cleared]. */
const FLAG_WORDS: Record<string, [number, number]> = {
  defaults: [0, 0],
  ro: [MS_RDONLY, 0],
  rw: [0, MS_RDONLY],
  nosuid: [MS_NOSUID, 0],
  suid: [0, MS_NOSUID],
  nodev: [MS_NODEV, 0],
  dev: [0, MS_NODEV],
  noexec: [MS_NOEXEC, 0],
  exec: [0, MS_NOEXEC],
  sync: [MS_SYNCHRONOUS, 0],
  async: [0, MS_SYNCHRONOUS],
  dirsync: [MS_DIRSYNC, 0],
  noatime: [MS_NOATIME, 0],
  atime: [0, MS_NOATIME],
  nodiratime: [MS_NODIRATIME, 0],
  diratime: [0, MS_NODIRATIME],
  relatime: [MS_RELATIME, 0],
  strictatime: [MS_STRICTATIME, 0],
  bind: [MS_BIND, 0],
  rbind: [MS_BIND | MS_REC, 0],
};

/** Propagation words: mount(8) applies each with a call of its own after the mount. */
const PROPAGATION_WORDS: Record<string, number> = {
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
};

/** A mount's options split as mount(8) splits them. */
export interface MountCall {
  flags: number;
  /** What goes to the filesystem, comma-joined ('' for none). */
  data: string;
  propagation: number[];
}

export function splitMountOptions(options: readonly string[]): MountCall {
  let flags = 0;
  const data: string[] = [];
  const propagation: number[] = [];
  for (const option of options) {
    const flag = FLAG_WORDS[option];
    const spread = PROPAGATION_WORDS[option];
    if (flag) flags = (flags | flag[0]) & ~flag[1];
    else if (spread !== undefined) propagation.push(spread);
    // x-… options are for userspace tools (mount(8) keeps them out of the kernel's data too).
    else if (!option.startsWith('x-')) data.push(option);
  }
  return { flags, data: data.join(','), propagation };
}

let addon: Addon | undefined;

function loadAddon(): Addon {
  if (addon) return addon;
  const path = builtModule(import.meta.url, '../../bin/mount-syscall.node', 'src/common');
  if (!path) throw new Error('the mount addon dist/bin/mount-syscall.node is not built: run npm run build');
  addon = createRequire(import.meta.url)(path) as Addon;
  return addon;
}

/**
 * Mounts `source` on `target` as mount(8) would with `-t fstype -o options` (a bind when the
 * options say bind or rbind). Rejects with the errno's name as `code` and the call in the message.
 */
export async function mountSyscall(
  source: string,
  target: string,
  fstype: string,
  options: readonly string[],
): Promise<void> {
  const { mount } = loadAddon();
  const { flags, data, propagation } = splitMountOptions(options);
  if (flags & MS_BIND) {
    // A bind ignores every flag but MS_REC; the others take a remount of the bind.
    await mount(source, target, '', flags & (MS_BIND | MS_REC), '');
    const rest = flags & ~(MS_BIND | MS_REC);
    if (rest !== 0) await mount('', target, '', MS_REMOUNT | MS_BIND | rest, '');
  } else await mount(source, target, fstype, flags, data);
  for (const spread of propagation) await mount('', target, '', spread, '');
}

/** Unmounts `target` (umount2; `flags` e.g. MNT_DETACH). Rejects as mountSyscall does. */
export async function unmountSyscall(target: string, flags = 0): Promise<void> {
  await loadAddon().unmount(target, flags);
}
