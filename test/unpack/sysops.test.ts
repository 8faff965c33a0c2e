import { lstat, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makedev, SysOps } from '../../src/unpack/sysops.js';

describe('SysOps (perl co-process for mknod and xattrs)', () => {
  let dir: string;
  let ops: SysOps;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-sysops-'));
    ops = new SysOps();
  });
  afterAll(async () => {
    await ops.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('makedev packs major and minor as glibc does', () => {
    expect(makedev(1, 3)).toBe(0x103n);
    expect(makedev(0x1234, 0x56789)).toBe(0x89n | (0x234n << 8n) | (0x56700n << 12n) | (0x1000n << 32n));
  });

  it('creates character and block devices and FIFOs with the requested numbers', async () => {
    await ops.mknod(join(dir, 'null'), 0o20666, 1, 3);
    await ops.mknod(join(dir, 'blk'), 0o60600, 7, 300);
    await ops.mknod(join(dir, 'fifo'), 0o10644);
    const c = await lstat(join(dir, 'null'));
    expect(c.isCharacterDevice()).toBe(true);
    expect(c.rdev).toBe(Number(makedev(1, 3)));
    const b = await lstat(join(dir, 'blk'));
    expect(b.isBlockDevice()).toBe(true);
    expect(b.rdev).toBe(Number(makedev(7, 300)));
    expect((await lstat(join(dir, 'fifo'))).isFIFO()).toBe(true);
  });

  it('sets, lists and reads binary xattrs, on a symlink itself', async () => {
    const f = join(dir, 'f');
    await writeFile(f, 'x');
    const value = Buffer.from([0, 1, 0x80, 0xff, 0x0a, 0x09]);
    await ops.lsetxattr(f, 'trusted.berth', value);
    expect(await ops.lgetxattr(f, 'trusted.berth')).toEqual(value);
    await symlink('f', join(dir, 'l'));
    await ops.lsetxattr(join(dir, 'l'), 'trusted.link', Buffer.from('on-link'));
    expect(await ops.llistxattr(join(dir, 'l'))).toContain('trusted.link');
    expect(await ops.llistxattr(f)).not.toContain('trusted.link');
  });

  it('reports failures with the errno name and the path', async () => {
    const err = await ops
      .lsetxattr(join(dir, 'missing'), 'user.x', Buffer.from('a'))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENOENT', path: join(dir, 'missing') });
    const exists = await ops.mknod(join(dir, 'f'), 0o10644).catch((e: unknown) => e);
    expect(exists).toMatchObject({ code: 'EEXIST' });
  });
});
