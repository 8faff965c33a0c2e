/**
 * Applies tar entries, one at a time and in order, onto a LayerView: files, directories,
 * symlinks, hardlinks, devices, FIFOs, OCI whiteouts and opaque markers, with owners, modes
 * (setuid/setgid/sticky included), xattrs and times. Every path goes through the view's
 * contained resolution first.
 *
 * The file system calls are synchronous: each is a page-cache operation of microseconds, and a
 * thread-pool round trip per call tripled the unpack of regular files, then left the daemon's
 * thread idle for about a third of a many-file pull through directories and symlinks (measured
 * in docs/benchmarks.md). Only recursive removal, rare, stays asynchronous.
 */
import {
  chmodSync,
  closeSync,
  constants as fsc,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Header } from 'tar-stream';
import { execFile } from '../common/exec.js';
import { currentUmask } from '../common/proc.js';
import { InvalidLayerEntryError, UnsafeLayerEntryError } from './errors.js';
import { entryXattrs } from './pax.js';
import type { SysOps } from './sysops.js';
import { lstatOrNull, type LayerView } from './view.js';

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
const PATH_MAX = 4096;
const NAME_MAX = 255;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const FILE_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;

function writeAll(fd: number, chunk: Buffer): void {
  let off = 0;
  while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
}

/**
 * Writes an entry's body to `fd` as it arrives. Event handlers rather than `for await`: the async
 * iterator cost about 8% of a many-file layer's unpack (2,500 entries, each its own iterator).
 */
function drainInto(fd: number, body: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    // Torn down while this entry waited its turn (the archive cut off): nothing more will come.
    if (body.destroyed) return reject(new Error('the entry ended before its data'));
    let ended = false;
    body.on('data', (chunk: Buffer) => {
      try {
        writeAll(fd, chunk);
      } catch (e) {
        body.destroy(e as Error);
        reject(e as Error);
      }
    });
    body.once('end', () => {
      ended = true;
      resolve();
    });
    body.once('error', reject);
    // A body torn down without an error (the archive cut off) must not leave this waiting.
    body.once('close', () => {
      if (!ended) reject(new Error('the entry ended before its data'));
    });
  });
}

interface Meta {
  uid: number;
  gid: number;
  mode: number;
  atime: number;
  mtime: number;
  xattrs: Map<string, Buffer>;
}

/** Splits and checks an entry name; returns its components with a leading "./" dropped. */
export function entryComponents(name: string): string[] {
  if (name.includes('\0')) throw new UnsafeLayerEntryError(name, 'its name contains a NUL byte');
  if (Buffer.byteLength(name) > PATH_MAX)
    throw new UnsafeLayerEntryError(name, `its name is longer than ${PATH_MAX} bytes`);
  if (name.startsWith('/')) throw new UnsafeLayerEntryError(name, 'its path is absolute');
  const parts = name.split('/').filter((c) => c !== '' && c !== '.');
  for (const c of parts) {
    if (Buffer.byteLength(c) > NAME_MAX)
      throw new UnsafeLayerEntryError(name, `a path component is longer than ${NAME_MAX} bytes`);
  }
  return parts;
}

function paxNumber(pax: Record<string, string> | null | undefined, key: string): number | undefined {
  const v = pax?.[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function metaOf(h: Header): Meta {
  const pax = h.pax as Record<string, string> | null | undefined;
  const mtime = paxNumber(pax, 'mtime') ?? (h.mtime ? h.mtime.getTime() / 1000 : 0);
  return {
    uid: paxNumber(pax, 'uid') ?? h.uid ?? 0,
    gid: paxNumber(pax, 'gid') ?? h.gid ?? 0,
    mode: (h.mode ?? 0o644) & 0o7777,
    atime: paxNumber(pax, 'atime') ?? mtime,
    mtime,
    xattrs: entryXattrs(pax),
  };
}

/** A device node a layer carried that was not created (see ApplyOptions.devices). */
export interface SkippedDevice {
  path: string;
  type: 'character-device' | 'block-device';
  major: number;
  minor: number;
}

/** Whether a layer's device nodes are created; overlay whiteouts (char 0/0) and FIFOs always are. */
export type DevicePolicy = 'create' | 'skip';

export class LayerWriter {
  entries = 0;
  /** Device nodes left out under the `skip` policy, in entry order. */
  readonly skippedDevices: SkippedDevice[] = [];
  private currentEntry = '';
  /** Mode bits open(2) would clear from a new file; all of them if unknown (then every file gets fchmod). */
  private readonly umask = currentUmask() ?? 0o7777;

  constructor(
    private readonly view: LayerView,
    private readonly sys: SysOps,
    private readonly devices: DevicePolicy = 'skip',
  ) {}

  async apply(h: Header, body: Readable): Promise<void> {
    this.entries++;
    const name = h.name;
    this.currentEntry = name;
    const parts = entryComponents(name);
    const base = parts[parts.length - 1];
    if (base === undefined || base === '..') {
      // "./" (the root itself) or ".../..": only a directory entry can name a directory this way.
      if (h.type !== 'directory')
        throw new InvalidLayerEntryError(name, 'it names a directory but is not one');
      const dir = await this.view.resolveDir(name, parts, true);
      await this.setMeta(this.view.abs(dir), metaOf(h), true);
      return;
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      // Nothing to hide under a directory that does not exist: do not create it.
      const dir = await this.view.resolveDir(name, parts.slice(0, -1), false).catch((e: unknown) => {
        if (e instanceof InvalidLayerEntryError) return null;
        throw e;
      });
      if (dir === null) return;
      const parent = await this.view.resolveDir(name, parts.slice(0, -1), true);
      if (base === OPAQUE_MARKER) return this.opaque(parent);
      return this.whiteout(name, parent, base.slice(WHITEOUT_PREFIX.length));
    }
    const parent = await this.view.resolveDir(name, parts.slice(0, -1), true);
    const rel = parent === '' ? base : `${parent}/${base}`;
    const meta = metaOf(h);
    switch (h.type) {
      case 'directory':
        return this.directory(rel, meta);
      case 'file':
      case 'contiguous-file':
        return this.file(rel, meta, body);
      case 'symlink':
        return this.symlink(name, rel, h.linkname ?? '', meta);
      case 'link':
        return this.hardlink(name, rel, h.linkname ?? '');
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const major = h.devmajor ?? 0;
        const minor = h.devminor ?? 0;
        const whiteout = h.type === 'character-device' && major === 0 && minor === 0;
        if (h.type !== 'fifo' && !whiteout && this.devices === 'skip') {
          // A device file from a registry would be a host device node (a /dev/mem clone, say)
          // sitting in the snapshot directory: left out, and named in the commit event.
          // The path still takes the entry's place: what a lower layer had there stays hidden.
          this.skippedDevices.push({ path: rel, type: h.type, major, minor });
          await this.replace(rel);
          if (this.view.mode === 'overlay' && (await this.view.existsBelow(parent, base)))
            await this.sys.mknod(this.view.abs(rel), S_IFCHR, 0, 0);
          return;
        }
        const kind = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR;
        await this.replace(rel);
        await this.sys.mknod(this.view.abs(rel), kind | meta.mode, major, minor);
        this.view.created.add(rel);
        return this.setMeta(this.view.abs(rel), meta, false);
      }
      default:
        throw new InvalidLayerEntryError(name, `entry type ${JSON.stringify(h.type)} is not supported`);
    }
  }

  /** Clears the way for a new non-directory entry at `rel` in the upper layer. */
  private async replace(rel: string): Promise<void> {
    const st = await this.view.removeUpper(rel);
    if (st?.isDirectory() || this.view.lowers.length > 0) this.view.forget(rel);
  }

  private async directory(rel: string, meta: Meta): Promise<void> {
    const abs = this.view.abs(rel);
    const st = lstatOrNull(abs);
    if (!st?.isDirectory()) {
      await this.view.removeUpper(rel);
      this.view.forget(rel);
      mkdirSync(abs);
      // Replacing anything this layer put there (a whiteout, a symlink, a file): that entry hid
      // the lower directory, so its content must stay hidden under the new one.
      if (st && this.view.mode === 'overlay') await this.view.setOpaque(rel);
    }
    this.view.created.add(rel);
    await this.setMeta(abs, meta, true);
  }

  /** Opens, fills and closes the file here: its body arrives between open and close. */
  private async file(rel: string, meta: Meta, body: Readable): Promise<void> {
    const abs = this.view.abs(rel);
    // Most files are root's with plain permission bits the umask leaves alone: open(2) then
    // creates them with their final mode and an fchmod per file is saved. Otherwise the mode is
    // set after the chown, which would clear setuid/setgid.
    const modeAtOpen = meta.uid === 0 && meta.gid === 0 && (meta.mode & (0o7000 | this.umask)) === 0;
    const createMode = modeAtOpen ? meta.mode : 0o600;
    let fd: number;
    try {
      fd = openSync(abs, FILE_FLAGS, createMode);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      await this.replace(rel);
      fd = openSync(abs, FILE_FLAGS, createMode);
    }
    if (this.view.lowers.length > 0) this.view.forget(rel); // it may hide a lower directory
    try {
      await drainInto(fd, body);
      if (!modeAtOpen) {
        if (meta.uid !== 0 || meta.gid !== 0) fchownSync(fd, meta.uid, meta.gid);
        fchmodSync(fd, meta.mode);
      }
      if (meta.xattrs.size > 0) await this.setXattrs(abs, meta);
      futimesSync(fd, meta.atime, meta.mtime);
    } finally {
      closeSync(fd);
    }
    this.view.created.add(rel);
  }

  private async symlink(entry: string, rel: string, target: string, meta: Meta): Promise<void> {
    if (target === '') throw new InvalidLayerEntryError(entry, 'symlink has an empty target');
    if (Buffer.byteLength(target) > PATH_MAX)
      throw new UnsafeLayerEntryError(entry, `symlink target is longer than ${PATH_MAX} bytes`);
    await this.replace(rel);
    // The target is stored as is: it is only ever followed through LayerView's contained resolution.
    symlinkSync(target, this.view.abs(rel));
    this.view.created.add(rel);
    await this.setMeta(this.view.abs(rel), meta, false, true);
  }

  private async hardlink(entry: string, rel: string, linkname: string): Promise<void> {
    let targetParts: string[];
    try {
      targetParts = entryComponents(linkname);
    } catch (e) {
      throw e instanceof UnsafeLayerEntryError
        ? new UnsafeLayerEntryError(entry, `hardlink target ${JSON.stringify(linkname)}: ${e.why}`)
        : e;
    }
    const tbase = targetParts[targetParts.length - 1];
    if (tbase === undefined || tbase === '..')
      throw new InvalidLayerEntryError(entry, `hardlink target ${JSON.stringify(linkname)} is a directory`);
    let tparent: string;
    try {
      tparent = await this.view.resolveDir(entry, targetParts.slice(0, -1), false);
    } catch (e) {
      if (e instanceof UnsafeLayerEntryError)
        throw new UnsafeLayerEntryError(entry, `hardlink target ${JSON.stringify(linkname)}: ${e.why}`);
      throw new InvalidLayerEntryError(entry, `hardlink target ${JSON.stringify(linkname)} does not exist`);
    }
    const trel = tparent === '' ? tbase : `${tparent}/${tbase}`;
    const found = await this.view.lookup(tparent, tbase);
    if (!found)
      throw new InvalidLayerEntryError(entry, `hardlink target ${JSON.stringify(linkname)} does not exist`);
    if (found.st.isDirectory())
      throw new InvalidLayerEntryError(entry, `hardlink target ${JSON.stringify(linkname)} is a directory`);
    if (trel === rel) throw new InvalidLayerEntryError(entry, 'hardlink to itself');
    if (found.layer !== this.view.upper) {
      // Overlay layers cannot share inodes: copy the lower file up first, as overlayfs would.
      await this.view.resolveDir(entry, targetParts.slice(0, -1), true);
      await execFile('cp', [
        '-a',
        '--preserve=all',
        '--no-target-directory',
        `${found.layer}/${trel}`,
        this.view.abs(trel),
      ]);
    }
    await this.replace(rel);
    linkSync(this.view.abs(trel), this.view.abs(rel));
    this.view.created.add(rel);
  }

  private async whiteout(entry: string, parent: string, name: string): Promise<void> {
    if (name === '' || name === '.' || name === '..')
      throw new UnsafeLayerEntryError(entry, 'whiteout of an invalid name');
    const rel = parent === '' ? name : `${parent}/${name}`;
    if (this.view.created.has(rel)) return; // a whiteout hides only lower layers' files
    // Overlay: a whiteout only where a lower layer shows something (in an opaque directory it would show itself).
    const needed = this.view.mode === 'overlay' && (await this.view.existsBelow(parent, name));
    // Entries this layer wrote below `rel` survive (as umoci does): only lower content is hidden.
    const st = lstatOrNull(this.view.abs(rel));
    if (st?.isDirectory() && (await this.prune(rel))) {
      if (this.view.mode === 'overlay') await this.opaqueTree(rel);
      this.view.forget(rel);
      return;
    }
    await this.view.removeUpper(rel);
    this.view.forget(rel);
    if (needed) await this.sys.mknod(this.view.abs(rel), S_IFCHR, 0, 0);
  }

  private async opaque(dir: string): Promise<void> {
    if (this.view.mode === 'overlay' && dir === '') return this.opaqueRoot();
    if (this.view.mode === 'overlay') return this.view.setOpaque(dir);
    await this.prune(dir);
    this.view.forget(dir);
  }

  /** Overlayfs ignores the opaque xattr on its root: hide each lower entry of the root one by one instead. */
  private async opaqueRoot(): Promise<void> {
    const names = new Set<string>();
    for (const layer of this.view.lowers) for (const name of readdirSync(layer)) names.add(name);
    for (const name of names) {
      if (this.view.created.has(name)) {
        if (lstatSync(this.view.abs(name)).isDirectory()) await this.view.setOpaque(name);
        continue;
      }
      if (!(await this.view.existsBelow('', name))) continue;
      await this.view.removeUpper(name);
      this.view.forget(name);
      await this.sys.mknod(this.view.abs(name), S_IFCHR, 0, 0);
    }
  }

  /** Makes `rel` and every directory below it in the upper layer opaque. */
  private async opaqueTree(rel: string): Promise<void> {
    await this.view.setOpaque(rel);
    for (const name of readdirSync(this.view.abs(rel))) {
      const child = `${rel}/${name}`;
      if (lstatSync(this.view.abs(child)).isDirectory()) await this.opaqueTree(child);
    }
  }

  /** Native opaque directory: deletes what lower layers put under `dir`, keeping this layer's entries. */
  private async prune(dir: string): Promise<boolean> {
    let kept = false;
    for (const name of readdirSync(this.view.abs(dir))) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      const st = lstatSync(this.view.abs(rel));
      const keepChildren = st.isDirectory() && (await this.prune(rel));
      if (this.view.created.has(rel) || keepChildren) kept = true;
      else await rm(this.view.abs(rel), { recursive: true, force: true });
    }
    return kept;
  }

  /** Owner, mode, xattrs, times; a directory's times wait until the layer is complete. */
  private async setMeta(abs: string, meta: Meta, isDir: boolean, isSymlink = false): Promise<void> {
    lchownSync(abs, meta.uid, meta.gid);
    if (!isSymlink) chmodSync(abs, meta.mode); // after chown, which clears setuid/setgid
    await this.setXattrs(abs, meta);
    if (isDir) this.view.deferred.push({ path: abs, atime: meta.atime, mtime: meta.mtime });
    else lutimesSync(abs, meta.atime, meta.mtime);
  }

  private async setXattrs(abs: string, meta: Meta): Promise<void> {
    for (const [name, value] of meta.xattrs) {
      try {
        await this.sys.lsetxattr(abs, name, value);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // The kernel refuses malformed values (security.capability), unknown namespaces and user.* on links.
        if (
          code === 'EINVAL' ||
          code === 'EOPNOTSUPP' ||
          code === 'ENOTSUP' ||
          code === 'EPERM' ||
          code === 'E2BIG' ||
          code === 'ERANGE'
        ) {
          throw new InvalidLayerEntryError(
            this.currentEntry,
            `xattr ${JSON.stringify(name)} cannot be set: ${code}`,
          );
        }
        throw e;
      }
    }
  }

  /** Sets the deferred directory times, deepest last-written first. */
  async finish(): Promise<void> {
    for (const d of [...this.view.deferred].reverse()) {
      try {
        lutimesSync(d.path, d.atime, d.mtime);
      } catch {
        // a directory a later entry replaced or deleted: nothing to set
      }
    }
  }
}
