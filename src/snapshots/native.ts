/**
 * The native snapshotter, for filesystems without overlay: each snapshot is a full copy of its
 * parent (`cp -a`, keeping owners, modes, times, hardlinks, devices and xattrs) in
 * `<root>/snapshots/<id>/fs`, mounted as a bind mount.
 */
import { mkdir } from 'node:fs/promises';
import { execFile } from '../common/exec.js';
import { BaseSnapshotter } from './base.js';
import type { SnapshotRecord } from './metastore.js';
import type { Mount } from './mount.js';
import type { SnapshotterOpenOptions } from './snapshotter.js';

export class NativeSnapshotter extends BaseSnapshotter {
  readonly type = 'native' as const;

  static async open(root: string, opts?: SnapshotterOpenOptions): Promise<NativeSnapshotter> {
    return new NativeSnapshotter(root, await BaseSnapshotter.openStore(root, opts), opts);
  }

  protected async populate(id: string, _kind: unknown, parents: readonly SnapshotRecord[]): Promise<void> {
    await mkdir(this.snapshotDir(id), { recursive: true, mode: 0o700 });
    const parent = parents[0];
    if (!parent) {
      await mkdir(this.fsDir(id), { mode: 0o755 });
      return;
    }
    // --preserve=all fails loudly if an xattr (e.g. trusted.*, security.capability) cannot be copied.
    await execFile('cp', [
      '-a',
      '--preserve=all',
      '--reflink=auto',
      '--no-target-directory',
      this.fsDir(parent.id),
      this.fsDir(id),
    ]);
  }

  protected mountsOf(rec: SnapshotRecord): Mount[] {
    return [
      { type: 'bind', source: this.fsDir(rec.id), options: [rec.kind === 'view' ? 'ro' : 'rw', 'rbind'] },
    ];
  }
}
