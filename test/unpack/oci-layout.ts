/** Test helper: writes an OCI image layout (oci-layout, index.json, blobs) that umoci can unpack. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from './layers.js';

export interface LayoutLayer {
  /** Uncompressed tar. */
  tar: Buffer;
  /** The blob as stored (compressed or not). */
  blob: Buffer;
  mediaType: string;
}

export interface WrittenImage {
  diffIds: string[];
  blobPaths: string[];
}

async function putBlob(dir: string, data: Buffer): Promise<{ digest: string; path: string }> {
  const digest = sha256(data);
  const path = join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  await writeFile(path, data);
  return { digest, path };
}

/** Writes the layout at `dir` with one image tagged `tag`. */
export async function writeOciLayout(
  dir: string,
  tag: string,
  layers: readonly LayoutLayer[],
): Promise<WrittenImage> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const diffIds = layers.map((l) => sha256(l.tar));
  const blobs = await Promise.all(layers.map((l) => putBlob(dir, l.blob)));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const configBlob = await putBlob(dir, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: configBlob.digest,
        size: config.length,
      },
      layers: layers.map((l, i) => ({
        mediaType: l.mediaType,
        digest: blobs[i]?.digest,
        size: l.blob.length,
      })),
    }),
  );
  const manifestBlob = await putBlob(dir, manifest);
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: manifestBlob.digest,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  return { diffIds, blobPaths: blobs.map((b) => b.path) };
}
