/** The library pull: resolve, pick the platform, fetch config and layers into the content store. */
import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import { BerthError, InvalidArgumentError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { isDigest, type Digest } from '../content/digest.js';
import { GC_REF_CONTENT_PREFIX, type ContentStore } from '../content/store.js';
import type { RegistryClient } from './client.js';
import {
  CONFIG_MEDIA_TYPES,
  LAYER_MEDIA_TYPES,
  formatPlatform,
  nodePlatform,
  selectPlatform,
  type Descriptor,
  type ImageManifest,
  type Platform,
} from './manifest.js';
import { formatReference, parseReference, type ImageReference } from './reference.js';

/** Largest image config read into memory. */
const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/** Progress of one blob of a pull. */
export interface BlobProgress {
  kind: 'config' | 'layer';
  digest: Digest;
  mediaType: string;
  done: number;
  total: number;
  /** Set on the blob's last report, once it is committed to the content store. */
  stored?: true;
}

export interface PullOptions {
  /** Which image of a multi-platform index (default: this node's platform). */
  platform?: Platform;
  /** Per-blob progress: bytes done of total, as they land. */
  onProgress?: (p: BlobProgress) => void;
  signal?: AbortSignal;
  /**
   * Asked for a reader of a layer as its download starts from byte 0 (a streaming unpack): see
   * `FetchBlobOptions.streamTo`. A layer another pull is already downloading is not offered.
   */
  streamLayer?: (digest: Digest) => Writable | undefined;
}

export interface PulledLayer {
  digest: Digest;
  size: number;
  mediaType: string;
}

/** What a pull leaves in the content store, for the unpacker and the image record. */
export interface PulledImage {
  /** The normalised reference pulled: `docker.io/library/busybox:latest`. */
  name: string;
  /** The platform manifest's digest. */
  digest: Digest;
  mediaType: string;
  /** The digest the reference resolved to when it is an index, else undefined. */
  indexDigest?: Digest;
  configDigest: Digest;
  layers: PulledLayer[];
  /** Uncompressed layer digests from the config, in layer order. */
  diffIds: Digest[];
  platform: Platform;
}

export interface PullerOptions {
  client: RegistryClient;
  store: ContentStore;
  /** How many blobs download at once per pull (default 3). */
  parallelism?: number;
  logger?: Logger;
}

/** What one pull's blob fetches report to. */
interface FetchContext {
  emit: (p: BlobProgress) => void;
  touched: Set<Digest>;
  signal: AbortSignal | undefined;
  streamLayer: PullOptions['streamLayer'];
}

interface InflightPull {
  promise: Promise<PulledImage>;
  listeners: Set<(p: BlobProgress) => void>;
  /** Every blob this pull touched, for `inUse()`. */
  blobs: Set<Digest>;
}

interface InflightBlob {
  promise: Promise<void>;
  listeners: Set<(done: number, total: number) => void>;
}

/**
 * Pulls images into a content store. One Puller per store per process: it shares in-flight
 * work, so concurrent pulls of one reference run once and blobs shared between images are
 * downloaded once. Blobs are committed children first (layers, config), then the manifest
 * and index with `containerd.io/gc.ref.content.*` labels, so GC from the top digest keeps
 * the whole image. Unpacking is the caller's (src/unpack).
 */
export class Puller {
  private readonly client: RegistryClient;
  private readonly store: ContentStore;
  private readonly parallelism: number;
  private readonly logger: Logger;
  private readonly inflightBlobs = new Map<Digest, InflightBlob>();
  private readonly inflightPulls = new Map<string, InflightPull>();

  constructor(opts: PullerOptions) {
    this.client = opts.client;
    this.store = opts.store;
    this.parallelism = opts.parallelism ?? 3;
    if (!Number.isInteger(this.parallelism) || this.parallelism < 1) {
      throw new InvalidArgumentError(`pull parallelism must be a positive integer, got ${opts.parallelism}`);
    }
    this.logger = opts.logger ?? silentLogger;
  }

  /**
   * Pulls `reference`; a concurrent pull of the same reference and platform joins this one
   * and receives its progress too. The first caller's `signal` governs the shared work.
   */
  async pull(reference: string | ImageReference, opts: PullOptions = {}): Promise<PulledImage> {
    // Async so bad input rejects rather than throws; the map is still updated before any await.
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    const platform = opts.platform ?? nodePlatform();
    const key = `${formatReference(ref)}|${formatPlatform(platform)}`;
    let pull = this.inflightPulls.get(key);
    if (!pull) {
      const listeners = new Set<(p: BlobProgress) => void>();
      const blobs = new Set<Digest>();
      const emit = (p: BlobProgress): void => listeners.forEach((l) => l(p));
      // The entry is set before doPull's first await can let it settle and delete it.
      const fetchContext: FetchContext = {
        emit,
        touched: blobs,
        signal: opts.signal,
        streamLayer: opts.streamLayer,
      };
      const promise = this.doPull(ref, platform, fetchContext).finally(() => this.inflightPulls.delete(key));
      pull = { promise, listeners, blobs };
      this.inflightPulls.set(key, pull);
    }
    const { onProgress } = opts;
    if (!onProgress) return pull.promise;
    pull.listeners.add(onProgress);
    const joined = pull;
    return joined.promise.finally(() => joined.listeners.delete(onProgress));
  }

  /**
   * Blobs that pulls in progress have fetched or are fetching but that no manifest label
   * references yet: a GC running now must treat them as roots.
   */
  inUse(): Digest[] {
    return [...new Set([...this.inflightPulls.values()].flatMap((p) => [...p.blobs]))];
  }

  private async doPull(ref: ImageReference, platform: Platform, opts: FetchContext): Promise<PulledImage> {
    const { touched, signal } = opts;
    const name = formatReference(ref);
    const top = await this.client.resolve(ref, signal);
    let manifestFetched = top;
    let indexDigest: Digest | undefined;
    if (top.parsed.kind === 'index') {
      indexDigest = top.descriptor.digest;
      const chosen = selectPlatform(top.parsed.index, platform, name);
      manifestFetched = await this.client.fetchManifest(ref, chosen.digest, chosen, signal);
      if (manifestFetched.parsed.kind !== 'manifest') {
        throw new BerthError(
          'failed_precondition',
          `${name}: the index entry for ${formatPlatform(platform)} is itself an index; nested indexes are not supported`,
        );
      }
    }
    if (manifestFetched.parsed.kind !== 'manifest')
      throw new BerthError('internal', 'unreachable: manifest kind');
    const manifest = manifestFetched.parsed.manifest;
    this.checkManifest(name, manifest);

    await this.fetchShared(ref, manifest.config, 'config', opts);
    const { diffIds, configPlatform } = await this.readConfig(name, manifest);
    await this.fetchLayers(ref, manifest.layers, opts);

    const manifestDigest = manifestFetched.descriptor.digest;
    touched.add(manifestDigest);
    if (indexDigest) touched.add(indexDigest);
    const manifestLabels: Record<string, string> = {
      [`${GC_REF_CONTENT_PREFIX}config`]: manifest.config.digest,
    };
    manifest.layers.forEach((l, i) => (manifestLabels[`${GC_REF_CONTENT_PREFIX}l.${i}`] = l.digest));
    await this.putSmallBlob(manifestDigest, manifestFetched.body, manifestLabels);
    if (indexDigest) {
      // Only the selected manifest is kept alive by the index: other platforms were not fetched.
      await this.putSmallBlob(indexDigest, top.body, { [`${GC_REF_CONTENT_PREFIX}m.0`]: manifestDigest });
    }
    const result: PulledImage = {
      name,
      digest: manifestDigest,
      mediaType: manifest.mediaType,
      configDigest: manifest.config.digest,
      layers: manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
      diffIds,
      platform: configPlatform ?? platform,
    };
    if (indexDigest) result.indexDigest = indexDigest;
    this.logger.info({ name, digest: manifestDigest, layers: result.layers.length }, 'pulled image content');
    return result;
  }

  private checkManifest(name: string, manifest: ImageManifest): void {
    if (manifest.config.size > MAX_CONFIG_BYTES) {
      throw new BerthError(
        'failed_precondition',
        `${name}: config is ${manifest.config.size} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`,
      );
    }
    if (!CONFIG_MEDIA_TYPES.includes(manifest.config.mediaType)) {
      throw new BerthError(
        'failed_precondition',
        `${name}: config media type ${JSON.stringify(manifest.config.mediaType)} is not an image config (not a container image?)`,
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
  }

  private async readConfig(
    name: string,
    manifest: ImageManifest,
  ): Promise<{ diffIds: Digest[]; configPlatform?: Platform }> {
    if (manifest.config.size > MAX_CONFIG_BYTES) {
      throw new BerthError(
        'failed_precondition',
        `${name}: config is ${manifest.config.size} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`,
      );
    }
    let config: { rootfs?: { diff_ids?: unknown }; os?: unknown; architecture?: unknown; variant?: unknown };
    try {
      config = JSON.parse(
        (await this.store.readAll(manifest.config.digest)).toString('utf8'),
      ) as typeof config;
    } catch (err) {
      throw new BerthError(
        'failed_precondition',
        `${name}: config ${manifest.config.digest} is not valid JSON`,
        { cause: err },
      );
    }
    const ids = config.rootfs?.diff_ids;
    if (!Array.isArray(ids) || !ids.every((d): d is Digest => typeof d === 'string' && isDigest(d))) {
      throw new BerthError(
        'failed_precondition',
        `${name}: config ${manifest.config.digest} has no valid rootfs.diff_ids`,
      );
    }
    if (ids.length !== manifest.layers.length) {
      throw new BerthError(
        'failed_precondition',
        `${name}: config lists ${ids.length} diff_ids for ${manifest.layers.length} layers`,
      );
    }
    if (typeof config.os === 'string' && typeof config.architecture === 'string') {
      const p: Platform = { os: config.os, architecture: config.architecture };
      if (typeof config.variant === 'string') p.variant = config.variant;
      return { diffIds: ids, configPlatform: p };
    }
    return { diffIds: ids };
  }

  /** Fetches layers at most `parallelism` at a time; the first failure stops new starts. */
  private async fetchLayers(ref: ImageReference, layers: Descriptor[], opts: FetchContext): Promise<void> {
    let next = 0;
    let failed: unknown;
    const worker = async (): Promise<void> => {
      while (failed === undefined && next < layers.length) {
        const layer = layers[next++] as Descriptor;
        try {
          await this.fetchShared(ref, layer, 'layer', opts);
        } catch (err) {
          failed ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.parallelism, layers.length) }, worker));
    if (failed !== undefined) throw failed;
  }

  /** Fetches a blob into the store, joining a fetch of the same digest already running. */
  private async fetchShared(
    ref: ImageReference,
    desc: Descriptor,
    kind: BlobProgress['kind'],
    opts: FetchContext,
  ): Promise<void> {
    opts.touched.add(desc.digest);
    const listener = (done: number, total: number): void =>
      opts.emit({ kind, digest: desc.digest, mediaType: desc.mediaType, done, total });
    let inflight = this.inflightBlobs.get(desc.digest);
    if (!inflight) {
      const listeners = new Set<(done: number, total: number) => void>();
      const fetchOpts: Parameters<RegistryClient['fetchBlob']>[3] = {
        onProgress: (done, total) => listeners.forEach((l) => l(done, total)),
      };
      if (opts.signal) fetchOpts.signal = opts.signal;
      const { streamLayer } = opts;
      if (kind === 'layer' && streamLayer) fetchOpts.streamTo = () => streamLayer(desc.digest);
      const promise = this.client
        .fetchBlob(ref, desc, this.store, fetchOpts)
        .then(() => undefined)
        .finally(() => this.inflightBlobs.delete(desc.digest));
      inflight = { promise, listeners };
      this.inflightBlobs.set(desc.digest, inflight);
    }
    inflight.listeners.add(listener);
    try {
      await inflight.promise;
    } finally {
      inflight.listeners.delete(listener);
    }
    // Its last byte was reported before the commit: this says it can be read now.
    opts.emit({
      kind,
      digest: desc.digest,
      mediaType: desc.mediaType,
      done: desc.size,
      total: desc.size,
      stored: true,
    });
  }

  /** Stores a manifest/index we already hold in memory (verified by digest at commit). */
  private async putSmallBlob(digest: Digest, body: Buffer, labels: Record<string, string>): Promise<void> {
    if (await this.store.has(digest)) {
      const current = await this.store.info(digest);
      await this.store.setLabels(digest, { ...current.labels, ...labels });
      return;
    }
    const writer = await this.store.writer(`put-${digest}-${randomUUID()}`);
    try {
      await writer.write(body);
      await writer.commit({ digest, size: body.length, labels });
    } finally {
      await writer.close();
    }
  }
}
