/**
 * Unpacks an image's layers into committed snapshots named by chain id. A layer whose chain id
 * is already committed is reused, never unpacked twice, so images sharing base layers share
 * their snapshots. Each layer is applied into a fresh active snapshot and committed only after
 * its diff id verifies; on any failure the active snapshot is removed, so a refused layer
 * leaves nothing behind and a retry starts clean.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { chainIds } from '../snapshots/chainid.js';
import { SnapshotExistsError } from '../snapshots/errors.js';
import { snapshotKind } from '../snapshots/kind.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import { applyLayer, type ApplyResult } from './apply.js';
import { SysOps } from './sysops.js';
import type { DevicePolicy } from './writer.js';

/** One layer of an image: its diff id from the config, its blob's media type, and how to read the blob. */
export interface LayerSource {
  readonly diffId: string;
  readonly mediaType: string;
  open(): Promise<Readable>;
  /**
   * For bytes not yet proven by their compressed digest (a blob streamed as it downloads):
   * resolves once the blob is verified, rejects if it is not. The snapshot is committed only after.
   */
  verified?(): Promise<void>;
}

export interface UnpackedLayer {
  readonly chainId: string;
  /** True if the snapshot already existed and nothing was unpacked. */
  readonly reused: boolean;
  readonly result?: ApplyResult;
}

export const DIFF_ID_LABEL = 'berth.io/uncompressed';
/** Active snapshots being unpacked are keyed `extract-<random>-<chain id>`. */
export const EXTRACT_PREFIX = 'extract-';

/**
 * Removes active snapshots left by unpacks that never finished (a crash, a killed daemon).
 * Call at startup, before any unpack runs: the snapshotter has a single writer.
 */
export async function removeStaleExtractions(snapshotter: Snapshotter): Promise<string[]> {
  const stale: string[] = [];
  await snapshotter.walk((info) => {
    if (info.kind === 'active' && info.name.startsWith(EXTRACT_PREFIX)) stale.push(info.name);
  });
  for (const key of stale) await snapshotter.remove(key);
  return stale;
}

/** Unpacks `layers` (bottom first) into `snapshotter`; returns one record per layer. */
export async function unpackLayers(
  snapshotter: Snapshotter,
  layers: readonly LayerSource[],
  opts: {
    sys?: SysOps;
    devices?: DevicePolicy;
    /** Called once a layer is applied and verified, before its snapshot is committed (crash tests). */
    beforeCommit?: (chainId: string) => void;
  } = {},
): Promise<UnpackedLayer[]> {
  const ids = chainIds(layers.map((l) => l.diffId));
  const out: UnpackedLayer[] = [];
  // Layers above the first need lookups into the ones below (opaque directories are xattrs):
  // one helper process serves them all.
  const sys = opts.sys ?? new SysOps();
  try {
    // The sync behind the commits waits until every layer is written.
    await snapshotter.whileWriting(async () => {
      for (const [i, layer] of layers.entries()) {
        const chainId = ids[i] as string;
        const parent = i === 0 ? undefined : ids[i - 1];
        out.push(
          await unpackOne(
            snapshotter,
            layer,
            chainId,
            parent,
            sys,
            opts.devices ?? 'skip',
            opts.beforeCommit,
          ),
        );
      }
    });
  } finally {
    if (opts.sys === undefined) await sys.close();
  }
  return out;
}

async function unpackOne(
  snapshotter: Snapshotter,
  layer: LayerSource,
  chainId: string,
  parent: string | undefined,
  sys: SysOps,
  devices: DevicePolicy,
  beforeCommit?: (chainId: string) => void,
): Promise<UnpackedLayer> {
  if ((await snapshotKind(snapshotter, chainId)) === 'committed') return { chainId, reused: true };
  const key = `${EXTRACT_PREFIX}${randomBytes(6).toString('hex')}-${chainId}`;
  await snapshotter.prepare(key, parent, { labels: { [DIFF_ID_LABEL]: layer.diffId } });
  try {
    const target = await snapshotter.dataDir(key);
    const lowerDirs = snapshotter.type === 'overlayfs' ? await snapshotter.parentDataDirs(key) : [];
    const result = await applyLayer(await layer.open(), layer.mediaType, target, {
      mode: snapshotter.type === 'overlayfs' ? 'overlay' : 'native',
      expectedDiffId: layer.diffId,
      lowerDirs,
      sys,
      devices,
    });
    await layer.verified?.();
    beforeCommit?.(chainId);
    // No sync here: the snapshotter syncs behind its commits and drops, after a power loss, a
    // committed snapshot whose data had not reached the disk (snapshots/sync-behind.ts).
    try {
      await snapshotter.commit(chainId, key);
    } catch (e) {
      // Another unpack of the same layer committed first: use its snapshot.
      if (e instanceof SnapshotExistsError) {
        await snapshotter.remove(key);
        return { chainId, reused: true };
      }
      throw e;
    }
    return { chainId, reused: false, result };
  } catch (e) {
    await snapshotter.remove(key).catch(() => undefined);
    throw e;
  }
}
