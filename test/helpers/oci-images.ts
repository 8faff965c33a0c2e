/**
 * Builds OCI image layouts for tests, from files generated in the test: nothing is downloaded.
 *
 *   const img = await writeOciLayout(dir, 'v1', { layers: [{ files: [{ path: 'bin/busybox', content: await busyboxBinary() }] }] });
 *   await registry.push(dir, 'v1', 'team/app');   // see test/helpers/registry.ts
 *
 * Layers are tar (tar-stream) compressed with gzip (zlib), zstd (the `zstd` CLI) or left
 * uncompressed. `writeOciLayout` with `platforms` writes an OCI index of several images.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { execFile } from '../../src/common/exec.js';

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

export type Compression = 'gzip' | 'zstd' | 'none';

/** One entry of a layer: a regular file (default), a directory, a symlink, a hard link or a device node. */
export interface FileSpec {
  path: string;
  content?: string | Buffer;
  mode?: number;
  type?: 'file' | 'directory' | 'symlink' | 'hardlink' | 'character-device' | 'block-device';
  /** A symlink's target, or the path (in the layer) of the file a hard link names. */
  linkname?: string;
  /** A device node's numbers. */
  device?: { major: number; minor: number };
}

export interface LayerSpec {
  files: FileSpec[];
  compression?: Compression;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** One image: its layers (bottom first), its platform (default linux/amd64), its Cmd and StopSignal. */
export interface ImageSpec {
  layers: LayerSpec[];
  platform?: Platform;
  cmd?: string[];
  stopSignal?: string;
}

export interface BuiltLayer {
  digest: string;
  size: number;
  mediaType: string;
  /** sha256 of the uncompressed tar, as listed in the config's rootfs.diff_ids. */
  diffId: string;
}

export interface BuiltImage {
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  layers: BuiltLayer[];
  platform: Platform;
}

export interface BuiltLayout {
  /** The digest the tag points at: the manifest, or the index for multi-platform layouts. */
  digest: string;
  mediaType: string;
  images: BuiltImage[];
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Writes a blob into the layout and returns its descriptor fields. */
async function writeBlob(dir: string, data: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256(data);
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(path.join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  return { digest, size: data.length };
}

/** An uncompressed tar of the given entries, with fixed times so builds are reproducible. */
export async function tarOf(files: FileSpec[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const ended = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  const mtime = new Date('2026-01-01T00:00:00Z');
  for (const f of files) {
    const type = f.type ?? 'file';
    if (type === 'file') {
      const body = typeof f.content === 'string' ? Buffer.from(f.content) : (f.content ?? Buffer.alloc(0));
      p.entry({ name: f.path, mode: f.mode ?? 0o644, mtime, size: body.length }, body);
    } else if (type === 'directory') {
      p.entry({ name: f.path, type: 'directory', mode: f.mode ?? 0o755, mtime });
    } else if (type === 'character-device' || type === 'block-device') {
      const { major, minor } = f.device ?? { major: 0, minor: 0 };
      p.entry({ name: f.path, type, devmajor: major, devminor: minor, mode: f.mode ?? 0o600, mtime });
    } else if (type === 'hardlink') {
      p.entry({ name: f.path, type: 'link', linkname: f.linkname ?? '', mode: f.mode ?? 0o755, mtime });
    } else {
      p.entry({ name: f.path, type: 'symlink', linkname: f.linkname ?? '', mode: 0o777, mtime });
    }
  }
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

async function compress(tar: Buffer, how: Compression): Promise<{ data: Buffer; mediaType: string }> {
  if (how === 'none') return { data: tar, mediaType: MEDIA_TYPES.ociLayer };
  if (how === 'gzip') return { data: gzipSync(tar), mediaType: MEDIA_TYPES.ociLayerGzip };
  const { spawn } = await import('node:child_process');
  const data = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn('zstd', ['-q', '-c', '-3'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`zstd exit ${code}`)),
    );
    child.stdin.end(tar);
  });
  return { data, mediaType: MEDIA_TYPES.ociLayerZstd };
}

async function writeImage(dir: string, spec: ImageSpec): Promise<BuiltImage> {
  const platform = spec.platform ?? { os: 'linux', architecture: 'amd64' };
  const layers: BuiltLayer[] = [];
  for (const layer of spec.layers) {
    const tar = await tarOf(layer.files);
    const { data, mediaType } = await compress(tar, layer.compression ?? 'gzip');
    const blob = await writeBlob(dir, data);
    layers.push({ ...blob, mediaType, diffId: sha256(tar) });
  }
  const config = {
    created: '2026-01-01T00:00:00Z',
    ...platform,
    config: {
      Cmd: spec.cmd ?? ['/bin/sh'],
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ...(spec.stopSignal ? { StopSignal: spec.stopSignal } : {}),
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created: '2026-01-01T00:00:00Z', created_by: 'berth test' })),
  };
  const configBlob = await writeBlob(dir, Buffer.from(JSON.stringify(config)));
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.ociConfig, ...configBlob },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const manifestBlob = await writeBlob(dir, Buffer.from(JSON.stringify(manifest)));
  return {
    manifestDigest: manifestBlob.digest,
    manifestSize: manifestBlob.size,
    configDigest: configBlob.digest,
    layers,
    platform,
  };
}

/**
 * Writes (or adds to) an OCI image layout at `dir` and tags it `tag`. With `platforms`,
 * the tag points at an OCI index holding one manifest per platform.
 */
export async function writeOciLayout(
  dir: string,
  tag: string,
  spec: ImageSpec | { platforms: ImageSpec[] },
): Promise<BuiltLayout> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  let top: { mediaType: string; digest: string; size: number };
  let images: BuiltImage[];
  if ('platforms' in spec) {
    images = [];
    for (const p of spec.platforms) images.push(await writeImage(dir, p));
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: images.map((img) => ({
        mediaType: MEDIA_TYPES.ociManifest,
        digest: img.manifestDigest,
        size: img.manifestSize,
        platform: img.platform,
      })),
    };
    top = { mediaType: MEDIA_TYPES.ociIndex, ...(await writeBlob(dir, Buffer.from(JSON.stringify(index)))) };
  } else {
    const img = await writeImage(dir, spec);
    images = [img];
    top = { mediaType: MEDIA_TYPES.ociManifest, digest: img.manifestDigest, size: img.manifestSize };
  }
  const indexPath = path.join(dir, 'index.json');
  const existing = await readFile(indexPath, 'utf8').then(
    (s) => JSON.parse(s) as { manifests: { annotations?: Record<string, string> }[] },
    () => ({ manifests: [] }),
  );
  const others = existing.manifests.filter(
    (m) => m.annotations?.['org.opencontainers.image.ref.name'] !== tag,
  );
  const layoutIndex = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    manifests: [...others, { ...top, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  };
  await writeFile(indexPath, JSON.stringify(layoutIndex));
  return { digest: top.digest, mediaType: top.mediaType, images };
}

/** The bytes of busybox-static: a real, sizeable binary to put in test layers. */
export function busyboxBinary(): Promise<Buffer> {
  return readFile('/bin/busybox');
}

/** Deterministic pseudo-random bytes (incompressible), for layers of a chosen size. */
export function randomBytesSeeded(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let block = Buffer.alloc(0);
  for (let off = 0, counter = 0; off < size; off += block.length, counter++) {
    block = createHash('sha256').update(`${seed}:${counter}`).digest();
    block.copy(out, off);
  }
  return out;
}

/** The digest of a manifest as the registry stores it: for checking pushes done by skopeo. */
export async function skopeoInspectRaw(imageRef: string, extraArgs: string[] = []): Promise<Buffer> {
  return Buffer.from(await execFile('skopeo', ['inspect', '--raw', ...extraArgs, imageRef]), 'utf8');
}

export { sha256 as digestOfBuffer };
