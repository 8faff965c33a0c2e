/** applyLayer: formats, metadata, OCI whiteout representations per mode, and stream errors. */
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CorruptLayerError, UnsupportedMediaTypeError } from '../../src/unpack/errors.js';
import { applyLayer, compressionOf } from '../../src/unpack/index.js';
import { SysOps } from '../../src/unpack/sysops.js';
import { decodeCounts, WORKER_MIN_BYTES } from '../../src/unpack/decode.js';
import { randomBytesSeeded } from '../helpers/oci-images.js';
import { buildTar, gzip, MEDIA, rawHeader, sha256, streamOf, zstd } from './layers.js';

let dir: string;
let sys: SysOps;
beforeAll(() => {
  sys = new SysOps();
});
afterAll(async () => {
  await sys.close();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-apply-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('formats and diff ids', () => {
  it('maps OCI and Docker media types to their compression, and refuses others by name', () => {
    expect(compressionOf(MEDIA.tar)).toBe('none');
    expect(compressionOf(MEDIA.gzip)).toBe('gzip');
    expect(compressionOf(MEDIA.zstd)).toBe('zstd');
    expect(compressionOf(MEDIA.dockerGzip)).toBe('gzip');
    expect(compressionOf('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip')).toBe('gzip');
    expect(() => compressionOf('application/vnd.oci.image.layer.v1.tar+bzip2')).toThrow(
      UnsupportedMediaTypeError,
    );
    expect(() => compressionOf('application/vnd.oci.image.layer.v1.tar+bzip2')).toThrow(/tar\+bzip2/);
  });

  it('gives the same diff id and tree for plain, gzip and zstd blobs of one tar', async () => {
    const tar = await buildTar([{ name: 'f', data: 'same' }]);
    for (const [media, blob] of [
      [MEDIA.tar, tar],
      [MEDIA.gzip, gzip(tar)],
      [MEDIA.zstd, zstd(tar)],
    ] as const) {
      const target = join(dir, media.replace(/\W/g, '_'));
      await mkdir(target);
      const r = await applyLayer(streamOf(blob), media, target, {
        mode: 'native',
        expectedDiffId: sha256(tar),
      });
      expect(r.diffId).toBe(sha256(tar));
      expect(r.size).toBe(tar.length);
      expect(await readFile(join(target, 'f'), 'utf8')).toBe('same');
    }
  });

  it('streams a multi-megabyte zstd layer to its end', async () => {
    const big = Buffer.alloc(6 << 20);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    const tar = await buildTar([
      { name: 'big', data: big },
      { name: 'after', data: 'tail' },
    ]);
    const r = await applyLayer(streamOf(zstd(tar)), MEDIA.zstd, dir, {
      mode: 'overlay',
      expectedDiffId: sha256(tar),
    });
    expect(r.size).toBe(tar.length);
    expect((await stat(join(dir, 'big'))).size).toBe(big.length);
    expect(await readFile(join(dir, 'after'), 'utf8')).toBe('tail');
  });

  it('applies a zstd blob read from a whole file (zstd opens it itself) or from part of one, and refuses a corrupt file', async () => {
    const tar = await buildTar([{ name: 'f', data: 'from a file' }]);
    const blob = zstd(tar);
    const whole = join(dir, 'layer.tar.zst');
    await writeFile(whole, blob);
    const padded = join(dir, 'padded');
    await writeFile(padded, Buffer.concat([Buffer.from('junk'), blob]));
    const sources = [
      createReadStream(whole),
      createReadStream(padded, { start: 4 }), // not the whole file: piped through this process
    ];
    for (const [i, source] of sources.entries()) {
      const target = join(dir, `t${i}`);
      await mkdir(target);
      const r = await applyLayer(source, MEDIA.zstd, target, { mode: 'native', expectedDiffId: sha256(tar) });
      expect(r.diffId).toBe(sha256(tar));
      expect(await readFile(join(target, 'f'), 'utf8')).toBe('from a file');
    }
    expect(sources[0]?.bytesRead).toBe(0); // zstd read the whole file, not this process
    expect(sources[1]?.bytesRead).toBe(blob.length);
    const corrupt = join(dir, 'corrupt.zst');
    await writeFile(corrupt, blob.subarray(0, blob.length - 3));
    await expect(
      applyLayer(createReadStream(corrupt), MEDIA.zstd, join(dir, 't0'), { mode: 'native' }),
    ).rejects.toThrow(CorruptLayerError);
  });

  it('hashes every byte of a GNU tar, record padding included, and reports progress', async () => {
    const src = join(dir, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'sub', 'file'), 'gnu');
    const tarPath = join(dir, 'layer.tar');
    execFileSync('tar', ['-cf', tarPath, '-C', src, '.']);
    const bytes = await readFile(tarPath);
    expect(bytes.length % 10240).toBe(0);
    const target = join(dir, 't');
    await mkdir(target);
    let seen = 0;
    const r = await applyLayer(createReadStream(tarPath), MEDIA.tar, target, {
      mode: 'native',
      onProgress: (n) => (seen = n),
    });
    expect(r.diffId).toBe(sha256(bytes));
    expect(seen).toBe(bytes.length);
    expect(await readFile(join(target, 'sub', 'file'), 'utf8')).toBe('gnu');
  });

  it('refuses corrupt gzip, corrupt zstd and non-tar data as CorruptLayerError', async () => {
    const tar = await buildTar([{ name: 'f', data: 'x'.repeat(5000) }]);
    const gz = gzip(tar);
    gz[gz.length - 6] = (gz[gz.length - 6] ?? 0) ^ 0xff; // breaks the CRC
    await expect(applyLayer(streamOf(gz), MEDIA.gzip, dir, { mode: 'native' })).rejects.toThrow(
      CorruptLayerError,
    );
    await expect(
      applyLayer(streamOf(Buffer.from('not zstd at all')), MEDIA.zstd, dir, { mode: 'native' }),
    ).rejects.toThrow(CorruptLayerError);
    await expect(
      applyLayer(streamOf(Buffer.alloc(1024, 7)), MEDIA.tar, dir, { mode: 'native' }),
    ).rejects.toThrow(CorruptLayerError);
    await expect(
      applyLayer(streamOf(tar.subarray(0, 700)), MEDIA.tar, dir, { mode: 'native' }),
    ).rejects.toThrow(/"f"/);
  });
});

describe('filesystem errors', () => {
  it('name the entry and the errno, not corrupt data, for gzip and zstd, decoded in-process or on the thread', async () => {
    // A 512 KiB tmpfs: the 400 kB layer's second file does not fit, the 3 MB layer's first does not.
    const small = join(dir, 'small');
    await mkdir(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', small]);
    try {
      for (const [compression, size] of [
        ['gzip', 400_000],
        ['gzip', 3_000_000],
        ['zstd', 400_000],
        ['zstd', 3_000_000],
      ] as const) {
        const before = decodeCounts.worker;
        const tar = await buildTar([
          { name: 'first', data: randomBytesSeeded(size, 1) },
          { name: 'second', data: randomBytesSeeded(size, 2) },
        ]);
        const blob = compression === 'gzip' ? gzip(tar) : zstd(tar);
        const target = join(small, `${compression}-${size}`);
        await mkdir(target);
        const err = await applyLayer(streamOf(blob), MEDIA[compression], target, {
          mode: 'native',
          compressedSize: blob.length,
        }).catch((e: unknown) => e);
        expect(err).not.toBeInstanceOf(CorruptLayerError);
        expect((err as Error).message).toMatch(/ENOSPC/);
        expect((err as Error).message).toContain(size < 1e6 ? '"second"' : '"first"');
        // The small layer in-process, the large one on the decoding thread.
        expect(blob.length >= WORKER_MIN_BYTES).toBe(size > 1e6);
        expect(decodeCounts.worker - before).toBe(size > 1e6 ? 1 : 0);
        await rm(target, { recursive: true, force: true });
      }
    } finally {
      execFileSync('umount', [small]);
    }
  });
});

describe('hardlinks', () => {
  it('refuses a hardlink to itself or to a directory, naming the entry', async () => {
    const self = await buildTar([
      { name: 'f', data: 'x' },
      { name: 'f', type: 'link', linkname: 'f' },
    ]);
    await expect(applyLayer(streamOf(self), MEDIA.tar, dir, { mode: 'native' })).rejects.toThrow(
      /"f".*itself/,
    );
    const toDir = await buildTar([
      { name: 'd/', type: 'directory' },
      { name: 'l', type: 'link', linkname: 'd' },
    ]);
    await expect(applyLayer(streamOf(toDir), MEDIA.tar, dir, { mode: 'native' })).rejects.toThrow(
      /"l".*directory/,
    );
  });
});

describe('metadata', () => {
  it('keeps owners from PAX headers above the ustar range, sub-second PAX mtimes, and directory mtimes after their contents', async () => {
    const pax = (k: string, v: string): Buffer => {
      const body = ` ${k}=${v}\n`;
      let len = body.length + 2;
      while (String(len).length + body.length !== len) len = String(len).length + body.length;
      return Buffer.from(`${len}${body}`);
    };
    const records = Buffer.concat([
      pax('uid', '3000000'),
      pax('gid', '3000001'),
      pax('mtime', '1700000000.25'),
    ]);
    const padded = Buffer.concat([records, Buffer.alloc((512 - (records.length % 512)) % 512)]);
    const file = Buffer.from('big ids');
    const tar = Buffer.concat([
      await buildTar([{ name: 'd/', type: 'directory', mtime: new Date('2020-01-01T00:00:00Z') }]).then((b) =>
        b.subarray(0, 512),
      ),
      rawHeader('PaxHeader', records.length, 'x'),
      padded,
      rawHeader('d/f', file.length, '0'),
      file,
      Buffer.alloc(512 - file.length),
      Buffer.alloc(1024),
    ]);
    await applyLayer(streamOf(tar), MEDIA.tar, dir, { mode: 'native' });
    const f = await stat(join(dir, 'd/f'));
    expect([f.uid, f.gid]).toEqual([3000000, 3000001]);
    expect(f.mtimeMs).toBeCloseTo(1700000000250, 0);
    expect((await stat(join(dir, 'd'))).mtime.toISOString()).toBe('2020-01-01T00:00:00.000Z');
  });

  it('refuses an xattr the kernel rejects (malformed security.capability) naming the entry', async () => {
    const tar = await buildTar([
      { name: 'bad-cap', data: 'x', xattrs: { 'security.capability': Buffer.from([9, 9]) } },
    ]);
    await expect(applyLayer(streamOf(tar), MEDIA.tar, dir, { mode: 'native' })).rejects.toThrow(
      /bad-cap.*security\.capability/,
    );
  });
});

describe('whiteouts', () => {
  it('overlay mode writes a whiteout as char 0/0 and an opaque directory as trusted.overlay.opaque=y', async () => {
    const tar = await buildTar([
      { name: 'gone/', type: 'directory' },
      { name: '.wh.old' },
      { name: 'gone/.wh..wh..opq' },
      { name: 'gone/new', data: 'n' },
    ]);
    const lower = join(dir, 'lower');
    const upper = join(dir, 'upper');
    await mkdir(lower);
    await mkdir(upper);
    await writeFile(join(lower, 'old'), 'below');
    await applyLayer(streamOf(tar), MEDIA.tar, upper, { mode: 'overlay', lowerDirs: [lower] });
    const wh = await lstat(join(upper, 'old'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect((await sys.lgetxattr(join(upper, 'gone'), 'trusted.overlay.opaque')).toString()).toBe('y');
    expect(await readdir(join(upper, 'gone'))).toEqual(['new']);
    expect((await readdir(upper)).some((n) => n.startsWith('.wh.'))).toBe(false);
  });

  it('overlay mode leaves no whiteout devices or opaque xattrs in a bottom layer (nothing below to hide)', async () => {
    const tar = await buildTar([
      { name: 'd/', type: 'directory' },
      { name: 'd/.wh..wh..opq' },
      { name: '.wh.x' },
    ]);
    await applyLayer(streamOf(tar), MEDIA.tar, dir, { mode: 'overlay' });
    expect(await readdir(dir)).toEqual(['d']);
    expect(await sys.llistxattr(join(dir, 'd'))).toEqual([]);
  });

  it('ignores whiteouts under directories that exist nowhere instead of creating them', async () => {
    for (const mode of ['overlay', 'native'] as const) {
      const target = join(dir, mode);
      await mkdir(target);
      const tar = await buildTar([
        { name: 'ghost/.wh.x' },
        { name: 'ghost2/.wh..wh..opq' },
        { name: 'real', data: 'r' },
      ]);
      await applyLayer(streamOf(tar), MEDIA.tar, target, { mode });
      expect(await readdir(target)).toEqual(['real']);
    }
  });

  it('a whiteout in the same layer does not hide parents that layer made implicitly (found by the property test)', async () => {
    const tar = await buildTar([{ name: 'b/c/a', data: 'x' }, { name: '.wh.b' }, { name: 'b/.wh..wh..opq' }]);
    for (const mode of ['overlay', 'native'] as const) {
      const target = join(dir, mode);
      const lower = join(dir, `${mode}-lower`);
      await mkdir(target);
      await mkdir(lower);
      await applyLayer(streamOf(tar), MEDIA.tar, target, {
        mode,
        lowerDirs: mode === 'overlay' ? [lower] : [],
      });
      expect(await readFile(join(target, 'b/c/a'), 'utf8')).toBe('x');
    }
  });

  it('overlay: a directory replacing a symlink that replaced a lower directory hides the lower content (found by the property test)', async () => {
    const lower = join(dir, 'lower');
    const upper = join(dir, 'upper');
    await mkdir(upper);
    await mkdir(lower);
    await applyLayer(
      streamOf(
        await buildTar([
          { name: 'c/', type: 'directory' },
          { name: 'c/old', data: 'o' },
          { name: 'keep', data: 'k' },
        ]),
      ),
      MEDIA.tar,
      lower,
      { mode: 'overlay' },
    );
    const tar = await buildTar([
      { name: 'c', type: 'symlink', linkname: '/a' },
      { name: 'c/', type: 'directory' },
      { name: 'd/', type: 'directory' },
      { name: 'd/.wh.x' },
      { name: 'd/.wh..wh..opq' },
    ]);
    await applyLayer(streamOf(tar), MEDIA.tar, upper, { mode: 'overlay', lowerDirs: [lower] });
    expect((await sys.lgetxattr(join(upper, 'c'), 'trusted.overlay.opaque')).toString()).toBe('y');
    // No whiteout where nothing below exists, and none left inside an opaque directory.
    expect(await readdir(join(upper, 'd'))).toEqual([]);
  });

  it('overlay: an opaque marker at the root hides every lower entry (overlayfs ignores opaque on its root)', async () => {
    const lower = join(dir, 'lower');
    const upper = join(dir, 'upper');
    await mkdir(upper);
    await mkdir(lower);
    await applyLayer(
      streamOf(
        await buildTar([
          { name: 'old', data: 'o' },
          { name: 'mine/', type: 'directory' },
          { name: 'mine/old', data: 'o' },
        ]),
      ),
      MEDIA.tar,
      lower,
      { mode: 'overlay' },
    );
    const tar = await buildTar([
      { name: 'mine/', type: 'directory' },
      { name: 'mine/new', data: 'n' },
      { name: '.wh..wh..opq' },
    ]);
    await applyLayer(streamOf(tar), MEDIA.tar, upper, { mode: 'overlay', lowerDirs: [lower] });
    const old = await lstat(join(upper, 'old'));
    expect(old.isCharacterDevice() && old.rdev === 0).toBe(true);
    expect((await sys.lgetxattr(join(upper, 'mine'), 'trusted.overlay.opaque')).toString()).toBe('y');
    expect(await readdir(join(upper, 'mine'))).toEqual(['new']);
  });

  it("a whiteout of a directory keeps what the same layer wrote below it, in both modes (umoci's semantics)", async () => {
    for (const mode of ['overlay', 'native'] as const) {
      const lower = join(dir, `${mode}-lower`);
      const target = join(dir, mode);
      await mkdir(target);
      await mkdir(lower);
      const base = await buildTar([
        { name: 'b/', type: 'directory' },
        { name: 'b/b/', type: 'directory' },
        { name: 'b/b/old', data: 'o' },
        { name: 'b/gone', data: 'g' },
      ]);
      const layer = await buildTar([{ name: 'b/b/new', data: 'n' }, { name: '.wh.b' }]);
      if (mode === 'native') {
        await applyLayer(streamOf(base), MEDIA.tar, target, { mode });
        await applyLayer(streamOf(layer), MEDIA.tar, target, { mode });
        expect(await readdir(join(target, 'b'))).toEqual(['b']);
        expect(await readdir(join(target, 'b/b'))).toEqual(['new']);
      } else {
        await applyLayer(streamOf(base), MEDIA.tar, lower, { mode });
        await applyLayer(streamOf(layer), MEDIA.tar, target, { mode, lowerDirs: [lower] });
        expect((await sys.lgetxattr(join(target, 'b'), 'trusted.overlay.opaque')).toString()).toBe('y');
        expect((await sys.lgetxattr(join(target, 'b/b'), 'trusted.overlay.opaque')).toString()).toBe('y');
        expect(await readdir(join(target, 'b/b'))).toEqual(['new']);
      }
    }
  });

  it('native mode deletes, keeping what the same layer wrote (whiteouts only hide lower layers)', async () => {
    await applyLayer(
      streamOf(
        await buildTar([
          { name: 'a', data: 'a' },
          { name: 'o/', type: 'directory' },
          { name: 'o/lower', data: 'l' },
        ]),
      ),
      MEDIA.tar,
      dir,
      { mode: 'native' },
    );
    const tar = await buildTar([
      { name: 'same', data: 's' },
      { name: '.wh.same' },
      { name: '.wh.a' },
      { name: 'o/', type: 'directory' },
      { name: 'o/mine', data: 'm' },
      { name: 'o/.wh..wh..opq' },
    ]);
    await applyLayer(streamOf(tar), MEDIA.tar, dir, { mode: 'native' });
    expect((await readdir(dir)).sort()).toEqual(['o', 'same']);
    expect(await readdir(join(dir, 'o'))).toEqual(['mine']);
  });
});

describe('device nodes a layer carries', () => {
  const layer = () =>
    buildTar([
      { name: 'dev/', type: 'directory' },
      { name: 'dev/mem', type: 'character-device', devmajor: 1, devminor: 1, mode: 0o640 },
      { name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660 },
      { name: 'dev/initctl', type: 'fifo', mode: 0o600 },
      { name: 'dev/hide', type: 'character-device', devmajor: 0, devminor: 0 },
    ]);

  it('skips character and block devices by default and names each one in the result', async () => {
    const r = await applyLayer(streamOf(await layer()), MEDIA.tar, dir, { mode: 'native' });
    expect(r.skippedDevices).toEqual([
      { path: 'dev/mem', type: 'character-device', major: 1, minor: 1 },
      { path: 'dev/loop0', type: 'block-device', major: 7, minor: 0 },
    ]);
    // The FIFO and the whiteout-shaped char 0/0 are no host devices: made as before.
    expect((await readdir(join(dir, 'dev'))).sort()).toEqual(['hide', 'initctl']);
  });

  it('creates them when the policy says create (images that need a device node)', async () => {
    const r = await applyLayer(streamOf(await layer()), MEDIA.tar, dir, {
      mode: 'native',
      devices: 'create',
    });
    expect(r.skippedDevices).toEqual([]);
    const mem = await lstat(join(dir, 'dev/mem'));
    expect(mem.isCharacterDevice()).toBe(true);
    expect(mem.rdev).toBe((1 << 8) | 1);
    expect((await lstat(join(dir, 'dev/loop0'))).isBlockDevice()).toBe(true);
  });

  it('keeps hiding what a lower layer had at a skipped device path (overlay whiteout)', async () => {
    const lower = join(dir, 'lower');
    const upper = join(dir, 'upper');
    await mkdir(join(lower, 'dev'), { recursive: true });
    await mkdir(upper);
    await writeFile(join(lower, 'dev/mem'), 'a file below');
    const r = await applyLayer(streamOf(await layer()), MEDIA.tar, upper, {
      mode: 'overlay',
      lowerDirs: [lower],
    });
    expect(r.skippedDevices.map((d) => d.path)).toEqual(['dev/mem', 'dev/loop0']);
    const mem = await lstat(join(upper, 'dev/mem'));
    expect(mem.isCharacterDevice() && mem.rdev === 0).toBe(true); // a whiteout, not device 1:1
    await expect(lstat(join(upper, 'dev/loop0'))).rejects.toThrow(/ENOENT/); // nothing below to hide
  });
});
