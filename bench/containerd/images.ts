/**
 * Benchmark images built on this machine, never downloaded: `tiny` (busybox-static with applet
 * links) and `pause` (a static C program that sleeps until SIGTERM/SIGINT, the CRI sandbox image).
 * Each is written as an OCI image layout directory and as the tar of that layout, the archive form
 * `ctr images import` accepts; Berth unpacks the same layer with `unpackImage`.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { InvalidArgumentError } from '../../src/common/errors.js';
import { execFile } from '../../src/common/exec.js';
import { applyLayer } from '../../src/unpack/index.js';

const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** One entry of the image's single layer. */
export interface ImageFile {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  content?: Buffer;
  mode?: number;
  linkname?: string;
}

/** What an image was built into: where its layout and archive are, and the facts needed to unpack it. */
export interface BuiltImage {
  /** Full reference stored as `io.containerd.image.name`, e.g. `berth.local/bench/tiny:latest`. */
  name: string;
  /** OCI image layout directory (oci-layout, index.json, blobs/sha256/...). */
  layoutDir: string;
  /** Tar of the layout directory: the argument to `ctr images import`. */
  archivePath: string;
  manifestDigest: string;
  layer: { path: string; digest: string; mediaType: string; diffId: string };
  /** The image config's Entrypoint/Cmd, as a runtime would merge them. */
  entrypoint: string[];
  cmd: string[];
}

/** Applets linked to /bin/busybox in the tiny image. */
const TINY_APPLETS = ['sh', 'echo', 'sleep', 'cat', 'true', 'false', 'ls', 'id'];

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function tarOf(files: readonly ImageFile[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  // A fixed mtime keeps the layer's digest stable across builds.
  const mtime = new Date(0);
  for (const f of files) {
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (f.type === 'directory')
        pack.entry({ name: `${f.path}/`, type: 'directory', mode: f.mode ?? 0o755, mtime }, done);
      else if (f.type === 'symlink')
        pack.entry({ name: f.path, type: 'symlink', linkname: f.linkname, mode: 0o777, mtime }, done);
      else pack.entry({ name: f.path, mode: f.mode ?? 0o644, mtime }, f.content ?? Buffer.alloc(0), done);
    });
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

async function writeBlob(layoutDir: string, data: Buffer): Promise<{ digest: string; path: string }> {
  const digest = sha256(data);
  const path = join(layoutDir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  await writeFile(path, data);
  return { digest, path };
}

/** Tars a directory tree (regular files and directories only, as an OCI layout holds). */
async function archiveDirectory(dir: string, out: string): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  const walk = async (current: string): Promise<void> => {
    for (const entry of (await readdir(current, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const full = join(current, entry.name);
      const name = relative(dir, full);
      if (entry.isDirectory()) {
        pack.entry({ name: `${name}/`, type: 'directory', mode: 0o755 });
        await walk(full);
      } else {
        const data = await readFile(full);
        await new Promise<void>((resolve, reject) =>
          pack.entry({ name, mode: 0o644 }, data, (err) => (err ? reject(err) : resolve())),
        );
      }
    }
  };
  await walk(dir);
  pack.finalize();
  await ended;
  await writeFile(out, Buffer.concat(chunks));
}

/**
 * Writes a one-layer linux/amd64 image as an OCI layout under `dir/<basename>` plus `<basename>.tar`.
 * `name` must be a full reference with a tag (`host/path:tag`).
 */
export async function buildImage(
  dir: string,
  basename: string,
  name: string,
  files: readonly ImageFile[],
  config: { entrypoint?: string[]; cmd?: string[] },
): Promise<BuiltImage> {
  const tag = /:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/.exec(name)?.[1];
  if (!tag || !name.includes('/'))
    throw new InvalidArgumentError(`image name ${JSON.stringify(name)} must look like host/path:tag`);
  const layoutDir = join(dir, basename);
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  const layerTar = await tarOf(files);
  const diffId = sha256(layerTar);
  const layer = await writeBlob(layoutDir, gzipSync(layerTar));
  const layerSize = (await stat(layer.path)).size;
  const entrypoint = config.entrypoint ?? [];
  const cmd = config.cmd ?? [];
  const configJson = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {
        Env: ['PATH=/bin'],
        ...(entrypoint.length ? { Entrypoint: entrypoint } : {}),
        ...(cmd.length ? { Cmd: cmd } : {}),
        WorkingDir: '/',
      },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created_by: 'berth bench/containerd/images.ts' }],
    }),
  );
  const configBlob = await writeBlob(layoutDir, configJson);
  const manifestJson = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: { mediaType: MEDIA.config, digest: configBlob.digest, size: configJson.length },
      layers: [{ mediaType: MEDIA.layerGzip, digest: layer.digest, size: layerSize }],
    }),
  );
  const manifest = await writeBlob(layoutDir, manifestJson);
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA.index,
    manifests: [
      {
        mediaType: MEDIA.manifest,
        digest: manifest.digest,
        size: manifestJson.length,
        platform: { architecture: 'amd64', os: 'linux' },
        // containerd's importer takes the full name from the first; other tools read the tag.
        annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': tag },
      },
    ],
  };
  await writeFile(join(layoutDir, 'index.json'), JSON.stringify(index));
  await writeFile(join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const archivePath = join(dir, `${basename}.tar`);
  await archiveDirectory(layoutDir, archivePath);
  return {
    name,
    layoutDir,
    archivePath,
    manifestDigest: manifest.digest,
    layer: { path: layer.path, digest: layer.digest, mediaType: MEDIA.layerGzip, diffId },
    entrypoint,
    cmd,
  };
}

function skeleton(): ImageFile[] {
  return [
    ...['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root'].map((path): ImageFile => ({
      path,
      type: 'directory',
      ...(path === 'tmp' ? { mode: 0o1777 } : {}),
    })),
    { path: 'etc/passwd', type: 'file', content: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') },
    { path: 'etc/group', type: 'file', content: Buffer.from('root:x:0:\n') },
  ];
}

/** The `tiny` image: /bin/busybox (Debian's busybox-static) with /bin/sh, /bin/echo, /bin/sleep… links. */
export async function buildTinyImage(
  dir: string,
  name = 'berth.local/bench/tiny:latest',
): Promise<BuiltImage> {
  const busybox = await readFile('/bin/busybox').catch((err: unknown) => {
    throw new InvalidArgumentError('/bin/busybox is missing: install busybox-static', { cause: err });
  });
  const files: ImageFile[] = [
    ...skeleton(),
    { path: 'bin/busybox', type: 'file', content: busybox, mode: 0o755 },
    ...TINY_APPLETS.map((a): ImageFile => ({ path: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
  ];
  return buildImage(dir, 'tiny', name, files, { cmd: ['/bin/sh'] });
}

/** Source of /pause: sleeps until SIGTERM or SIGINT, and reaps children it inherits as a PID 1 must. */
const PAUSE_SOURCE = `#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  signal(SIGTERM, quit);
  signal(SIGINT, quit);
  signal(SIGCHLD, reap);
  for (;;) pause();
}
`;

/** The `pause` image for the CRI plugin's sandbox_image: a static /pause compiled here with gcc. */
export async function buildPauseImage(
  dir: string,
  name = 'berth.local/bench/pause:latest',
): Promise<BuiltImage> {
  const source = join(dir, 'pause.c');
  const binary = join(dir, 'pause-bin');
  await writeFile(source, PAUSE_SOURCE);
  await execFile('gcc', ['-static', '-Os', '-s', '-o', binary, source]);
  const files: ImageFile[] = [
    ...skeleton(),
    { path: 'pause', type: 'file', content: await readFile(binary), mode: 0o755 },
  ];
  return buildImage(dir, 'pause', name, files, { entrypoint: ['/pause'] });
}

/** Unpacks the image's layer into `target` (a plain directory) with Berth's own applyLayer. */
export async function unpackImage(image: BuiltImage, target: string): Promise<void> {
  await mkdir(target, { recursive: true });
  await applyLayer(createReadStream(image.layer.path), image.layer.mediaType, target, {
    mode: 'native',
    expectedDiffId: image.layer.diffId,
  });
}
