export type {
  Snapshotter,
  SnapshotInfo,
  SnapshotKind,
  SnapshotUsage,
  SnapshotOptions,
  SnapshotterType,
  SnapshotEvent,
  SnapshotterOpenOptions,
} from './snapshotter.js';
export { collectSnapshots } from './gc.js';
export { type Mount, mountAll, unmount, isMountPoint } from './mount.js';
export { OverlayfsSnapshotter } from './overlayfs.js';
export { NativeSnapshotter } from './native.js';
export { chainIds } from './chainid.js';
export { snapshotKind } from './kind.js';
export * from './errors.js';

import { NativeSnapshotter } from './native.js';
import { OverlayfsSnapshotter } from './overlayfs.js';
import type { Snapshotter, SnapshotterOpenOptions, SnapshotterType } from './snapshotter.js';

/** Opens the snapshotter of `type` rooted at `root` (e.g. `<berth root>/snapshotters/overlayfs`). */
export function openSnapshotter(
  type: SnapshotterType,
  root: string,
  opts?: SnapshotterOpenOptions,
): Promise<Snapshotter> {
  return type === 'overlayfs' ? OverlayfsSnapshotter.open(root, opts) : NativeSnapshotter.open(root, opts);
}
export {
  clearScratch as clearIdmapScratch,
  ensureTraversable,
  idmapBind,
  idmapHelperPath,
  mountAllIdmapped,
  type IdmapOptions,
} from './idmap.js';
