/** The registry client: manifests and blobs over the distribution API, mirrors first. */
import { createHash } from 'node:crypto';
import { BerthError, InvalidArgumentError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { parseDigest, type Digest } from '../content/digest.js';
import { DigestMismatchError, SizeMismatchError } from '../content/errors.js';
import type { BlobInfo, ContentStore } from '../content/store.js';
import type { Writable } from 'node:stream';
import { BlobTee } from './blob-tee.js';
import type { RegistryConfig } from './config.js';
import { RegistryError } from './errors.js';
import {
  MANIFEST_ACCEPT,
  bareMediaType,
  parseManifest,
  type Descriptor,
  type ParsedManifest,
} from './manifest.js';
import { manifestSelector, referenceName, type ImageReference } from './reference.js';
import { RegistryTransport, connectionError, type Endpoint, type ResponseData } from './transport.js';

export const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Attempts in a row that make no progress before a blob fetch gives up. */
const MAX_STALLED_ATTEMPTS = 3;

/** A manifest or index as fetched: raw bytes (to store as-is), digest and parsed form. */
export interface FetchedManifest {
  descriptor: Descriptor;
  body: Buffer;
  parsed: ParsedManifest;
}

export interface FetchBlobOptions {
  /** Called as bytes land: `done` of `total` (including bytes resumed from a previous attempt). */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** Labels to commit with the blob. */
  labels?: Record<string, string>;
  /** The ingest ref (default `fetch-<digest>`): a stable ref lets a restarted pull resume. */
  ingestRef?: string;
  /**
   * Asked once when the blob's transfer starts at byte 0 (never for a stored blob or a resumed
   * ingest): a stream returned receives the blob's bytes as they arrive and paces the download.
   * It is ended only after the blob committed by digest, and destroyed if the blob fails or the
   * transfer cannot continue where the stream stands; if it fails itself the download goes on.
   */
  streamTo?: () => Writable | undefined;
}

export interface FetchBlobResult {
  info: BlobInfo;
  /** Bytes received over the network in this call (0 when the store already had it). */
  transferred: number;
}

export interface RegistryClientOptions {
  config?: RegistryConfig;
  logger?: Logger;
  /** Replaces the sleep used for Retry-After waits (tests). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const pullScope = (ref: ImageReference): string => `repository:${ref.path}:pull`;

/**
 * Talks to OCI/Docker v2 registries. Every read tries the host's mirrors in order, then the
 * upstream; what it fetches is verified against its digest before anyone sees it.
 */
export class RegistryClient {
  readonly transport: RegistryTransport;
  private readonly logger: Logger;
  private readonly maxManifestBytes: number;

  constructor(opts: RegistryClientOptions = {}) {
    this.logger = opts.logger ?? silentLogger;
    this.transport = new RegistryTransport(opts.config, this.logger, opts.sleep);
    this.maxManifestBytes = this.transport.config.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
  }

  /** Checks that the registry answers the v2 API (authenticating if it asks). */
  async ping(registry: string): Promise<void> {
    const ep = this.transport.endpoints(registry).at(-1) as Endpoint;
    const res = await this.transport.send(ep, {
      method: 'GET',
      path: '/v2/',
      scope: '',
      what: `ping of ${registry}`,
    });
    await res.body.dump();
  }

  /** Fetches what `ref` names (tag or digest): an index or a manifest. */
  resolve(ref: ImageReference, signal?: AbortSignal): Promise<FetchedManifest> {
    const selector = manifestSelector(ref);
    return this.fetchManifest(ref, selector, ref.digest ? { digest: ref.digest } : undefined, signal);
  }

  /** Fetches a manifest by tag or digest, size-limited and verified against `expected`. */
  async fetchManifest(
    ref: ImageReference,
    selector: string,
    expected?: { digest: Digest; size?: number; mediaType?: string },
    signal?: AbortSignal,
  ): Promise<FetchedManifest> {
    const what = `manifest ${referenceName(ref)}${selector.startsWith('sha256:') ? '@' : ':'}${selector}`;
    if (expected?.size !== undefined && expected.size > this.maxManifestBytes) {
      throw this.tooBig(what, expected.size);
    }
    return this.withEndpoints(ref, what, async (ep) => {
      const res = await this.transport.send(ep, {
        method: 'GET',
        path: `/v2/${ref.path}/manifests/${selector}`,
        headers: { accept: MANIFEST_ACCEPT },
        scope: pullScope(ref),
        what,
        ...(signal ? { signal } : {}),
      });
      const body = await this.readCapped(res, what);
      const digest: Digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      if (expected && digest !== expected.digest)
        throw new DigestMismatchError(expected.digest, digest, `${what} from ${ep.baseUrl.host}`);
      const claimed = res.headers['docker-content-digest'];
      if (typeof claimed === 'string' && claimed.startsWith('sha256:') && claimed !== digest) {
        throw new DigestMismatchError(
          parseDigest(claimed),
          digest,
          `${what} (Docker-Content-Digest) from ${ep.baseUrl.host}`,
        );
      }
      const contentType =
        typeof res.headers['content-type'] === 'string' ? res.headers['content-type'] : undefined;
      const parsed = parseManifest(body, contentType, `${what} from ${ep.baseUrl.host}`);
      const mediaType = parsed.kind === 'index' ? parsed.index.mediaType : parsed.manifest.mediaType;
      if (expected?.mediaType && bareMediaType(expected.mediaType) !== mediaType) {
        throw new BerthError(
          'failed_precondition',
          `${what} is ${mediaType} but its parent descriptor says ${expected.mediaType}`,
        );
      }
      return { descriptor: { mediaType, digest, size: body.length }, body, parsed };
    });
  }

  /**
   * Streams a blob into the store, verified by size and digest at commit. A transfer cut
   * mid-way resumes with an HTTP Range from the bytes already in the ingest, in this call
   * or a later one (same `ingestRef`). A blob already in the store is not fetched.
   */
  async fetchBlob(
    ref: ImageReference,
    desc: Descriptor,
    store: ContentStore,
    opts: FetchBlobOptions = {},
  ): Promise<FetchBlobResult> {
    const digest = parseDigest(desc.digest);
    if (await store.has(digest)) {
      opts.onProgress?.(desc.size, desc.size);
      const info = opts.labels
        ? await store.setLabels(digest, { ...(await store.info(digest)).labels, ...opts.labels })
        : await store.info(digest);
      return { info, transferred: 0 };
    }
    const what = `blob ${digest} of ${referenceName(ref)}`;
    const tee = new BlobTee(opts.streamTo, opts.signal);
    try {
      const result = await this.withEndpoints(ref, what, (ep) =>
        this.fetchBlobFrom(ep, ref, { ...desc, digest }, store, opts, what, true, tee),
      );
      tee.end();
      return result;
    } catch (err) {
      tee.abandon(err);
      throw err;
    }
  }

  private async fetchBlobFrom(
    ep: Endpoint,
    ref: ImageReference,
    desc: Descriptor,
    store: ContentStore,
    opts: FetchBlobOptions,
    what: string,
    mayRestart: boolean,
    tee: BlobTee,
  ): Promise<FetchBlobResult> {
    const writer = await store.writer(opts.ingestRef ?? `fetch-${desc.digest}`, {
      expected: { digest: desc.digest, size: desc.size },
    });
    const resumedFrom = writer.offset;
    let transferred = 0;
    let stalled = 0;
    try {
      while (writer.offset < desc.size) {
        const start = writer.offset;
        tee.startAt(start);
        const res = await this.transport.send(ep, {
          method: 'GET',
          path: `/v2/${ref.path}/blobs/${desc.digest}`,
          headers: start > 0 ? { range: `bytes=${start}-` } : {},
          scope: pullScope(ref),
          what,
          ok: (s) => s === 200 || s === 206,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        // A server that ignores Range sends everything again: skip what we already have.
        let skip = res.statusCode === 200 ? start : 0;
        if (res.statusCode === 206) {
          const range = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
          if (!range || Number(range[1]) !== start) {
            await res.body.dump();
            throw new RegistryError(
              'failed_precondition',
              `${what}: ${ep.baseUrl.host} answered range ${start}- with ${String(res.headers['content-range'])}`,
            );
          }
        }
        try {
          for await (const raw of res.body) {
            let chunk = raw as Buffer;
            transferred += chunk.length;
            if (skip > 0) {
              const n = Math.min(skip, chunk.length);
              skip -= n;
              chunk = chunk.subarray(n);
              if (chunk.length === 0) continue;
            }
            if (writer.offset + chunk.length > desc.size) {
              res.body.destroy();
              await writer.abort();
              throw new RegistryError(
                'failed_precondition',
                `${what}: ${ep.baseUrl.host} sent more than the ${desc.size} bytes its descriptor declares; nothing was committed`,
              );
            }
            await writer.write(chunk);
            await tee.push(chunk);
            opts.onProgress?.(writer.offset, desc.size);
          }
        } catch (err) {
          if (err instanceof BerthError || opts.signal?.aborted) throw err;
          this.logger.info(
            { digest: desc.digest, offset: writer.offset, err: (err as Error).message },
            'blob transfer cut; resuming with Range',
          );
          if (writer.offset === start && ++stalled >= MAX_STALLED_ATTEMPTS)
            throw connectionError(err, ep.baseUrl);
          continue;
        }
        if (writer.offset === start && writer.offset < desc.size && ++stalled >= MAX_STALLED_ATTEMPTS) {
          throw new RegistryError(
            'unavailable',
            `${what}: ${ep.baseUrl.host} keeps ending the transfer at ${start} of ${desc.size} bytes`,
          );
        }
        if (writer.offset > start) stalled = 0;
      }
      const commit: { digest: Digest; size: number; labels?: Record<string, string> } = {
        digest: desc.digest,
        size: desc.size,
      };
      if (opts.labels) commit.labels = opts.labels;
      try {
        return { info: await writer.commit(commit), transferred };
      } catch (err) {
        // A kept partial ingest can hold bad bytes (e.g. from a poisoned mirror): the commit
        // dropped it, so fetch the whole blob once more before blaming this endpoint.
        if (
          (err instanceof DigestMismatchError || err instanceof SizeMismatchError) &&
          resumedFrom > 0 &&
          mayRestart
        ) {
          this.logger.warn(
            { digest: desc.digest, resumedFrom },
            'resumed ingest did not verify; fetching the blob again from the start',
          );
          const again = await this.fetchBlobFrom(ep, ref, desc, store, opts, what, false, tee);
          return { info: again.info, transferred: transferred + again.transferred };
        }
        if (err instanceof DigestMismatchError) {
          throw new DigestMismatchError(err.expected, err.actual, `${what} from ${ep.baseUrl.host}`);
        }
        throw err;
      }
    } finally {
      await writer.close();
    }
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  /** Runs `fn` against each mirror, then the upstream; bad input is never retried elsewhere. */
  private async withEndpoints<T>(
    ref: ImageReference,
    what: string,
    fn: (ep: Endpoint) => Promise<T>,
  ): Promise<T> {
    const mirrorFailures: string[] = [];
    for (const ep of this.transport.endpoints(ref.domain)) {
      try {
        return await fn(ep);
      } catch (err) {
        if (!ep.isMirror || (err instanceof InvalidArgumentError && !(err instanceof DigestMismatchError)))
          throw withMirrorNotes(err, mirrorFailures);
        this.logger.info(
          { mirror: ep.baseUrl.host, what, err: (err as Error).message },
          'mirror failed; trying the next endpoint',
        );
        mirrorFailures.push(`${ep.baseUrl.host}: ${(err as Error).message}`);
      }
    }
    throw new RegistryError('unavailable', `${what}: no endpoint to try`);
  }

  private tooBig(what: string, size: number): BerthError {
    return new BerthError(
      'failed_precondition',
      `${what} is ${size} bytes, over the ${this.maxManifestBytes}-byte limit for manifests`,
    );
  }

  private async readCapped(res: ResponseData, what: string): Promise<Buffer> {
    const declared = Number(res.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > this.maxManifestBytes) {
      res.body.destroy();
      throw this.tooBig(what, declared);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > this.maxManifestBytes) {
        res.body.destroy();
        throw this.tooBig(what, size);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }
}

function withMirrorNotes(err: unknown, notes: string[]): unknown {
  if (notes.length === 0 || !(err instanceof Error)) return err;
  err.message += ` (mirrors tried first: ${notes.join('; ')})`;
  return err;
}
