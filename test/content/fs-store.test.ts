import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, NotFoundError, UnavailableError } from '../../src/common/errors.js';
import {
  DigestMismatchError,
  FsContentStore,
  SizeMismatchError,
  digestOf,
  parseDigest,
  type Digest,
} from '../../src/content/index.js';

let root: string;
let store: FsContentStore;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'berth-content-'));
  store = new FsContentStore(root);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function put(data: string, labels?: Record<string, string>): Promise<Digest> {
  const digest = digestOf(data);
  const w = await store.writer(`put-${digest}`);
  await w.write(Buffer.from(data));
  await w.commit({ digest, size: Buffer.byteLength(data), labels });
  return digest;
}

describe('FsContentStore writes', () => {
  it('commits by rename into blobs/sha256/<hex> only after verifying, leaving no ingest', async () => {
    const data = 'hello content';
    const digest = digestOf(data);
    const w = await store.writer('ref-1', { expected: { digest, size: data.length } });
    await w.write(Buffer.from('hello '));
    expect(await store.has(digest)).toBe(false);
    await w.write(Buffer.from('content'));
    const info = await w.commit({ digest, size: data.length, labels: { a: 'b' } });
    expect(info).toMatchObject({ digest, size: data.length, labels: { a: 'b' } });
    expect(await readdir(path.join(root, 'content', 'blobs', 'sha256'))).toEqual([digest.slice(7)]);
    expect(await text(await store.readStream(digest))).toBe(data);
    expect(await store.listIngests()).toEqual([]);
  });

  it('refuses a digest mismatch naming both digests and commits nothing', async () => {
    const claimed = digestOf('what the registry said');
    const w = await store.writer('ref-bad');
    await w.write(Buffer.from('what it sent'));
    const err = await w.commit({ digest: claimed }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as Error).message).toContain(claimed);
    expect((err as Error).message).toContain(digestOf('what it sent'));
    expect(await store.has(claimed)).toBe(false);
    expect(await store.list()).toEqual([]);
    expect(await store.listIngests()).toEqual([]);
  });

  it('refuses a size mismatch and commits nothing', async () => {
    const digest = digestOf('abc');
    const w = await store.writer('ref-size');
    await w.write(Buffer.from('abc'));
    await expect(w.commit({ digest, size: 4 })).rejects.toBeInstanceOf(SizeMismatchError);
    expect(await store.has(digest)).toBe(false);
  });

  it('resumes an ingest at its offset with the hash recomputed from the partial file', async () => {
    const data = 'first half|second half';
    const digest = digestOf(data);
    const w1 = await store.writer('resume', { expected: { digest, size: data.length } });
    await w1.write(Buffer.from('first half|'));
    await w1.close();
    const status = await store.ingestStatus('resume');
    expect(status).toMatchObject({ ref: 'resume', offset: 11, total: data.length, expected: digest });

    const w2 = await store.writer('resume');
    expect(w2.offset).toBe(11);
    await w2.write(Buffer.from('second half'));
    await w2.commit({ digest, size: data.length });
    expect((await store.readAll(digest)).toString()).toBe(data);
  });

  it('resumes after a writer process died holding the lock (stale lock file)', async () => {
    const w1 = await store.writer('stale');
    await w1.write(Buffer.from('abc'));
    await w1.close();
    // A lock file left by a process that no longer exists.
    await writeFile(path.join(store.ingestDir('stale'), 'lock'), '999999999');
    const w2 = await store.writer('stale');
    expect(w2.offset).toBe(3);
    await w2.abort();
  });

  it('allows one writer per ref at a time', async () => {
    const w1 = await store.writer('busy');
    await expect(store.writer('busy')).rejects.toBeInstanceOf(UnavailableError);
    await w1.close();
    const w2 = await store.writer('busy');
    await w2.abort();
    expect(await store.ingestStatus('busy')).toBeUndefined();
  });

  it('concurrent writers of one digest under different refs yield one intact blob', async () => {
    const data = Buffer.alloc(256 * 1024, 7);
    for (let i = 0; i < data.length; i += 4096) data[i] = i % 251;
    const digest = digestOf(data);
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const w = await store.writer(`racer-${i}`);
        for (let off = 0; off < data.length; off += 10_000) await w.write(data.subarray(off, off + 10_000));
        await w.commit({ digest, size: data.length, labels: { [`racer-${i}`]: 'yes' } });
      }),
    );
    const blobs = await store.list();
    expect(blobs.map((b) => b.digest)).toEqual([digest]);
    expect(digestOf(await store.readAll(digest))).toBe(digest);
    expect(await store.listIngests()).toEqual([]);
  });
});

describe('FsContentStore reads, labels, delete', () => {
  it('reads ranges and refuses ranges past the end', async () => {
    const digest = await put('0123456789');
    expect(await text(await store.readStream(digest, { offset: 3, length: 4 }))).toBe('3456');
    expect(await text(await store.readStream(digest, { offset: 7 }))).toBe('789');
    expect(await text(await store.readStream(digest, { offset: 10 }))).toBe('');
    await expect(store.readStream(digest, { offset: 11 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(store.readStream(digest, { offset: 8, length: 5 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });

  it('reports missing content as NotFoundError naming the digest', async () => {
    const d = digestOf('nothing');
    await expect(store.info(d)).rejects.toThrow(new NotFoundError(`content ${d} not found`));
    await expect(store.delete(d)).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.readStream(d)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('sets labels, deletes blobs and their labels', async () => {
    const d = await put('labelled');
    expect((await store.setLabels(d, { x: '1' })).labels).toEqual({ x: '1' });
    await store.delete(d);
    expect(await store.has(d)).toBe(false);
    expect(await readdir(path.join(root, 'content', 'labels', 'sha256'))).toEqual([]);
  });
});

describe('digest validation', () => {
  it.each([
    ['sha256:../../etc/passwd', /64 lowercase hex/],
    ['sha256:' + 'A'.repeat(64), /64 lowercase hex/],
    ['sha256:' + 'a'.repeat(63), /64 lowercase hex/],
    ['sha512:' + 'a'.repeat(128), /unsupported digest algorithm "sha512"/],
    ['md5:abc', /unsupported digest algorithm "md5"/],
    ['../x:abc', /malformed algorithm/],
    ['nocolon', /expected "sha256:/],
  ])('refuses %s', (value, why) => {
    expect(() => parseDigest(value)).toThrow(InvalidArgumentError);
    expect(() => parseDigest(value)).toThrow(why);
  });

  it('refuses path traversal in every store operation before touching the disk', async () => {
    const evil = 'sha256:../../../../tmp/evil' as Digest;
    await expect(store.info(evil)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(store.delete(evil)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(store.readStream(evil)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(store.writer('x', { expected: { digest: evil } })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    const w = await store.writer('y');
    await w.write(Buffer.from('z'));
    await expect(w.commit({ digest: evil })).rejects.toThrow(/64 lowercase hex/);
    await w.abort();
    await expect(store.gc([evil])).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('keeps ingest refs from naming paths', () => {
    const dir = store.ingestDir('../../../etc');
    expect(path.dirname(dir)).toBe(path.join(root, 'content', 'ingest'));
  });
});

describe('pruneIngests', () => {
  it('removes abandoned ingests older than the cutoff, keeping held and recent ones', async () => {
    const old = await store.writer('abandoned');
    await old.write(Buffer.from('partial'));
    await old.close();
    const held = await store.writer('held');
    await held.write(Buffer.from('x'));
    await held.close();
    const heldAgain = await store.writer('held');
    const cutoff = new Date(Date.now() + 60_000); // everything so far counts as old
    expect(await store.pruneIngests(cutoff)).toEqual(['abandoned']);
    expect((await store.listIngests()).map((i) => i.ref)).toEqual(['held']);
    expect(await store.pruneIngests(new Date(0))).toEqual([]);
    await heldAgain.abort();
  });
});

describe('gc', () => {
  it('removes blobs unreachable from the roots through gc.ref.content labels', async () => {
    const layer1 = await put('layer 1');
    const layer2 = await put('layer 2');
    const config = await put('config');
    const manifest = await put('manifest', {
      'containerd.io/gc.ref.content.config': config,
      'containerd.io/gc.ref.content.l.0': layer1,
      'containerd.io/gc.ref.content.l.1': layer2,
    });
    const index = await put('index', { 'containerd.io/gc.ref.content.m.0': manifest });
    const orphan = await put('orphan layer');
    const orphanManifest = await put('orphan manifest', { 'containerd.io/gc.ref.content.l.0': orphan });
    // A stray labels file without its blob is cleaned too.
    await mkdir(path.join(root, 'content', 'labels', 'sha256'), { recursive: true });
    await writeFile(path.join(root, 'content', 'labels', 'sha256', `${'f'.repeat(64)}.json`), '{}');

    const { removed } = await store.gc([index]);
    expect(removed.sort()).toEqual([orphan, orphanManifest].sort());
    expect((await store.list()).map((b) => b.digest).sort()).toEqual(
      [index, manifest, config, layer1, layer2].sort(),
    );
    expect((await readdir(path.join(root, 'content', 'labels', 'sha256'))).sort()).toEqual(
      [`${index.slice(7)}.json`, `${manifest.slice(7)}.json`].sort(),
    );
  });

  it('with no roots removes everything, and leaves ingests alone', async () => {
    await put('a');
    const w = await store.writer('in-progress');
    await w.write(Buffer.from('partial'));
    await w.close();
    await store.gc([]);
    expect(await store.list()).toEqual([]);
    expect((await store.ingestStatus('in-progress'))?.offset).toBe(7);
  });
});
