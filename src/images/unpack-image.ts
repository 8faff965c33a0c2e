/**
 * The unpack step of a pull: each layer into a committed snapshot named by its chain id, bottom
 * first. Committed chains are reused (images sharing base layers share snapshot directories);
 * half-written extractions of a chain (left by a crash) are removed before it is unpacked again.
 * One chain is unpacked at a time per node (a lock per chain id), so a second pull of a shared
 * layer waits and then finds it committed.
 *
 * Each layer's bytes come from a `LayerFeed`: the content store, or (in the fetch step) live from
 * the layer's download as it runs. A live apply is committed only once its blob verified by digest
 * too; one that fails is redone from the store's verified copy, so streaming never decides an outcome.
 *
 * The log names an extraction `extract-<chain id>` (`/snapshot/prepare` then `/snapshot/commit`
 * to the chain id); the unpacker's own key adds a random part that only matters on disk.
 */
import type { Readable } from 'node:stream';
import { chainIds } from '../snapshots/chainid.js';
import { snapshotKind } from '../snapshots/kind.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import {
  EXTRACT_PREFIX,
  SysOps,
  unpackLayers,
  type LayerSource,
  type SkippedDevice,
} from '../unpack/index.js';
import type { Digest } from '../content/digest.js';
import type { NodeServices } from '../daemon/node-services.js';
import type { RecordRequest } from '../activities/context.js';
import type { ResolvedImage } from '../workflows/pull-image.js';
import { crashPoint } from '../common/crash-hooks.js';
import { imageSession } from './session.js';

export interface UnpackProgress {
  layer: number;
  chainId: string;
  status: 'unpacking' | 'unpacked' | 'reused';
}

/** One layer blob's bytes for the unpacker: `live` when they come from its download as it runs. */
export interface LayerBytes {
  stream: Readable;
  live: boolean;
}

/** Where the unpack gets each layer's bytes; it tells the feed how far it got. */
export interface LayerFeed {
  /** Layer i is next to apply; `contended` while another pull holds or waits for its chain's lock. */
  approach(i: number, contended: boolean): void;
  /** Layer i's bytes once there are any: live from its download, or from the content store. */
  open(i: number): Promise<LayerBytes>;
  /** Resolves when layer i's blob is committed to the store; rejects with its download's failure. */
  ready(i: number): Promise<void>;
  /** Layer i is applied or reused. */
  passed(i: number): void;
}

/** Every layer from the content store (they are all there). */
function storeFeed(content: NodeServices['content'], layers: ResolvedImage['layers']): LayerFeed {
  return {
    approach: () => undefined,
    open: async (i) => ({ stream: await content.readStream(layers[i]?.digest as Digest), live: false }),
    ready: async () => undefined,
    passed: () => undefined,
  };
}

/** At most this many skipped devices are named in a commit event; the count covers all of them. */
const NAMED_DEVICES_MAX = 32;

export async function unpackImage(
  node: Pick<NodeServices, 'content' | 'snapshotter' | 'events' | 'layout'> & {
    config: Pick<NodeServices['config'], 'allowImageDevices'>;
  },
  namespace: string,
  image: Pick<ResolvedImage, 'layers' | 'diffIds'>,
  record: (req: RecordRequest) => Promise<unknown>,
  onProgress: (p: UnpackProgress) => void,
  feed: LayerFeed = storeFeed(node.content, image.layers),
): Promise<string | undefined> {
  const sn = node.snapshotter;
  const session = imageSession(node);
  const ids = chainIds(image.diffIds);
  const sources: LayerSource[] = image.layers.map((l, i) => ({
    diffId: image.diffIds[i] as string,
    mediaType: l.mediaType,
    open: () => node.content.readStream(l.digest as Digest),
  }));
  // One mknod/xattr helper for every layer (it starts on first use; closed in the finally below):
  // a perl process per layer cost berthd about 10 ms of main-thread time each, forking a large
  // process, and every layer above the first reads the opaque xattrs of the ones below.
  const sys = new SysOps();
  /** Applies layer i from `bytes` (the layers below are committed); a live source must verify too. */
  const devices = node.config.allowImageDevices ? 'create' : 'skip';
  const apply = async (i: number, bytes: LayerBytes): Promise<SkippedDevice[]> => {
    const below = sources.slice(0, i);
    const layer = sources[i] as LayerSource;
    const source: LayerSource = {
      diffId: layer.diffId,
      mediaType: layer.mediaType,
      open: async () => bytes.stream,
      ...(bytes.live ? { verified: () => feed.ready(i) } : {}),
    };
    try {
      const unpacked = await unpackLayers(sn, [...below, source], {
        sys,
        devices,
        // Applied into the active snapshot, not committed: the restart removes it and unpacks again.
        beforeCommit: () => crashPoint(node.layout.root, 'unpack:applied'),
      });
      return unpacked[i]?.result?.skippedDevices ?? [];
    } finally {
      if (!bytes.stream.readableEnded) bytes.stream.destroy();
    }
  };
  // The chain is held for the whole step, so a collection running meanwhile spares it; the sync
  // behind the commits waits for the whole image too (layers wait for their downloads in between).
  const release = session.hold(ids);
  try {
    await sn.whileWriting(async () => {
      for (const [i, chainId] of ids.entries()) {
        const parent = i === 0 ? undefined : ids[i - 1];
        const lock = `chain:${chainId}`;
        feed.approach(i, session.isLocked(lock));
        await session.withLock(lock, async () => {
          feed.approach(i, false);
          const committedRecord = (): boolean =>
            node.events.projections.get('snapshots', namespace, chainId)?.kind === 'committed';
          if ((await snapshotKind(sn, chainId)) === 'committed') {
            // Shared with another image (maybe another namespace): record it here if this
            // namespace has no record of it yet.
            if (!committedRecord()) {
              // An extraction recorded as prepared whose commit was not recorded (a crash between
              // the two) is completed under its own key, so no active record is left behind.
              const extracting = node.events.projections.get(
                'snapshots',
                namespace,
                `${EXTRACT_PREFIX}${chainId}`,
              );
              const key = extracting ? `${EXTRACT_PREFIX}${chainId}` : chainId;
              await record({
                namespace,
                topic: '/snapshot/commit',
                data: { v: 1, key, name: chainId, snapshotter: sn.type },
                step: `commit:${chainId}`,
              });
            }
            onProgress({ layer: i, chainId, status: 'reused' });
            return;
          }
          // Bytes first: nothing is prepared for a layer whose download fails.
          const bytes = await feed.open(i);
          await removeStaleExtractions(sn, chainId);
          const key = `${EXTRACT_PREFIX}${chainId}`;
          await record({
            namespace,
            topic: '/snapshot/prepare',
            data: { v: 1, key, ...(parent ? { parent } : {}), snapshotter: sn.type },
            step: `prepare:${chainId}`,
          });
          onProgress({ layer: i, chainId, status: 'unpacking' });
          let skipped: SkippedDevice[];
          try {
            try {
              skipped = await apply(i, bytes);
            } catch (err) {
              if (!bytes.live) throw err;
              // The store's copy is verified by digest: redo the layer from it, unless the
              // download failed too (its error is then the one to report).
              await feed.ready(i);
              skipped = await apply(i, await feed.open(i));
            }
          } catch (err) {
            // The unpacker removed its active snapshot: the log says so too.
            await record({
              namespace,
              topic: '/snapshot/remove',
              data: { v: 1, key, snapshotter: sn.type },
              step: `remove:${chainId}`,
            });
            throw err;
          }
          // Committed on disk, not yet in the log: the restart finds the chain and records it.
          crashPoint(node.layout.root, 'unpack:committed');
          await record({
            namespace,
            topic: '/snapshot/commit',
            data: { v: 1, key, name: chainId, snapshotter: sn.type, ...skippedDevicesData(skipped) },
            step: `commit:${chainId}`,
          });
          onProgress({ layer: i, chainId, status: 'unpacked' });
        });
        feed.passed(i);
      }
    });
  } finally {
    release();
    await sys.close();
  }
  return ids[ids.length - 1];
}

/** Active extractions of `chainId` left by an unpack that never finished (the chain lock is held). */
async function removeStaleExtractions(sn: Snapshotter, chainId: string): Promise<void> {
  const stale: string[] = [];
  await sn.walk((info) => {
    if (info.kind === 'active' && info.name.startsWith(EXTRACT_PREFIX) && info.name.endsWith(`-${chainId}`))
      stale.push(info.name);
  });
  for (const key of stale) await sn.remove(key);
}

/** The commit event's record of device nodes the layer carried and the unpack left out. */
function skippedDevicesData(skipped: SkippedDevice[]): Record<string, unknown> {
  if (skipped.length === 0) return {};
  return {
    skippedDeviceCount: skipped.length,
    skippedDevices: skipped.slice(0, NAMED_DEVICES_MAX).map((d) => ({ ...d })),
  };
}
