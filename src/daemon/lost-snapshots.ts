/**
 * Snapshots the snapshotter dropped when it opened: a power loss caught them before the sync
 * behind their commit, so their data may be torn (src/snapshots/sync-behind.ts). berthd logs them
 * and records their removal in every namespace whose projection still has them, so the log and
 * `berth images` agree with the disk at once; their images unpack again on the next pull.
 */
import type { NodeServices } from './node-services.js';

export async function recordLostSnapshots(
  node: Pick<NodeServices, 'snapshotter' | 'events' | 'logger'>,
): Promise<string[]> {
  const lost = new Set(node.snapshotter.lostAtOpen);
  if (lost.size === 0) return [];
  node.logger.warn(
    { snapshots: [...lost] },
    'the machine went down before these snapshots reached the disk: dropped; their images unpack again on the next pull',
  );
  for (const r of node.events.projections.list('snapshots')) {
    if (!lost.has(r.key)) continue;
    await node.events.append({
      namespace: r.namespace,
      topic: '/snapshot/remove',
      data: { v: 1, key: r.key, snapshotter: r.snapshotter },
      cause: { kind: 'reconciler', reason: 'power loss: the snapshot never reached the disk' },
      // Once per record: the same key lost again later is a new record (a later lastSeq).
      key: `snapshot-lost:${r.namespace}:${r.key}:${r.lastSeq}`,
    });
  }
  return [...lost].sort();
}
