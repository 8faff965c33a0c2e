/**
 * The overlayfs snapshotter (default): each snapshot owns `<root>/snapshots/<id>/fs` (its layer)
 * and `work` (overlay's work dir). An active snapshot mounts as an overlay whose upper dir is its
 * own layer and whose lower dirs are its parents' layers; with no parent it is a bind mount.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BaseSnapshotter } from './base.js';
import type { SnapshotRecord } from './metastore.js';
import type { Mount } from './mount.js';
import type { SnapshotKind, SnapshotterOpenOptions } from './snapshotter.js';

/** Linux limits mount data to one page; beyond it overlay cannot be mounted with absolute paths. */
const MOUNT_DATA_LIMIT = 4095;

export class OverlayfsSnapshotter extends BaseSnapshotter {
  readonly type = 'overlayfs' as const;

  static async open(root: string, opts?: SnapshotterOpenOptions): Promise<OverlayfsSnapshotter> {
    return new OverlayfsSnapshotter(root, await BaseSnapshotter.openStore(root, opts), opts);
  }

  protected async populate(id: string, kind: SnapshotKind): Promise<void> {
    await mkdir(this.fsDir(id), { recursive: true, mode: 0o755 });
    if (kind === 'active') await mkdir(join(this.snapshotDir(id), 'work'), { mode: 0o700 });
  }

  protected mountsOf(rec: SnapshotRecord, parents: readonly SnapshotRecord[]): Mount[] {
    const lowers = parents.map((p) => this.fsDir(p.id));
    if (rec.kind === 'view') {
      if (lowers.length === 0)
        return [{ type: 'bind', source: this.fsDir(rec.id), options: ['ro', 'rbind'] }];
      if (lowers.length === 1)
        return [{ type: 'bind', source: lowers[0] as string, options: ['ro', 'rbind'] }];
      return [this.overlay(rec, [`lowerdir=${lowers.join(':')}`])];
    }
    if (lowers.length === 0) return [{ type: 'bind', source: this.fsDir(rec.id), options: ['rw', 'rbind'] }];
    return [
      this.overlay(rec, [
        `workdir=${join(this.snapshotDir(rec.id), 'work')}`,
        `upperdir=${this.fsDir(rec.id)}`,
        `lowerdir=${lowers.join(':')}`,
      ]),
    ];
  }

  private overlay(rec: SnapshotRecord, options: string[]): Mount {
    const length = options.join(',').length;
    if (length > MOUNT_DATA_LIMIT) {
      throw new Error(
        `snapshot ${JSON.stringify(rec.name)}: overlay options are ${length} bytes, over the kernel's ${MOUNT_DATA_LIMIT}; use a shorter snapshotter root`,
      );
    }
    return { type: 'overlay', source: 'overlay', options };
  }
}
