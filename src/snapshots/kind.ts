import { SnapshotNotFoundError } from './errors.js';
import type { SnapshotKind, Snapshotter } from './snapshotter.js';

/** The kind of the snapshot named `key`, or undefined when there is none; other failures are thrown. */
export async function snapshotKind(sn: Snapshotter, key: string): Promise<SnapshotKind | undefined> {
  try {
    return (await sn.stat(key)).kind;
  } catch (err) {
    if (err instanceof SnapshotNotFoundError) return undefined;
    throw err;
  }
}
