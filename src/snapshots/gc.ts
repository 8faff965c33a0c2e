/**
 * Garbage collection of snapshots: everything not kept, and not an ancestor of something kept,
 * is removed, children before parents. The caller decides what is kept (snapshots referenced by
 * images and containers, or labelled as GC roots).
 */
import type { SnapshotInfo, Snapshotter } from './snapshotter.js';

export async function collectSnapshots(
  snapshotter: Snapshotter,
  keep: (info: SnapshotInfo) => boolean,
): Promise<string[]> {
  const all = new Map<string, SnapshotInfo>();
  await snapshotter.walk((info) => void all.set(info.name, info));
  const kept = new Set<string>();
  for (const info of all.values()) {
    if (!keep(info)) continue;
    for (
      let cur: SnapshotInfo | undefined = info;
      cur && !kept.has(cur.name);
      cur = cur.parent === undefined ? undefined : all.get(cur.parent)
    ) {
      kept.add(cur.name);
    }
  }
  const doomed = new Set([...all.keys()].filter((name) => !kept.has(name)));
  const removed: string[] = [];
  // Leaves first: a snapshot goes once none of the doomed still has it as parent.
  while (doomed.size > 0) {
    const leaves = [...doomed].filter(
      (name) => ![...doomed].some((other) => all.get(other)?.parent === name),
    );
    if (leaves.length === 0) break;
    for (const name of leaves.sort()) {
      await snapshotter.remove(name);
      doomed.delete(name);
      removed.push(name);
    }
  }
  return removed;
}
