/**
 * containerd's side of the unpack comparison, in the isolated containerd of bench/containerd:
 * images are imported with `--no-unpack`, and `ctr images mount` is timed, which unpacks every
 * layer into the overlayfs snapshotter (walking differ: decompress, verify the diff_id, apply)
 * before it prepares a view and mounts it. The fixed cost of ctr itself (process start, gRPC,
 * view, mount) is measured by mounting again once unpacked, and subtracted.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from '../../src/common/exec.js';
import { chainIds } from '../../src/snapshots/index.js';
import type { ContainerdHarness } from '../containerd/harness.js';
import { seconds, type BenchLayer } from './berth-side.js';

/** One cold unpack by containerd: raw `ctr images mount` time, syncfs after it, and ctr's fixed cost. */
export interface ContainerdUnpackRun {
  /** `ctr images mount` of an image none of whose layers is unpacked. */
  mount: number;
  /** `sync --file-system` of containerd's root right after: containerd 1.6 does not sync layers. */
  syncfs: number;
  /** `ctr images mount` again with every layer unpacked: what the first one costs besides unpacking. */
  mountUnpacked: number;
}

/** Imports an OCI archive without unpacking; its `org.opencontainers.image.ref.name` tags become `<base>:<tag>`. */
export async function importNoUnpack(cd: ContainerdHarness, archive: string, base: string): Promise<void> {
  await cd.ctr(['images', 'import', '--no-unpack', '--base-name', base, archive]);
}

/** The committed snapshots of an image, named by chain id as in Berth. */
async function committedChain(cd: ContainerdHarness, layers: readonly BenchLayer[]): Promise<string[]> {
  const ids = chainIds(layers.map((l) => l.diffId));
  const listed = await cd.ctr(['snapshots', '--snapshotter', 'overlayfs', 'list']);
  return ids.filter((id) => listed.includes(id));
}

/** The overlayfs snapshotter's snapshot directories on disk. */
function snapshotDirs(cd: ContainerdHarness): Promise<string[]> {
  return readdir(join(cd.layout.root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots')).catch(() => []);
}

/**
 * Removes the image's unpacked snapshots, top first, so the next mount unpacks from scratch, and
 * waits until their directories are gone: containerd deletes them in its garbage collector after
 * `ctr snapshots rm` returns, which would otherwise run during whatever is timed next.
 */
export async function removeUnpacked(cd: ContainerdHarness, layers: readonly BenchLayer[]): Promise<void> {
  const present = (await committedChain(cd, layers)).reverse();
  if (present.length === 0) return;
  const before = (await snapshotDirs(cd)).length;
  await cd.ctr(['snapshots', '--snapshotter', 'overlayfs', 'rm', ...present]);
  for (let waited = 0; (await snapshotDirs(cd)).length > before - present.length; waited += 10) {
    if (waited > 30_000) throw new Error('containerd did not delete the removed snapshots within 30 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Mounts `ref` at a directory inside the harness's own directory (stop() unmounts anything left there). */
async function mount(cd: ContainerdHarness, ref: string, target: string): Promise<void> {
  await cd.ctr(['images', 'mount', '--snapshotter', 'overlayfs', ref, target]);
}

/** Unmounts and removes the view `ctr images mount` made (keyed by the target path). */
async function unmount(cd: ContainerdHarness, target: string): Promise<void> {
  await cd.ctr(['images', 'unmount', '--rm', target]);
}

/** One cold unpack of `ref`; leaves no snapshot of it behind. */
export async function timeContainerdUnpack(
  cd: ContainerdHarness,
  ref: string,
  layers: readonly BenchLayer[],
): Promise<ContainerdUnpackRun> {
  if ((await committedChain(cd, layers)).length > 0) throw new Error(`${ref} is already unpacked`);
  const target = join(cd.layout.dir, 'mnt');
  await mkdir(target, { recursive: true });
  const mountTime = await seconds(() => mount(cd, ref, target));
  const syncfs = await seconds(() => execFile('sync', ['--file-system', cd.layout.root]));
  await unmount(cd, target);
  const mountUnpacked = await seconds(() => mount(cd, ref, target));
  await unmount(cd, target);
  await removeUnpacked(cd, layers);
  return { mount: mountTime, syncfs, mountUnpacked };
}

/** containerd's cold pull split in two: `ctr content fetch` (download + digest) then `ctr images mount` (unpack). */
export async function timeContainerdPull(
  cd: ContainerdHarness,
  ref: string,
  layers: readonly BenchLayer[],
): Promise<{ fetch: number; unpack: number }> {
  const target = join(cd.layout.dir, 'mnt');
  await mkdir(target, { recursive: true });
  const fetch = await seconds(() => cd.ctr(['content', 'fetch', '--plain-http', ref]));
  const unpack = await seconds(() => mount(cd, ref, target));
  await unmount(cd, target);
  // Deleting the image lets the synchronous collection take its content and snapshots: cold again.
  await cd.ctr(['images', 'rm', '--sync', ref]);
  if ((await committedChain(cd, layers)).length > 0) throw new Error(`${ref}: snapshots survived images rm`);
  return { fetch, unpack };
}
