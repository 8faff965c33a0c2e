/**
 * Resolution: what a reference names now, pinned to digests. The manifest (and index) and the
 * config land in the content store; every check that can refuse the image (media types, config
 * JSON, diff_ids) runs before anything is stored, so refused input leaves the store unchanged.
 */
import { randomUUID } from 'node:crypto';
import { BerthError } from '../common/errors.js';
import type { Digest } from '../content/digest.js';
import { GC_REF_CONTENT_PREFIX, type ContentStore } from '../content/store.js';
import {
  CONFIG_MEDIA_TYPES,
  LAYER_MEDIA_TYPES,
  formatPlatform,
  nodePlatform,
  parsePlatform,
  selectPlatform,
  type FetchedManifest,
  type RegistryClient,
  type ImageReference,
  formatReference,
} from '../registry/index.js';
import type { ResolvedImage } from '../workflows/pull-image.js';

const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export async function resolveImage(
  client: RegistryClient,
  store: ContentStore,
  ref: ImageReference,
  platformName: string | undefined,
  signal?: AbortSignal,
): Promise<{ resolved: ResolvedImage; stored: Digest[] }> {
  const name = formatReference(ref);
  const platform = platformName ? parsePlatform(platformName) : nodePlatform();
  const top = await client.resolve(ref, signal);
  let chosen: FetchedManifest = top;
  if (top.parsed.kind === 'index') {
    const entry = selectPlatform(top.parsed.index, platform, name);
    chosen = await client.fetchManifest(ref, entry.digest, entry, signal);
    if (chosen.parsed.kind !== 'manifest') {
      throw new BerthError(
        'failed_precondition',
        `${name}: the index entry for ${formatPlatform(platform)} is itself an index; nested indexes are not supported`,
      );
    }
  }
  if (chosen.parsed.kind !== 'manifest') throw new BerthError('internal', 'unreachable: manifest kind');
  const manifest = chosen.parsed.manifest;
  if (!CONFIG_MEDIA_TYPES.includes(manifest.config.mediaType)) {
    throw new BerthError(
      'failed_precondition',
      `${name}: config media type ${JSON.stringify(manifest.config.mediaType)} is not an image config (not a container image?)`,
    );
  }
  if (manifest.config.size > MAX_CONFIG_BYTES) {
    throw new BerthError(
      'failed_precondition',
      `${name}: config is ${manifest.config.size} bytes, over the limit`,
    );
  }
  for (const layer of manifest.layers) {
    if (!LAYER_MEDIA_TYPES.includes(layer.mediaType)) {
      throw new BerthError(
        'failed_precondition',
        `${name}: layer ${layer.digest} has unsupported media type ${JSON.stringify(layer.mediaType)}`,
      );
    }
  }

  const configHadIt = await store.has(manifest.config.digest);
  await client.fetchBlob(ref, manifest.config, store, signal ? { signal } : {});
  let diffIds: string[];
  try {
    diffIds = readDiffIds(name, manifest.config.digest, await store.readAll(manifest.config.digest));
    if (diffIds.length !== manifest.layers.length) {
      throw new BerthError(
        'failed_precondition',
        `${name}: config lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`,
      );
    }
  } catch (err) {
    if (!configHadIt) await store.delete(manifest.config.digest).catch(() => undefined);
    throw err;
  }

  const manifestLabels: Record<string, string> = {
    [`${GC_REF_CONTENT_PREFIX}config`]: manifest.config.digest,
  };
  manifest.layers.forEach((l, i) => (manifestLabels[`${GC_REF_CONTENT_PREFIX}l.${i}`] = l.digest));
  await putSmallBlob(store, chosen.descriptor.digest, chosen.body, manifestLabels);
  const stored: Digest[] = [manifest.config.digest, chosen.descriptor.digest];
  if (top !== chosen) {
    await putSmallBlob(store, top.descriptor.digest, top.body, {
      [`${GC_REF_CONTENT_PREFIX}m.0`]: chosen.descriptor.digest,
    });
    stored.push(top.descriptor.digest);
  }
  const size = manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
  return {
    resolved: {
      ref: name,
      target: { digest: top.descriptor.digest, mediaType: top.descriptor.mediaType, size: top.body.length },
      manifestDigest: chosen.descriptor.digest,
      configDigest: manifest.config.digest,
      layers: manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
      diffIds,
      size,
    },
    stored,
  };
}

/** A config's rootfs.diff_ids, each a sha256 digest; a config without valid ones is refused. */
export function readDiffIds(name: string, digest: string, body: Buffer): string[] {
  let config: { rootfs?: { diff_ids?: unknown } };
  try {
    config = JSON.parse(body.toString('utf8')) as typeof config;
  } catch (err) {
    throw new BerthError('failed_precondition', `${name}: config ${digest} is not valid JSON`, {
      cause: err,
    });
  }
  const ids = config.rootfs?.diff_ids;
  if (
    !Array.isArray(ids) ||
    !ids.every((d): d is string => typeof d === 'string' && /^sha256:[0-9a-f]{64}$/.test(d))
  ) {
    throw new BerthError('failed_precondition', `${name}: config ${digest} has no valid rootfs.diff_ids`);
  }
  return ids;
}

/** Stores a manifest or index held in memory (verified by digest at commit), merging labels. */
export async function putSmallBlob(
  store: ContentStore,
  digest: Digest,
  body: Buffer,
  labels: Record<string, string>,
): Promise<void> {
  if (await store.has(digest)) {
    const current = await store.info(digest);
    await store.setLabels(digest, { ...current.labels, ...labels });
    return;
  }
  const writer = await store.writer(`put-${digest}-${randomUUID()}`);
  try {
    await writer.write(body);
    await writer.commit({ digest, size: body.length, labels });
  } finally {
    await writer.close();
  }
}
