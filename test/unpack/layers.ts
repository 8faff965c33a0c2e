/** Test helpers: building tar layers (tar-stream), with byte-exact PAX xattrs, and compressing them. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

export interface LayerEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  data?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  mtime?: Date;
  xattrs?: Record<string, Buffer | string>;
  /** Declared size, when it must differ from the data (truncated-entry tests). */
  size?: number;
}

const MTIME = new Date('2024-05-01T12:00:00Z');

/** A PAX record `<len> key=value\n`, whose length counts its own digits. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** A minimal ustar header block: enough for PAX headers and lying entries tar-stream will not write. */
export function rawHeader(name: string, size: number, typeflag: string): Buffer {
  const b = Buffer.alloc(512);
  const oct = (v: number, off: number, len: number): void =>
    void b.write(v.toString(8).padStart(len - 1, '0') + '\0', off, 'latin1');
  b.write(name.slice(0, 100), 0, 'utf8');
  oct(0o644, 100, 8);
  oct(0, 108, 8);
  oct(0, 116, 8);
  oct(size, 124, 12);
  oct(Math.floor(MTIME.getTime() / 1000), 136, 12);
  b.write(typeflag, 156, 'latin1');
  b.write('ustar\u000000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

const pad = (n: number): Buffer => Buffer.alloc((512 - (n % 512)) % 512);

export async function buildTar(entries: readonly LayerEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    if (e.xattrs) {
      // tar-stream writes PAX values as UTF-8 text: binary xattrs need a hand-made PAX header.
      const pax = Buffer.concat(
        Object.entries(e.xattrs).map(([k, v]) => paxRecord(`SCHILY.xattr.${k}`, Buffer.from(v))),
      );
      pack.push(Buffer.concat([rawHeader('PaxHeader', pax.length, 'x'), pax, pad(pax.length)]));
    }
    const data = e.data === undefined ? undefined : Buffer.from(e.data);
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? MTIME,
      linkname: e.linkname,
      devmajor: e.devmajor,
      devminor: e.devminor,
      size: e.size ?? (type === 'file' ? (data?.length ?? 0) : 0),
    };
    if (e.size !== undefined && data && e.size > data.length) {
      // A lying header: the header and the short data, and the archive stops there.
      pack.push(Buffer.concat([rawHeader(e.name, e.size, '0'), data]));
      pack.push(null);
      await ended;
      return Buffer.concat(chunks);
    }
    await new Promise<void>((res, rej) => {
      const done = (err?: Error | null): void => (err ? rej(err) : res());
      if (type === 'file') pack.entry(header, data ?? Buffer.alloc(0), done);
      else pack.entry(header, done);
    });
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

export function sha256(buf: Buffer): string {
  return 'sha256:' + createHash('sha256').update(buf).digest('hex');
}

export function gzip(buf: Buffer): Buffer {
  return gzipSync(buf);
}

export function zstd(buf: Buffer): Buffer {
  const r = spawnSync('zstd', ['-c', '-q'], { input: buf, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`);
  return r.stdout;
}

export function streamOf(buf: Buffer): Readable {
  return Readable.from([buf]);
}

export const MEDIA = {
  tar: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;
