/**
 * docker-archive tarballs (what `docker save` and `skopeo copy ... docker-archive:` write):
 * `manifest.json` lists each image's config file, its tags and its layer files; layers are tars,
 * usually uncompressed. Import turns each entry into an OCI image in the content store (the config
 * and layers as they are, plus a generated OCI manifest); export writes a recorded image in the
 * same shape skopeo writes: `<config hex>.json`, one uncompressed `<diff_id hex>.tar` per layer.
 * The archive walk itself (storing every candidate file by its digest) is in archive.ts.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { sha256Meter } from '../common/sha256-meter.js';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../common/errors.js';
import type { Digest } from '../content/digest.js';
import { GC_REF_CONTENT_PREFIX, type ContentStore } from '../content/store.js';
import { MediaTypes, nodePlatform, parseManifest, selectPlatform } from '../registry/index.js';
import { compressionOf, decompress } from '../unpack/decompress.js';
import type { ArchivedImage } from './archive.js';
import { putSmallBlob, readDiffIds } from './resolve.js';

/** A file of the archive that was stored in the content store under its digest. */
export interface StoredFile {
  digest: Digest;
  size: number;
}

interface DockerManifestEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** The layer media type from the blob's first bytes (docker-archive does not say). */
async function layerMediaType(store: ContentStore, digest: Digest): Promise<string> {
  const head = await store.readStream(digest, { offset: 0, length: 4 });
  const chunks: Buffer[] = [];
  for await (const c of head) chunks.push(c as Buffer);
  const bytes = Buffer.concat(chunks);
  if (bytes.subarray(0, 2).equals(GZIP_MAGIC)) return MediaTypes.ociLayerGzip;
  if (bytes.subarray(0, 4).equals(ZSTD_MAGIC)) return MediaTypes.ociLayerZstd;
  return MediaTypes.ociLayer;
}

/**
 * The images a docker-archive's manifest.json names, with an OCI manifest generated for each
 * (its config and layers must be among `files`). One result per tag; an untagged image has no name.
 */
export async function describeDockerArchive(
  file: string,
  store: ContentStore,
  manifestJson: Buffer,
  files: Map<string, StoredFile>,
): Promise<ArchivedImage[]> {
  let entries: DockerManifestEntry[];
  try {
    entries = JSON.parse(manifestJson.toString('utf8')) as DockerManifestEntry[];
  } catch (err) {
    throw new InvalidArgumentError(`${file}: manifest.json is not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(entries))
    throw new InvalidArgumentError(`${file}: manifest.json is not a list of images`);
  const stored = (name: unknown, what: string): StoredFile => {
    if (typeof name !== 'string')
      throw new InvalidArgumentError(`${file}: manifest.json has a bad ${what} entry`);
    const found = files.get(name.replace(/^\.\//, ''));
    if (!found) throw new FailedPreconditionError(`${file}: ${what} ${name} is named but not in the archive`);
    return found;
  };
  const out: ArchivedImage[] = [];
  for (const [i, entry] of entries.entries()) {
    const config = stored(entry.Config, `images[${i}].Config`);
    if (!Array.isArray(entry.Layers))
      throw new InvalidArgumentError(`${file}: images[${i}] has no Layers list`);
    const layerFiles = entry.Layers.map((l, j) => stored(l, `images[${i}].Layers[${j}]`));
    const diffIds = readDiffIds(file, config.digest, await store.readAll(config.digest));
    if (diffIds.length !== layerFiles.length)
      throw new FailedPreconditionError(
        `${file}: images[${i}] config lists ${diffIds.length} diff_ids for ${layerFiles.length} layers`,
      );
    const layers = [];
    for (const [j, l] of layerFiles.entries()) {
      const mediaType = await layerMediaType(store, l.digest);
      // An uncompressed layer is its own diff: a mismatch is a tampered or broken archive.
      if (mediaType === MediaTypes.ociLayer && l.digest !== diffIds[j])
        throw new FailedPreconditionError(
          `${file}: layer ${String(entry.Layers[j])} has digest ${l.digest}, its config says ${diffIds[j]}`,
        );
      layers.push({ mediaType, digest: l.digest, size: l.size });
    }
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, digest: config.digest, size: config.size },
      layers,
    };
    const body = Buffer.from(JSON.stringify(manifest));
    const gc: Record<string, string> = { [`${GC_REF_CONTENT_PREFIX}config`]: config.digest };
    layers.forEach((l, j) => (gc[`${GC_REF_CONTENT_PREFIX}l.${j}`] = l.digest));
    const manifestDigest = `sha256:${createHash('sha256').update(body).digest('hex')}` as Digest;
    await putSmallBlob(store, manifestDigest, body, gc);
    const resolved: ArchivedImage['resolved'] = {
      target: { digest: manifestDigest, mediaType: MediaTypes.ociManifest, size: body.length },
      manifestDigest,
      configDigest: config.digest,
      layers,
      diffIds,
      size: config.size + layers.reduce((n, l) => n + l.size, 0),
    };
    const tags = Array.isArray(entry.RepoTags) ? entry.RepoTags.filter((t) => typeof t === 'string') : [];
    if (tags.length === 0) out.push({ resolved });
    for (const name of tags) out.push({ name, resolved });
  }
  return out;
}

/** The manifest an image's target names (through an index, the node platform's, which is what was pulled). */
async function manifestOf(store: ContentStore, image: ExportedImage) {
  let digest = image.target.digest as Digest;
  if (!(await store.has(digest)))
    throw new NotFoundError(`content ${digest} of ${image.name} is missing; pull it again`);
  let parsed = parseManifest(await store.readAll(digest), image.target.mediaType, `${image.name} ${digest}`);
  if (parsed.kind === 'index') {
    const chosen = selectPlatform(parsed.index, nodePlatform(), `${image.name} ${digest}`);
    digest = chosen.digest;
    parsed = parseManifest(await store.readAll(digest), chosen.mediaType, `${image.name} ${digest}`);
  }
  if (parsed.kind !== 'manifest')
    throw new FailedPreconditionError(`${image.name}: nested indexes are not supported`);
  return parsed.manifest;
}

interface ExportedImage {
  name: string;
  target: { digest: string; mediaType: string };
}

/** Writes `image` as a docker-archive tar at `output`, layers uncompressed (as `docker save` does). */
export async function writeDockerArchive(
  store: ContentStore,
  image: ExportedImage,
  output: string,
): Promise<{ path: string; bytes: number }> {
  const manifest = await manifestOf(store, image);
  for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)])
    if (!(await store.has(d)))
      throw new NotFoundError(`content ${d} of ${image.name} is missing; pull it again`);
  const config = await store.readAll(manifest.config.digest);
  const diffIds =
    (JSON.parse(config.toString('utf8')) as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids ?? [];
  // Uncompressed sizes are only known after decompressing, and a tar header needs the size first:
  // each layer goes through a scratch file beside the output.
  const scratch = await mkdtemp(path.join(path.dirname(output), '.berth-export-'));
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(output, { mode: 0o600 }));
  const addFile = (name: string, source: string, size: number) =>
    new Promise<void>((resolve, reject) => {
      const entry = pack.entry({ name, size, mode: 0o644 }, (err) => (err ? reject(err) : resolve()));
      pipeline(createReadStream(source), entry).catch(reject);
    });
  const add = (name: string, body: Buffer) =>
    new Promise<void>((resolve, reject) =>
      pack.entry({ name, mode: 0o644 }, body, (err) => (err ? reject(err) : resolve())),
    );
  try {
    let bytes = 0;
    const configName = `${manifest.config.digest.slice(7)}.json`;
    await add(configName, config);
    bytes += config.length;
    const layerNames: string[] = [];
    for (const [i, layer] of manifest.layers.entries()) {
      const plain = path.join(scratch, String(i));
      const meter = sha256Meter();
      const source = await store.readStream(layer.digest);
      const { output: uncompressed, done } = decompress(source, compressionOf(layer.mediaType));
      await Promise.all([pipeline(uncompressed, meter, createWriteStream(plain)), done]);
      const diffId = meter.digest();
      if (diffIds[i] !== undefined && diffIds[i] !== diffId)
        throw new FailedPreconditionError(
          `${image.name}: layer ${layer.digest} decompresses to ${diffId}, its config says ${diffIds[i]}`,
        );
      const name = `${diffId.slice(7)}.tar`;
      await addFile(name, plain, (await stat(plain)).size);
      bytes += meter.bytes();
      layerNames.push(name);
      await rm(plain, { force: true });
    }
    // A digest reference is no tag: such an image is exported untagged.
    const repoTags = image.name.includes('@') ? [] : [image.name];
    await add(
      'manifest.json',
      Buffer.from(JSON.stringify([{ Config: configName, RepoTags: repoTags, Layers: layerNames }])),
    );
    pack.finalize();
    await written;
    return { path: output, bytes };
  } catch (err) {
    pack.destroy(err as Error);
    await written.catch(() => undefined);
    await rm(output, { force: true });
    throw err;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
