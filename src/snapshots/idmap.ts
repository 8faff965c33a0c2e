/**
 * Snapshot mounts seen through a user namespace's id mapping (user-namespaced pods, KEP-127).
 *
 * overlayfs cannot be idmapped itself, but it accepts idmapped layers: each lower layer is bound
 * through the pod's user namespace (berth-idmap-mount, idmap-mount.c), the overlay is mounted on
 * those, and the layer binds are detached again (overlayfs holds private clones of its layers).
 * The upper directory stays a plain directory owned by the id the container's root maps to, so
 * what the container writes is stored under its mapped ids and the image's layers are never
 * chowned or copied. A bind-mounted snapshot (native, or a one-layer view) is bound idmapped.
 */
import { chmod, chown, mkdir, readdir, rmdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FailedPreconditionError, errorMessage } from '../common/errors.js';
import { builtModule } from '../common/built-module.js';
import { execFile, execFileCapture } from '../common/exec.js';
import { hostIdOf, type IdMappings } from '../common/id-mappings.js';
import { MNT_DETACH, unmountSyscall } from '../common/mount-syscall.js';
import { mountAll, type Mount } from './mount.js';

export interface IdmapOptions {
  /** An nsfs file holding the user namespace whose mapping the mounts follow (a pod's pin). */
  usernsFile: string;
  mappings: IdMappings;
  /** An empty directory for the transient layer binds (made and removed here). */
  scratchDir: string;
}

/** The helper in dist/bin (built by scripts/build.mjs from idmap-mount.c). */
export function idmapHelperPath(): string {
  const found = builtModule(import.meta.url, '../../bin/berth-idmap-mount', 'src/snapshots');
  if (!found)
    throw new FailedPreconditionError(
      'the idmapped-mount helper dist/bin/berth-idmap-mount is not built: run npm run build',
    );
  return found;
}

/** Binds each `[source, target]` pair idmapped through `usernsFile`; all or none are made. */
export async function idmapBind(usernsFile: string, pairs: readonly [string, string][]): Promise<void> {
  const r = await execFileCapture(idmapHelperPath(), [usernsFile, ...pairs.flat()]);
  if (r.code !== 0)
    throw new FailedPreconditionError(
      `cannot make idmapped mounts for a user namespace: ${r.stderr.trim() || `exit ${r.code}`}`,
    );
}

/** Mounts a snapshot's mounts on `target` as the user namespace sees them (see the file comment). */
export async function mountAllIdmapped(
  mounts: readonly Mount[],
  target: string,
  opts: IdmapOptions,
): Promise<void> {
  const [first] = mounts;
  if (mounts.length !== 1 || !first)
    throw new FailedPreconditionError(
      `cannot idmap ${mounts.length} stacked mounts: one overlay or bind expected`,
    );
  if (first.type === 'overlay') return mountOverlayIdmapped(first, target, opts);
  if (first.type === 'bind' || first.options.includes('bind') || first.options.includes('rbind')) {
    await idmapBind(opts.usernsFile, [[first.source, target]]);
    if (first.options.includes('ro')) await execFile('mount', ['-o', 'remount,bind,ro', target]);
    return;
  }
  throw new FailedPreconditionError(
    `cannot idmap a ${first.type} mount: only overlay and bind layers can be`,
  );
}

async function mountOverlayIdmapped(overlay: Mount, target: string, opts: IdmapOptions): Promise<void> {
  const lowerOption = overlay.options.find((o) => o.startsWith('lowerdir='));
  if (!lowerOption) throw new FailedPreconditionError('overlay mount without lowerdir cannot be idmapped');
  const lowers = lowerOption.slice('lowerdir='.length).split(':');
  const upperOption = overlay.options.find((o) => o.startsWith('upperdir='));
  if (upperOption) await ownByMappedRoot(upperOption.slice('upperdir='.length), opts.mappings);

  await clearScratch(opts.scratchDir);
  const binds = lowers.map((_, i) => join(opts.scratchDir, String(i)));
  for (const b of binds) await mkdir(b, { recursive: true });
  try {
    await idmapBind(
      opts.usernsFile,
      lowers.map((l, i) => [l, binds[i] as string]),
    );
    const options = overlay.options.map((o) => (o === lowerOption ? `lowerdir=${binds.join(':')}` : o));
    await mountAll([{ ...overlay, options }], target);
  } finally {
    await clearScratch(opts.scratchDir);
  }
}

/**
 * Detaches and removes the layer binds (also those a crash left). Only empty directories are
 * removed (rmdir, never a recursive delete), so a bind still attached can never take the image
 * layer it shows with it.
 */
export async function clearScratch(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const binds = names.map((n) => join(dir, n));
  // Detached lazily, each on its own; one that is not mounted (any more) is simply not there.
  await Promise.all(binds.map((b) => unmountSyscall(b, MNT_DETACH).catch(() => undefined)));
  try {
    for (const b of binds) await rmdir(b);
    await rmdir(dir);
  } catch (err) {
    throw new FailedPreconditionError(`cannot remove the layer binds under ${dir}: ${errorMessage(err)}`);
  }
}

/** The upper directory's root is the rootfs root: owned by the ids the container's root maps to. */
async function ownByMappedRoot(upper: string, mappings: IdMappings): Promise<void> {
  const uid = hostIdOf(mappings.uids, 0);
  const gid = hostIdOf(mappings.gids, 0);
  if (uid === undefined || gid === undefined)
    throw new FailedPreconditionError('the user namespace maps no host id to the container root (uid/gid 0)');
  const st = await stat(upper);
  if (st.uid !== uid || st.gid !== gid) await chown(upper, uid, gid);
}

/**
 * The mapped root of a user-namespaced container must reach its rootfs: every directory above it
 * needs search permission for others. Directories under `ownedRoot` (berthd's state) get o+x
 * (never read); one above it without it is refused with the directory and the fix named, because
 * runc would fail later with a bare "permission denied".
 */
export async function ensureTraversable(target: string, ownedRoot: string): Promise<void> {
  const owned = ownedRoot.replace(/\/+$/, '');
  for (let dir = dirname(target); ; dir = dirname(dir)) {
    const st = await stat(dir);
    if ((st.mode & 0o001) === 0) {
      if (dir === owned || dir.startsWith(`${owned}/`)) await chmod(dir, (st.mode & 0o7777) | 0o001);
      else
        throw new FailedPreconditionError(
          `the root of a pod with its own user namespace cannot reach its rootfs ${target}: ${dir} has mode ${(st.mode & 0o7777).toString(8)} without search permission for others (give it o+x, e.g. 0711)`,
        );
    }
    if (dir === '/') return;
  }
}
