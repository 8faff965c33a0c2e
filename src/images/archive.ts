/**
 * Image archives for air-gapped nodes. `readImageArchive` takes an OCI image layout tar (`oci-layout`,
 * `index.json`, `blobs/sha256/*`) or a docker-archive (`manifest.json`, docker-archive.ts): it streams
 * every blob into the content store (a layout's blobs verified by digest at commit, so a tampered
 * archive commits nothing under a wrong name; a docker-archive's files stored under the digest they
 * have) and returns the images the archive names. `writeOciArchive` writes one recorded image as
 * an OCI layout tar. Manifest and index blobs get the content store's gc labels, like pulled ones.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../common/errors.js';
import { isDigest, type Digest } from '../content/digest.js';
import { GC_REF_CONTENT_PREFIX, type ContentStore } from '../content/store.js';
import {
  CONFIG_MEDIA_TYPES,
  INDEX_MEDIA_TYPES,
  LAYER_MEDIA_TYPES,
  nodePlatform,
  parseManifest,
  selectPlatform,
  type ImageManifest,
} from '../registry/index.js';
import type { ResolvedImage } from '../workflows/pull-image.js';
import { describeDockerArchive, type StoredFile } from './docker-archive.js';

const REF_NAME = 'org.opencontainers.image.ref.name';
/** containerd's annotation for the full image name in exported layouts. */
const IMAGE_NAME = 'io.containerd.image.name';
const MAX_JSON_BYTES = 4 * 1024 * 1024;

interface IndexEntry {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
}

/** One image an archive names: its name (from its annotations) and what the pull steps need. */
export interface ArchivedImage {
  name?: string;
  resolved: Omit<ResolvedImage, 'ref'>;
}

/** docker-archive files worth storing: layer tars and image configs (not `<id>/json` or VERSION). */
function isDockerArchiveContent(name: string): boolean {
  return name.endsWith('.tar') || (name.endsWith('.json') && !name.includes('/'));
}

export async function readImageArchive(file: string, store: ContentStore): Promise<ArchivedImage[]> {
  let indexJson: Buffer | undefined;
  let dockerManifest: Buffer | undefined;
  let sawLayout = false;
  const files = new Map<string, StoredFile>();
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    void (async () => {
      const name = header.name.replace(/^\.\//, '');
      const blob = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
      if (header.type === 'file' && blob) {
        const digest = `sha256:${blob[1]}` as Digest;
        files.set(name, { digest, size: header.size ?? 0 });
        if (await store.has(digest)) {
          stream.resume();
          return;
        }
        await storeStream(store, stream, { digest, size: header.size ?? undefined });
        return;
      }
      if (
        header.type === 'file' &&
        (name === 'index.json' || name === 'oci-layout' || name === 'manifest.json')
      ) {
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of stream) {
          size += (chunk as Buffer).length;
          if (size > MAX_JSON_BYTES)
            throw new InvalidArgumentError(`${file}: ${name} is over ${MAX_JSON_BYTES} bytes`);
          chunks.push(chunk as Buffer);
        }
        if (name === 'index.json') indexJson = Buffer.concat(chunks);
        else if (name === 'manifest.json') dockerManifest = Buffer.concat(chunks);
        else sawLayout = true;
        return;
      }
      if (header.type === 'file' && isDockerArchiveContent(name)) {
        files.set(name, await storeStream(store, stream));
        return;
      }
      stream.resume();
    })().then(
      () => next(),
      (err: unknown) => next(err as Error),
    );
  });
  await pipeline(createReadStream(file), extract).catch((err: unknown) => {
    if (err instanceof InvalidArgumentError || (err as { code?: string }).code === 'invalid_argument')
      throw err;
    throw new InvalidArgumentError(`${file} is not a readable OCI image archive: ${(err as Error).message}`, {
      cause: err,
    });
  });
  if (!sawLayout || !indexJson) {
    if (dockerManifest) return describeDockerArchive(file, store, dockerManifest, files);
    throw new InvalidArgumentError(
      `${file} is neither an OCI image layout archive (no oci-layout and index.json) nor a docker-archive (no manifest.json)`,
    );
  }
  const index = JSON.parse(indexJson.toString('utf8')) as { manifests?: IndexEntry[] };
  const out: ArchivedImage[] = [];
  for (const entry of index.manifests ?? []) {
    if (!isDigest(entry.digest))
      throw new InvalidArgumentError(`${file}: index.json names a bad digest ${entry.digest}`);
    const name = entry.annotations?.[IMAGE_NAME] ?? entry.annotations?.[REF_NAME];
    out.push({ ...(name ? { name } : {}), resolved: await describe(file, store, entry) });
  }
  return out;
}

/**
 * Streams one archive file into the content store: verified against `expected` (a layout blob,
 * named by its digest), or, with nothing announced (a docker-archive file), under whatever it hashes to.
 */
async function storeStream(
  store: ContentStore,
  stream: AsyncIterable<unknown>,
  expected?: { digest: Digest; size: number | undefined },
): Promise<StoredFile> {
  const writer = await store.writer(`import-${expected?.digest ?? ''}-${randomUUID()}`);
  try {
    let size = 0;
    for await (const chunk of stream) {
      size += (chunk as Buffer).length;
      await writer.write(chunk as Buffer);
    }
    const digest = expected?.digest ?? writer.digest();
    await writer.commit({ digest, size: expected ? expected.size : size });
    return { digest, size };
  } catch (err) {
    await writer.abort().catch(() => undefined);
    throw err;
  } finally {
    await writer.close().catch(() => undefined);
  }
}

async function describe(
  file: string,
  store: ContentStore,
  entry: IndexEntry,
): Promise<ArchivedImage['resolved']> {
  const read = async (d: Digest) => {
    if (!(await store.has(d)))
      throw new FailedPreconditionError(`${file}: blob ${d} is named but not in the archive`);
    return store.readAll(d);
  };
  let manifestDigest = entry.digest;
  let body = await read(manifestDigest);
  let parsed = parseManifest(body, entry.mediaType, `${file} ${manifestDigest}`);
  if (parsed.kind === 'index') {
    const chosen = selectPlatform(parsed.index, nodePlatform(), `${file} ${entry.digest}`);
    await labels(store, entry.digest, { [`${GC_REF_CONTENT_PREFIX}m.0`]: chosen.digest });
    manifestDigest = chosen.digest;
    body = await read(manifestDigest);
    parsed = parseManifest(body, chosen.mediaType, `${file} ${manifestDigest}`);
  }
  if (parsed.kind !== 'manifest')
    throw new FailedPreconditionError(`${file}: nested indexes are not supported`);
  const manifest: ImageManifest = parsed.manifest;
  if (!CONFIG_MEDIA_TYPES.includes(manifest.config.mediaType))
    throw new FailedPreconditionError(`${file}: ${manifest.config.mediaType} is not an image config`);
  for (const l of manifest.layers)
    if (!LAYER_MEDIA_TYPES.includes(l.mediaType))
      throw new FailedPreconditionError(
        `${file}: layer ${l.digest} has unsupported media type ${l.mediaType}`,
      );
  const config = JSON.parse((await read(manifest.config.digest)).toString('utf8')) as {
    rootfs?: { diff_ids?: string[] };
  };
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== manifest.layers.length)
    throw new FailedPreconditionError(
      `${file}: config lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`,
    );
  for (const l of manifest.layers) await read(l.digest);
  const gc: Record<string, string> = { [`${GC_REF_CONTENT_PREFIX}config`]: manifest.config.digest };
  manifest.layers.forEach((l, i) => (gc[`${GC_REF_CONTENT_PREFIX}l.${i}`] = l.digest));
  await labels(store, manifestDigest, gc);
  return {
    target: { digest: entry.digest, mediaType: entry.mediaType, size: entry.size },
    manifestDigest,
    configDigest: manifest.config.digest,
    layers: manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
    diffIds,
    size: manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0),
  };
}

async function labels(store: ContentStore, digest: Digest, add: Record<string, string>): Promise<void> {
  const info = await store.info(digest);
  await store.setLabels(digest, { ...info.labels, ...add });
}

/** Writes `image` (target and everything it references that the store holds) as an OCI layout tar. */
export async function writeOciArchive(
  store: ContentStore,
  image: { name: string; target: { digest: string; mediaType: string; size?: number } },
  output: string,
): Promise<{ path: string; bytes: number }> {
  const blobs: Digest[] = [];
  const visit = async (d: Digest): Promise<void> => {
    if (blobs.includes(d)) return;
    if (!(await store.has(d))) {
      // An index lists every platform; only the pulled one is here, which is what is exported.
      if (blobs.length === 0)
        throw new NotFoundError(`content ${d} of ${image.name} is missing; pull it again`);
      return;
    }
    blobs.push(d);
    const info = await store.info(d);
    for (const [k, v] of Object.entries(info.labels))
      if (k.startsWith(GC_REF_CONTENT_PREFIX) && isDigest(v)) await visit(v);
  };
  await visit(image.target.digest as Digest);
  const tag = /:([\w][\w.-]*)$/.exec(image.name.split('@')[0] ?? '')?.[1] ?? 'latest';
  const target = image.target;
  const size = target.size ?? (await store.info(target.digest as Digest)).size;
  const index = {
    schemaVersion: 2,
    mediaType: INDEX_MEDIA_TYPES[0],
    manifests: [
      {
        mediaType: target.mediaType,
        digest: target.digest,
        size,
        annotations: { [IMAGE_NAME]: image.name, [REF_NAME]: tag },
      },
    ],
  };
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(output, { mode: 0o600 }));
  const add = (name: string, body: Buffer) =>
    new Promise<void>((resolve, reject) =>
      pack.entry({ name, mode: 0o644 }, body, (err) => (err ? reject(err) : resolve())),
    );
  await add('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  await add('index.json', Buffer.from(JSON.stringify(index)));
  let bytes = 0;
  for (const d of blobs) {
    const { size: blobSize } = await store.info(d);
    bytes += blobSize;
    await new Promise<void>((resolve, reject) => {
      const entry = pack.entry({ name: `blobs/sha256/${d.slice(7)}`, size: blobSize, mode: 0o644 }, (err) =>
        err ? reject(err) : resolve(),
      );
      void store.readStream(d).then((s) => pipeline(s, entry).catch(reject), reject);
    });
  }
  pack.finalize();
  await written;
  return { path: output, bytes };
}
