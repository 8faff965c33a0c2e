/**
 * The boot id: read from the kernel; where it cannot be read (a restricted /proc), a constant,
 * so the snapshotter still opens (unsynced commits are then trusted, as containerd trusts all).
 */
import type * as FsPromises from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';

afterEach(() => {
  vi.doUnmock('node:fs/promises');
  vi.resetModules();
});

describe('currentBootId', () => {
  it("is the kernel's boot id", async () => {
    const { currentBootId } = await import('../../src/snapshots/sync-behind.js');
    expect(await currentBootId()).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('falls back to a constant when /proc does not tell', async () => {
    vi.doMock('node:fs/promises', async (original) => ({
      ...(await original<typeof FsPromises>()),
      readFile: () => Promise.reject(Object.assign(new Error('EACCES'), { code: 'EACCES' })),
    }));
    vi.resetModules();
    const { currentBootId } = await import('../../src/snapshots/sync-behind.js');
    expect(await currentBootId()).toBe('unknown-boot');
  });
});
