/**
 * decodeLayer: large layers are decompressed and hashed on the decoding thread, from a blob file
 * or a stream; the bytes and diff ids match, broken data is CorruptLayerError, a reader that
 * stops early or reads slowly bounds what the thread decodes ahead, and the thread stays usable.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from '../../src/common/exec.js';
import { decodeCounts, decodeLayer, WORKER_MIN_BYTES } from '../../src/unpack/decode.js';
import { CorruptLayerError } from '../../src/unpack/errors.js';
import { randomBytesSeeded } from '../helpers/oci-images.js';
import { gzip, sha256, zstd } from './layers.js';

/** 24 MiB: half incompressible, half repetitive, so every compression yields a multi-megabyte blob. */
const DATA = Buffer.concat([randomBytesSeeded(12 << 20, 7), Buffer.alloc(12 << 20, 'berth decode ')]);
const DIFF_ID = sha256(DATA);

let dir: string;
const blobs: Record<'gzip' | 'zstd', string> = { gzip: '', zstd: '' };
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-decode-'));
  blobs.gzip = join(dir, 'layer.gz');
  blobs.zstd = join(dir, 'layer.zst');
  await writeFile(blobs.gzip, gzip(DATA));
  await writeFile(blobs.zstd, zstd(DATA));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A stream source (not a whole file), delivered in uneven chunks like a download. */
function chunked(buf: Buffer): Readable {
  const out = new PassThrough();
  void (async () => {
    for (let off = 0; off < buf.length;) {
      const n = 1000 + ((off * 7919) % 70_000);
      if (!out.write(buf.subarray(off, off + n))) await new Promise((r) => out.once('drain', r));
      off += n;
    }
    out.end();
  })();
  return out;
}

/** zstd processes reading this test's blob (other tests' zstd processes are not counted). */
const zstdRunning = async (): Promise<number> =>
  Number((await execFile('sh', ['-c', 'pgrep -c -f -- "$1" || true', 'sh', `^zstd .*${blobs.zstd}`])).trim());

describe('decodeLayer', () => {
  for (const compression of ['gzip', 'zstd'] as const) {
    it(`decodes a large ${compression} blob on the decoding thread, from its file and from a stream`, async () => {
      const before = decodeCounts.worker;
      let progress = 0;
      const fromFile = decodeLayer(createReadStream(blobs[compression]), compression, {
        onProgress: (n) => (progress = n),
      });
      expect((await readAll(fromFile.output)).equals(DATA)).toBe(true);
      expect(await fromFile.result).toEqual({ diffId: DIFF_ID, size: DATA.length });
      expect(progress).toBe(DATA.length);

      const blob = compression === 'gzip' ? gzip(DATA) : zstd(DATA);
      const fromStream = decodeLayer(chunked(blob), compression);
      expect((await readAll(fromStream.output)).equals(DATA)).toBe(true);
      expect(await fromStream.result).toEqual({ diffId: DIFF_ID, size: DATA.length });
      expect(decodeCounts.worker - before).toBe(2);
    });
  }

  it('decodes small blobs and uncompressed layers in-process, with the same results', async () => {
    const small = DATA.subarray(0, 64 * 1024);
    const before = { ...decodeCounts };
    for (const [compression, blob] of [
      ['gzip', gzip(small)],
      ['none', small],
    ] as const) {
      const d = decodeLayer(Readable.from([blob]), compression, { compressedSize: blob.length });
      expect((await readAll(d.output)).equals(small)).toBe(true);
      expect(await d.result).toEqual({ diffId: sha256(small), size: small.length });
    }
    expect(decodeCounts.inProcess - before.inProcess).toBe(2);
    expect(decodeCounts.worker).toBe(before.worker);
    expect(gzip(small).length).toBeLessThan(WORKER_MIN_BYTES);
  });

  it('refuses broken gzip and zstd data on the thread as CorruptLayerError, from a file and a stream', async () => {
    const gz = gzip(DATA);
    gz[gz.length - 6] = (gz[gz.length - 6] ?? 0) ^ 0xff; // breaks the CRC
    const zs = zstd(DATA).subarray(0, 3 << 20); // truncated
    const badGzip = join(dir, 'bad.gz');
    await writeFile(badGzip, gz);
    for (const [compression, source] of [
      ['gzip', () => createReadStream(badGzip)],
      ['gzip', () => chunked(gz)],
      ['zstd', () => chunked(zs)],
    ] as const) {
      const d = decodeLayer(source(), compression);
      const reading = readAll(d.output);
      await expect(d.result).rejects.toThrow(CorruptLayerError);
      await expect(reading).rejects.toThrow(CorruptLayerError);
    }
    // The thread is still there for the next layer.
    const next = decodeLayer(createReadStream(blobs.gzip), 'gzip');
    await readAll(next.output);
    expect((await next.result).diffId).toBe(DIFF_ID);
  });

  it('reports a stream source that fails as that failure, not as corrupt data', async () => {
    const source = new PassThrough();
    const d = decodeLayer(source, 'gzip');
    source.write(gzip(DATA).subarray(0, 2 << 20));
    source.destroy(new Error('connection reset by the registry'));
    await expect(d.result).rejects.toThrow('connection reset by the registry');
    await expect(d.result).rejects.not.toThrow(CorruptLayerError);
  });

  it('fails, instead of waiting forever, when a stream source is closed before its end', async () => {
    const source = new PassThrough();
    const d = decodeLayer(source, 'gzip');
    source.write(gzip(DATA).subarray(0, 2 << 20));
    source.destroy(); // no error: a download given up on
    await expect(d.result).rejects.toThrow(/premature close/i);
  });

  it('passes on what a stream source delivered so far, without waiting for a full batch', async () => {
    const source = new PassThrough();
    const d = decodeLayer(source, 'gzip');
    const blob = gzip(DATA);
    source.write(blob.subarray(0, 300_000)); // well under one 1 MiB batch once decompressed
    const first = await new Promise<Buffer>((resolve) =>
      d.output.once('data', (chunk: Buffer) => {
        d.output.pause(); // nothing flows past until readAll below attaches
        resolve(chunk);
      }),
    );
    expect(first.length).toBeGreaterThan(0);
    expect(first.equals(DATA.subarray(0, first.length))).toBe(true);
    source.end(blob.subarray(300_000));
    const rest = await readAll(d.output);
    expect(Buffer.concat([first, rest]).equals(DATA)).toBe(true);
  });

  it('decodes only a bounded amount ahead of a reader that does not read', async () => {
    const d = decodeLayer(createReadStream(blobs.gzip), 'gzip');
    let decoded = 0;
    const watched = decodeLayer(createReadStream(blobs.zstd), 'zstd', { onProgress: (n) => (decoded = n) });
    watched.output.pause();
    await new Promise((r) => setTimeout(r, 500));
    // 16 batches of 1 MiB in flight plus the few the reader buffers (2 MiB), of 24 MiB.
    expect(decoded).toBeGreaterThan(0);
    expect(decoded).toBeLessThanOrEqual(20 << 20);
    // Meanwhile another layer decodes to its end: one slow reader does not hold up the thread.
    expect((await readAll(d.output)).equals(DATA)).toBe(true);
    expect((await readAll(watched.output)).equals(DATA)).toBe(true);
    expect((await watched.result).diffId).toBe(DIFF_ID);
  });

  it('stops decoding, and kills zstd, when the reader gives up early', async () => {
    const d = decodeLayer(createReadStream(blobs.zstd), 'zstd');
    for await (const _ of d.output) break; // destroys the output after the first batch
    await expect(d.result).rejects.toThrow(); // the reason the reader stopped
    await expect(d.result).rejects.not.toThrow(CorruptLayerError);
    for (let i = 0; i < 50 && (await zstdRunning()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await zstdRunning()).toBe(0);
    const next = decodeLayer(createReadStream(blobs.zstd), 'zstd');
    await readAll(next.output);
    expect((await next.result).diffId).toBe(DIFF_ID);
  });
});
