/** Test helpers: temporary roots and mounting a snapshot's mounts to read or write its tree. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountAll, unmount, type Mount } from '../../src/snapshots/index.js';

export async function tempRoot(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Mounts `mounts` on a fresh directory, runs `fn` with it, and always unmounts and removes it. */
export async function withMounted<T>(mounts: readonly Mount[], fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-mnt-'));
  try {
    await mountAll(mounts, dir);
    try {
      return await fn(dir);
    } finally {
      await unmount(dir);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
