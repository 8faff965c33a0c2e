/**
 * The tree a layer is applied onto, seen the way the container will see it: the snapshot's
 * own directory (`upper`) over its parents' layers (`lowers`, overlay mode only), with overlay
 * whiteouts (char 0/0) and opaque directories (`trusted.overlay.opaque=y`) hiding lower content.
 *
 * Path resolution follows openat2's RESOLVE_IN_ROOT: component by component with lstat, a
 * symlink's target resolved against the root when absolute and against its directory when
 * relative, whichever layer planted it. A `..` that would climb above the root, or too many
 * symlinks, refuses the entry (UnsafeLayerEntryError) instead of being clamped: no legitimate
 * layer needs that to unpack, and a hostile one is better refused loudly. The resolved path
 * names only real directories, so the write that follows cannot leave the root: the snapshot
 * is private to the unpacker until committed (single writer), so nothing can swap a directory
 * for a symlink between resolution and write (see docs/adr/0001-unpack-containment.md).
 */
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  rmSync,
  type Stats,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidLayerEntryError, UnsafeLayerEntryError } from './errors.js';
import type { SysOps } from './sysops.js';

export type ApplyMode = 'overlay' | 'native';

const MAX_SYMLINKS = 40;
export const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** A directory whose mtime/atime is set once the layer is fully written (writing inside it changes them). */
export interface DeferredTimes {
  path: string;
  atime: number;
  mtime: number;
}

interface Found {
  /** The layer root holding the entry. */
  layer: string;
  st: Stats;
}

export function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/**
 * Synchronous, as every metadata call of the unpack: each is microseconds of page-cache work,
 * while a thread-pool round trip per call left the daemon's thread idle about a third of the
 * unpack (docs/benchmarks.md, cold pull).
 */
export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw e;
  }
}

export class LayerView {
  /** Resolved directory path (relative, '' for root) → layer roots contributing to it, top first. */
  private readonly dirs = new Map<string, string[]>();
  /** Directories made opaque in the upper layer while applying this layer. */
  readonly opaque = new Set<string>();
  readonly deferred: DeferredTimes[] = [];
  /** Paths (resolved) this layer wrote, missing parents it made included: whiteouts only hide lower layers' files. */
  readonly created = new Set<string>();

  constructor(
    readonly upper: string,
    readonly lowers: readonly string[],
    readonly mode: ApplyMode,
    private readonly sys: SysOps,
  ) {
    this.dirs.set('', [upper, ...lowers]);
  }

  abs(rel: string): string {
    return rel === '' ? this.upper : join(this.upper, rel);
  }

  /** Forgets what is known of `rel` and everything under it (it was replaced or deleted). */
  forget(rel: string): void {
    // Stacks are only ever computed through their parent's, so nothing under an unknown path is known.
    if (!this.dirs.has(rel)) return;
    this.dirs.delete(rel);
    const prefix = rel === '' ? '' : rel + '/';
    for (const key of this.dirs.keys()) if (key.startsWith(prefix) && key !== '') this.dirs.delete(key);
    if (rel === '') this.dirs.set('', [this.upper]);
  }

  /** The upper directory `rel` became opaque: lower layers no longer contribute below it. */
  markOpaque(rel: string): void {
    this.forget(rel);
    this.opaque.add(rel);
    this.dirs.set(rel, [this.upper]);
  }

  /** Looks `name` up in the directory `parent` (resolved) of the merged view, without following a final symlink. */
  async lookup(parent: string, name: string): Promise<Found | null> {
    const stack = await this.stackOf(parent);
    const rel = parent === '' ? name : `${parent}/${name}`;
    for (const layer of stack) {
      const st = lstatOrNull(join(layer, rel));
      if (!st) continue;
      if (this.mode === 'overlay' && isWhiteout(st)) return null;
      return { layer, st };
    }
    return null;
  }

  /** Layers contributing to directory `rel` (already resolved: every component a directory). */
  private async stackOf(rel: string): Promise<string[]> {
    const known = this.dirs.get(rel);
    if (known) return known;
    const cut = rel.lastIndexOf('/');
    const parent = cut < 0 ? '' : rel.slice(0, cut);
    const name = rel.slice(cut + 1);
    const parentStack = await this.stackOf(parent);
    const stack: string[] = [];
    for (const layer of parentStack) {
      const st = lstatOrNull(join(layer, rel));
      if (!st) continue;
      if (!st.isDirectory()) break; // a whiteout or non-directory hides everything below
      stack.push(layer);
      if (this.mode === 'overlay' && (await this.isOpaque(layer, rel))) break;
    }
    if (stack.length === 0)
      throw new Error(`internal: ${JSON.stringify(name)} under ${JSON.stringify(parent)} is not a directory`);
    this.dirs.set(rel, stack);
    return stack;
  }

  private async isOpaque(layer: string, rel: string): Promise<boolean> {
    if (layer === this.upper) return this.opaque.has(rel);
    try {
      return (await this.sys.lgetxattr(join(layer, rel), OPAQUE_XATTR)).toString() === 'y';
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENODATA') return false;
      throw e;
    }
  }

  /**
   * Resolves the directory components of an entry path in root (RESOLVE_IN_ROOT), following
   * symlinks from any layer, and returns the canonical relative directory. With `create`, missing
   * directories are made (0755 root, as tar does) and directories of lower layers are copied
   * up into the upper layer, so the caller can write there.
   */
  async resolveDir(entry: string, components: readonly string[], create: boolean): Promise<string> {
    const cur: string[] = [];
    const pending = [...components];
    let hops = 0;
    while (pending.length > 0) {
      const c = pending.shift() as string;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (cur.length === 0)
          throw new UnsafeLayerEntryError(entry, 'its path climbs above the root of the layer');
        cur.pop();
        continue;
      }
      const parent = cur.join('/');
      const rel = parent === '' ? c : `${parent}/${c}`;
      if (this.dirs.has(rel)) {
        cur.push(c);
        continue;
      }
      const found = await this.lookup(parent, c);
      if (!found) {
        if (!create)
          throw new InvalidLayerEntryError(entry, `directory ${JSON.stringify(rel)} does not exist`);
        await this.ensureUpper(cur);
        await this.removeUpper(rel);
        mkdirSync(this.abs(rel), { mode: 0o755 });
        chmodSync(this.abs(rel), 0o755);
        // A directory made where a lower one was deleted must not show the deleted content.
        if (this.mode === 'overlay' && this.lowers.length > 0) await this.setOpaque(rel);
        this.dirs.set(rel, [this.upper]);
        this.created.add(rel);
        cur.push(c);
        continue;
      }
      if (found.st.isSymbolicLink()) {
        if (++hops > MAX_SYMLINKS)
          throw new UnsafeLayerEntryError(
            entry,
            `more than ${MAX_SYMLINKS} symlinks while resolving its path`,
          );
        const target = readlinkSync(join(found.layer, rel));
        if (target.startsWith('/')) cur.length = 0;
        pending.unshift(...target.split('/'));
        continue;
      }
      if (!found.st.isDirectory())
        throw new InvalidLayerEntryError(entry, `${JSON.stringify(rel)} is not a directory`);
      // Remember it, so later entries below it skip the lstat: every entry that replaces or
      // deletes a path calls forget() on it, which drops this and everything under it.
      if (this.lowers.length === 0) this.dirs.set(rel, [this.upper]);
      else await this.stackOf(rel);
      cur.push(c);
    }
    if (create) await this.ensureUpper(cur);
    return cur.join('/');
  }

  /** Makes the upper layer hold every directory of `components` (copy-up of lower directories, metadata kept). */
  private async ensureUpper(components: readonly string[]): Promise<void> {
    if (this.lowers.length === 0) return;
    for (let i = 1; i <= components.length; i++) {
      const rel = components.slice(0, i).join('/');
      const stack = await this.stackOf(rel);
      if (stack[0] === this.upper) continue;
      const from = join(stack[0] as string, rel);
      const st = lstatSync(from);
      await this.removeUpper(rel);
      mkdirSync(this.abs(rel));
      chownSync(this.abs(rel), st.uid, st.gid);
      chmodSync(this.abs(rel), st.mode & 0o7777);
      for (const name of await this.sys.llistxattr(from)) {
        if (name === OPAQUE_XATTR) continue;
        await this.sys.lsetxattr(this.abs(rel), name, await this.sys.lgetxattr(from, name));
      }
      this.deferred.push({ path: this.abs(rel), atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 });
      this.dirs.set(rel, [this.upper, ...stack]);
    }
  }

  /** Removes whatever the upper layer has at `rel` (a whiteout, a file, a directory tree). */
  async removeUpper(rel: string): Promise<Stats | null> {
    const st = lstatOrNull(this.abs(rel));
    if (st) await rm(this.abs(rel), { recursive: true, force: true });
    return st;
  }

  /** Makes upper directory `rel` opaque. Whiteouts inside it are dropped: an opaque directory is read as is, so they would show. */
  async setOpaque(rel: string): Promise<void> {
    await this.sys.lsetxattr(this.abs(rel), OPAQUE_XATTR, Buffer.from('y'));
    for (const name of readdirSync(this.abs(rel))) {
      const path = join(this.abs(rel), name);
      if (isWhiteout(lstatSync(path))) rmSync(path);
    }
    this.markOpaque(rel);
  }

  /** True if a layer below the upper one shows something at `name` in resolved directory `parent`. */
  async existsBelow(parent: string, name: string): Promise<boolean> {
    const rel = parent === '' ? name : `${parent}/${name}`;
    for (const layer of await this.stackOf(parent)) {
      if (layer === this.upper) continue;
      const st = lstatOrNull(join(layer, rel));
      if (st) return !isWhiteout(st);
    }
    return false;
  }
}
