/**
 * Image volumes (KEP-4639) of a container: a read-only snapshot view of each volume's image,
 * mounted in the container's folder (`image-volumes/<index>`) and bound into the container, whole
 * or by sub path. Every part is idempotent, like the rest of container create and remove; a
 * view's folder exists before the view, so removal finds every view by its folder.
 */
import { mkdir, readdir, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { InvalidArgumentError } from '../common/errors.js';
import type { BindMountRequest } from '../runtime/spec-request.js';
import { isMountPoint, mountAll, unmount } from '../snapshots/index.js';
import type { ImageVolume } from '../workflows/container-types.js';
import { recordEvent, type ActivityContext } from './context.js';

type Context = Pick<ActivityContext, 'snapshotter' | 'events' | 'config'>;

const viewKeyOf = (id: string, index: number | string) => `container-${id}-image-${index}`;

const exists = (ctx: Context, key: string): Promise<boolean> =>
  ctx.snapshotter.stat(key).then(
    () => true,
    () => false,
  );

/** Unmounts `target` until it is no mount point; an unmount that lost a race to another is fine. */
export async function unmountAll(target: string): Promise<void> {
  while (await isMountPoint(target)) {
    await unmount(target).catch(async (err: unknown) => {
      if (await isMountPoint(target)) throw err;
    });
  }
}

/** Makes and mounts the read-only view of each volume's image under `dir`. */
export async function mountImageVolumes(
  ctx: Context,
  req: { namespace: string; id: string; imageVolumes?: ImageVolume[] },
  dir: string,
): Promise<void> {
  for (const [i, volume] of (req.imageVolumes ?? []).entries()) {
    const key = viewKeyOf(req.id, i);
    const target = join(dir, String(i));
    await mkdir(target, { recursive: true });
    const mounts = (await exists(ctx, key))
      ? await ctx.snapshotter.mounts(key)
      : await ctx.snapshotter.view(key, volume.chainId);
    if (!(await isMountPoint(target))) await mountAll(mounts, target);
    await recordEvent(ctx, {
      namespace: req.namespace,
      topic: '/snapshot/prepare',
      step: `image-volume-${i}`,
      data: { v: 1, key, parent: volume.chainId, snapshotter: ctx.config.snapshotter },
    });
  }
}

/**
 * The read-only binds of the volumes mounted under `dir`. A sub path must be in the image: one
 * that is missing, or leads out of it through a symlink, is refused.
 */
export async function imageVolumeBinds(dir: string, volumes: ImageVolume[]): Promise<BindMountRequest[]> {
  const binds: BindMountRequest[] = [];
  for (const [i, volume] of volumes.entries()) {
    const root = join(dir, String(i));
    let hostPath = root;
    if (volume.subPath) {
      const where = `image volume at ${volume.containerPath}: image_sub_path "${volume.subPath}"`;
      const resolved = await realpath(join(root, volume.subPath)).catch(() => undefined);
      if (!resolved) throw new InvalidArgumentError(`${where} does not exist in image ${volume.image}`);
      if (resolved !== root && !resolved.startsWith(root + sep))
        throw new InvalidArgumentError(`${where} leads out of image ${volume.image}`);
      hostPath = resolved;
    }
    binds.push({ hostPath, containerPath: volume.containerPath, readonly: true, propagation: 'private' });
  }
  return binds;
}

/** Unmounts and removes every view found under `dir`, recording each removal once. */
export async function removeImageVolumes(
  ctx: Context,
  ref: { namespace: string; id: string },
  dir: string,
): Promise<void> {
  for (const index of await readdir(dir).catch(() => [] as string[])) {
    await unmountAll(join(dir, index));
    const key = viewKeyOf(ref.id, index);
    if (await exists(ctx, key)) await ctx.snapshotter.remove(key);
    if (ctx.events.projections.get('snapshots', ref.namespace, key))
      await recordEvent(ctx, {
        namespace: ref.namespace,
        topic: '/snapshot/remove',
        step: `image-volume-${index}`,
        data: { v: 1, key, snapshotter: ctx.config.snapshotter },
      });
  }
}
