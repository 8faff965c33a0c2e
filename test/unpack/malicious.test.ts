/**
 * The malicious-layer corpus: every escape technique is refused with an error naming the entry
 * (or, for absolute symlinks, which images use legitimately, contained inside the root), and a
 * sentinel file outside the snapshot is unchanged after each.
 */
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CorruptLayerError, InvalidLayerEntryError, UnsafeLayerEntryError } from '../../src/unpack/errors.js';
import { applyLayer, type ApplyMode } from '../../src/unpack/index.js';
import { decodeCounts } from '../../src/unpack/decode.js';
import { randomBytesSeeded } from '../helpers/oci-images.js';
import { buildTar, gzip, MEDIA, streamOf, type LayerEntry } from './layers.js';

let outer: string;
let root: string;
let sentinel: string;

beforeEach(async () => {
  outer = await mkdtemp(join(tmpdir(), 'berth-evil-'));
  root = join(outer, 'root');
  sentinel = join(outer, 'sentinel');
  await mkdir(root);
  await writeFile(sentinel, 'untouched');
});
afterEach(async () => {
  await rm(outer, { recursive: true, force: true });
});

async function apply(
  entries: LayerEntry[],
  mode: ApplyMode = 'native',
  lowerDirs: string[] = [],
): Promise<unknown> {
  const layer = await buildTar(entries);
  return applyLayer(streamOf(layer), MEDIA.tar, root, { mode, lowerDirs }).then(
    () => undefined,
    (e: unknown) => e,
  );
}

async function expectSentinelIntact(): Promise<void> {
  expect(await readFile(sentinel, 'utf8')).toBe('untouched');
  expect((await lstat(sentinel)).nlink).toBe(1);
  expect((await readdir(outer)).sort()).toEqual(['root', 'sentinel']);
}

/** A layer ending with an entry that must be refused: the error is typed and names that entry. */
const refused: Array<
  [string, LayerEntry[], string, typeof UnsafeLayerEntryError | typeof InvalidLayerEntryError]
> = [
  ['a name with ..', [{ name: '../sentinel', data: 'pwned' }], '../sentinel', UnsafeLayerEntryError],
  [
    'a name whose .. climbs after a directory',
    [
      { name: 'a/', type: 'directory' },
      { name: 'a/../../sentinel', data: 'pwned' },
    ],
    'a/../../sentinel',
    UnsafeLayerEntryError,
  ],
  [
    'an absolute name',
    [{ name: '/tmp/berth-evil-absolute', data: 'pwned' }],
    '/tmp/berth-evil-absolute',
    UnsafeLayerEntryError,
  ],
  [
    'a symlink pointing out, written through',
    [
      { name: 'esc', type: 'symlink', linkname: '../' },
      { name: 'esc/sentinel', data: 'pwned' },
    ],
    'esc/sentinel',
    UnsafeLayerEntryError,
  ],
  [
    'a chain of symlinks pointing out',
    [
      { name: 'a', type: 'symlink', linkname: 'b' },
      { name: 'b', type: 'symlink', linkname: 'sub/c' },
      { name: 'sub/', type: 'directory' },
      { name: 'sub/c', type: 'symlink', linkname: '../../..' },
      { name: 'a/sentinel', data: 'pwned' },
    ],
    'a/sentinel',
    UnsafeLayerEntryError,
  ],
  [
    'a symlink loop',
    [
      { name: 'loop', type: 'symlink', linkname: 'loop' },
      { name: 'loop/x', data: 'x' },
    ],
    'loop/x',
    UnsafeLayerEntryError,
  ],
  [
    'a hardlink to an outside file by ..',
    [{ name: 'hl', type: 'link', linkname: '../sentinel' }],
    'hl',
    UnsafeLayerEntryError,
  ],
  [
    'a hardlink to an absolute path',
    [{ name: 'hl', type: 'link', linkname: '/etc/passwd' }],
    'hl',
    UnsafeLayerEntryError,
  ],
  [
    'a hardlink through a symlinked directory pointing out',
    [
      { name: 'up', type: 'symlink', linkname: '../..' },
      { name: 'hl', type: 'link', linkname: 'up/sentinel' },
    ],
    'hl',
    UnsafeLayerEntryError,
  ],
  [
    'a directory swapped for a symlink mid-layer',
    [
      { name: 'd/', type: 'directory' },
      { name: 'd/x', data: 'x' },
      { name: 'd', type: 'symlink', linkname: '..' },
      { name: 'd/sentinel', data: 'pwned' },
    ],
    'd/sentinel',
    UnsafeLayerEntryError,
  ],
  [
    'a whiteout of ..',
    [
      { name: 'a/', type: 'directory' },
      { name: 'a/.wh...', data: '' },
    ],
    'a/.wh...',
    UnsafeLayerEntryError,
  ],
  [
    'a whiteout climbing out',
    [{ name: '../.wh.sentinel', data: '' }],
    '../.wh.sentinel',
    UnsafeLayerEntryError,
  ],
  [
    'a path component over 255 bytes',
    [{ name: `${'x'.repeat(300)}`, data: 'x' }],
    'xxxxxxxx',
    UnsafeLayerEntryError,
  ],
  [
    'a path over 4096 bytes',
    [{ name: `${'abcdefgh/'.repeat(500)}f`, data: 'x' }],
    'abcdefgh/',
    UnsafeLayerEntryError,
  ],
  [
    'a hardlink to a missing file',
    [{ name: 'hl', type: 'link', linkname: 'nothing/here' }],
    'hl',
    InvalidLayerEntryError,
  ],
  [
    'a file under a regular file',
    [
      { name: 'f', data: 'x' },
      { name: 'f/child', data: 'y' },
    ],
    'f/child',
    InvalidLayerEntryError,
  ],
];

describe('malicious layers', () => {
  for (const mode of ['native', 'overlay'] as const) {
    for (const [what, entries, entryName, ErrorType] of refused) {
      it(`${mode}: refuses ${what}, naming the entry, and leaves the sentinel intact`, async () => {
        const err = await apply(entries, mode);
        expect(err).toBeInstanceOf(ErrorType);
        expect((err as Error).message).toContain(entryName);
        await expectSentinelIntact();
      });
    }
  }

  it('refuses each of them the same way from a large gzip layer, decoded on the decoding thread', async () => {
    const padding: LayerEntry = { name: 'padding.bin', data: randomBytesSeeded(1536 * 1024, 3) };
    const before = decodeCounts.worker;
    for (const [what, entries, entryName, ErrorType] of refused) {
      const blob = gzip(await buildTar([padding, ...entries]));
      const err = await applyLayer(streamOf(blob), MEDIA.gzip, root, {
        mode: 'overlay',
        compressedSize: blob.length,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, what).toBeInstanceOf(ErrorType);
      expect((err as Error).message, what).toContain(entryName);
      await expectSentinelIntact();
      await rm(root, { recursive: true, force: true });
      await mkdir(root);
    }
    expect(decodeCounts.worker - before).toBe(refused.length);
  });

  it('refuses a write through a symlink an earlier layer planted (overlay lower layer and native copy)', async () => {
    const lower = join(outer, 'root-lower');
    await mkdir(lower);
    const planted = await buildTar([{ name: 'etc', type: 'symlink', linkname: '../../..' }]);
    await applyLayer(streamOf(planted), MEDIA.tar, lower, { mode: 'overlay' });
    const err = await apply([{ name: 'etc/passwd', data: 'pwned' }], 'overlay', [lower]);
    expect(err).toBeInstanceOf(UnsafeLayerEntryError);
    expect((err as Error).message).toContain('etc/passwd');
    await rm(lower, { recursive: true });
    await expectSentinelIntact();

    await applyLayer(streamOf(planted), MEDIA.tar, root, { mode: 'native' });
    const again = await apply([{ name: 'etc/passwd', data: 'pwned' }], 'native');
    expect(again).toBeInstanceOf(UnsafeLayerEntryError);
    await expectSentinelIntact();
  });

  it('resolves absolute symlinks inside the root (as the container sees them), never on the host', async () => {
    const err = await apply([
      { name: 'abs', type: 'symlink', linkname: outer },
      { name: 'abs/sentinel', data: 'inside' },
      { name: 'absdir', type: 'symlink', linkname: '/' },
      { name: 'hl', type: 'link', linkname: 'absdir/abs/sentinel' },
    ]);
    expect(err).toBeUndefined();
    await expectSentinelIntact();
    expect(await readFile(join(root, outer, 'sentinel'), 'utf8')).toBe('inside');
    expect((await lstat(join(root, 'hl'))).ino).toBe((await lstat(join(root, outer, 'sentinel'))).ino);
  });

  it('replaces a symlink pointing out by a file of the same name instead of writing through it', async () => {
    const err = await apply([
      { name: 's', type: 'symlink', linkname: sentinel },
      { name: 's', data: 'replaced' },
      { name: 'dev/', type: 'directory' },
      { name: 'dev/out', type: 'symlink', linkname: '../../sentinel' },
      { name: 'dev/out', type: 'fifo' },
    ]);
    expect(err).toBeUndefined();
    await expectSentinelIntact();
    expect(await readFile(join(root, 's'), 'utf8')).toBe('replaced');
    expect((await lstat(join(root, 'dev/out'))).isFIFO()).toBe(true);
  });

  it('refuses an entry whose declared size is absurd (8 GiB with 10 bytes of data), naming it', async () => {
    const err = await apply([
      { name: 'ok', data: 'fine' },
      { name: 'huge', data: '0123456789', size: 0o77777777777 },
    ]);
    expect(err).toBeInstanceOf(CorruptLayerError);
    expect((err as Error).message).toContain('huge');
    await expectSentinelIntact();
  });

  it('refuses a layer with more entries than the limit', async () => {
    const layer = await buildTar(Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, data: 'x' })));
    const err = await applyLayer(streamOf(layer), MEDIA.tar, root, { mode: 'native', maxEntries: 3 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UnsafeLayerEntryError);
    expect((err as Error).message).toContain('f3');
  });
});
