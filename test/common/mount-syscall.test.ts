/**
 * The mount addon: mount(2)/umount2(2) with options split as mount(8) splits them, and errors that
 * name the call and carry the errno.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mountSyscall, splitMountOptions, unmountSyscall } from '../../src/common/mount-syscall.js';
import { isMountPoint, mountsUnder } from '../../src/sandbox/mounts.js';

describe('splitMountOptions', () => {
  it('turns the flag words into flags and leaves the rest to the filesystem', () => {
    const split = splitMountOptions([
      'ro',
      'nosuid',
      'lowerdir=/a:/b',
      'upperdir=/u',
      'x-berth.note',
      'nodev',
    ]);
    expect(split.flags).toBe(0x1 | 0x2 | 0x4);
    expect(split.data).toBe('lowerdir=/a:/b,upperdir=/u');
    expect(split.propagation).toEqual([]);
  });

  it('lets a later word undo an earlier one, as mount(8) does', () => {
    expect(splitMountOptions(['ro', 'rw']).flags).toBe(0);
    expect(splitMountOptions(['noexec', 'exec', 'nosuid']).flags).toBe(0x2);
  });

  it('marks rbind recursive and keeps propagation for calls of their own', () => {
    const split = splitMountOptions(['rbind', 'rprivate']);
    expect(split.flags).toBe(0x1000 | 0x4000);
    expect(split.propagation).toEqual([0x40000 | 0x4000]);
    expect(split.data).toBe('');
  });
});

describe('mountSyscall and unmountSyscall', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-mount-'));
  });
  afterEach(async () => {
    for (const m of await mountsUnder(dir)) await unmountSyscall(m.mountPoint).catch(() => undefined);
    expect(await mountsUnder(dir)).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });

  it('mounts an overlay from its data options and unmounts it', async () => {
    for (const d of ['lower', 'upper', 'work', 'merged']) await mkdir(join(dir, d));
    await writeFile(join(dir, 'lower', 'from-lower'), 'below');
    const merged = join(dir, 'merged');
    await mountSyscall('overlay', merged, 'overlay', [
      `lowerdir=${join(dir, 'lower')}`,
      `upperdir=${join(dir, 'upper')}`,
      `workdir=${join(dir, 'work')}`,
    ]);
    expect(await isMountPoint(merged)).toBe(true);
    expect(await readFile(join(merged, 'from-lower'), 'utf8')).toBe('below');
    await writeFile(join(merged, 'written'), 'above');
    expect(await readFile(join(dir, 'upper', 'written'), 'utf8')).toBe('above');
    await unmountSyscall(merged);
    expect(await isMountPoint(merged)).toBe(false);
  });

  it('makes a read-only bind read-only (a bind, then a read-only remount)', async () => {
    await mkdir(join(dir, 'source'));
    await mkdir(join(dir, 'view'));
    await writeFile(join(dir, 'source', 'file'), 'x');
    const view = join(dir, 'view');
    await mountSyscall(join(dir, 'source'), view, '', ['ro', 'rbind']);
    expect(await readFile(join(view, 'file'), 'utf8')).toBe('x');
    await expect(writeFile(join(view, 'new'), 'y')).rejects.toMatchObject({ code: 'EROFS' });
    const entry = (await mountsUnder(view)).find((m) => m.mountPoint === view);
    expect(entry).toBeDefined();
  });

  it('rejects with the errno and the call named', async () => {
    const missing = join(dir, 'no-such-target');
    await expect(
      mountSyscall('overlay', missing, 'overlay', ['lowerdir=/nonexistent']),
    ).rejects.toMatchObject({
      code: 'ENOENT',
      message: expect.stringContaining(`mount overlay on ${missing} (type overlay)`),
    });
    await mkdir(join(dir, 'plain'));
    await expect(unmountSyscall(join(dir, 'plain'))).rejects.toMatchObject({
      code: 'EINVAL',
      message: expect.stringContaining(`umount ${join(dir, 'plain')}`),
    });
  });
});
