/**
 * Image garbage collection: content and snapshots no image references any more go, and the log
 * says so. Kept: every image's target (and through the content store's gc labels its manifest,
 * config and layers), every image's chain (the top chain id and its ancestors), every active
 * snapshot (a container's rootfs, an unpack in progress) and its ancestors, and whatever running
 * pulls hold (src/images/session.ts). Content and snapshots are node-wide; their records live per
 * namespace, so a removal is recorded in every namespace that has a record of the thing.
 */
import type { NodeServices } from '../daemon/node-services.js';
import type { Digest } from '../content/digest.js';
import type { RecordRequest } from '../activities/context.js';
import { collectSnapshots } from '../snapshots/gc.js';
import { snapshotKind } from '../snapshots/kind.js';
import { crashPoint } from '../common/crash-hooks.js';
import { imageSession } from './session.js';

export interface GcResult {
  content: string[];
  snapshots: string[];
}

type Recorder = (req: RecordRequest) => Promise<unknown>;

export async function collectImageGarbage(
  node: Pick<NodeServices, 'events' | 'content' | 'snapshotter' | 'puller' | 'layout'>,
  record: Recorder,
): Promise<GcResult> {
  const session = imageSession(node);
  return session.withLock('gc', async () => {
    const projections = node.events.projections;
    const images = projections.list('images');
    const held = new Set([...session.heldDigests(), ...node.puller.inUse()]);
    const roots = new Set<Digest>([...images.map((i) => i.target.digest as Digest)]);
    for (const d of held) if (d.startsWith('sha256:')) roots.add(d as Digest);
    const { removed } = await node.content.gc(roots);

    const keepSnapshots = new Set<string>(held);
    for (const i of images) if (i.chainId) keepSnapshots.add(i.chainId);
    for (const c of projections.list('containers')) if (c.snapshotKey) keepSnapshots.add(c.snapshotKey);
    const removedSnapshots = await collectSnapshots(
      node.snapshotter,
      (info) => info.kind !== 'committed' || keepSnapshots.has(info.name),
    );

    // Removed from disk, not yet from the log: the next collection records what this one removed.
    crashPoint(node.layout.root, 'gc:removed');
    // Records are reconciled with what is on disk rather than with what this run removed, so a
    // collection interrupted between removing and recording is completed by the next one.
    for (const r of projections.list('content')) {
      if (await node.content.has(r.digest as Digest)) continue;
      await record({
        namespace: r.namespace,
        topic: '/content/delete',
        data: { v: 1, digest: r.digest },
        step: `content-delete:${r.namespace}:${r.digest}`,
      });
    }
    for (const r of projections.list('snapshots')) {
      if (r.kind !== 'committed' || (await snapshotKind(node.snapshotter, r.key)) !== undefined) continue;
      await record({
        namespace: r.namespace,
        topic: '/snapshot/remove',
        data: { v: 1, key: r.key, snapshotter: r.snapshotter },
        step: `snapshot-remove:${r.namespace}:${r.key}`,
      });
    }
    return { content: removed, snapshots: removedSnapshots };
  });
}
