/**
 * containerd's side of the unpack comparison, in the isolated containerd of bench/containerd:
 * images are imported with `--no-unpack`, and `ctr images mount` is timed, which unpacks every
 * layer into the overlayfs snapshotter (walking differ: decompress, verify the diff_id, apply)
 * before it prepares a view and mounts it. The fixed cost of ctr itself (process start, gRPC,
 * view, mount) is measured by mounting again once unpacked, and subtracted.
 *
 * Each run imports the image into a ctr namespace of its own, where none of its layers is
 * unpacked yet. Removing the snapshots between runs instead raced containerd's collector, which
 * deletes them after `ctr snapshots rm` returns (during the next timed unpack) and takes the
 * layers below once the top is gone.
 */
import { mkdir } from 'node:fs/promises';
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
async function importNoUnpack(
  cd: ContainerdHarness,
  archive: string,
  base: string,
  namespace = cd.namespace,
): Promise<void> {
  await cd.ctr(['images', 'import', '--no-unpack', '--base-name', base, archive], namespace);
}

/** The committed snapshots of an image, named by chain id as in Berth. */
async function committedChain(
  cd: ContainerdHarness,
  layers: readonly BenchLayer[],
  namespace = cd.namespace,
): Promise<string[]> {
  const ids = chainIds(layers.map((l) => l.diffId));
  const listed = await cd.ctr(['snapshots', '--snapshotter', 'overlayfs', 'list'], namespace);
  return ids.filter((id) => listed.includes(id));
}

/** Mounts `ref` at a directory inside the harness's own directory (stop() unmounts anything left there). */
async function mount(
  cd: ContainerdHarness,
  ref: string,
  target: string,
  namespace = cd.namespace,
): Promise<void> {
  await cd.ctr(['images', 'mount', '--snapshotter', 'overlayfs', ref, target], namespace);
}

/** Unmounts and removes the view `ctr images mount` made (keyed by the target path). */
async function unmount(cd: ContainerdHarness, target: string, namespace = cd.namespace): Promise<void> {
  await cd.ctr(['images', 'unmount', '--rm', target], namespace);
}

let unpackRuns = 0;

/**
 * One cold unpack of `<base>:<tag>` from `archive`, imported first (untimed) into a namespace of
 * its own; its snapshots stay until the harness stops.
 */
export async function timeContainerdUnpack(
  cd: ContainerdHarness,
  image: { archive: string; base: string; tag: string },
  layers: readonly BenchLayer[],
): Promise<ContainerdUnpackRun> {
  const namespace = `${cd.namespace}-unpack-${++unpackRuns}`;
  const ref = `${image.base}:${image.tag}`;
  await importNoUnpack(cd, image.archive, image.base, namespace);
  if ((await committedChain(cd, layers, namespace)).length > 0) throw new Error(`${ref} is already unpacked`);
  const target = join(cd.layout.dir, 'mnt');
  await mkdir(target, { recursive: true });
  const mountTime = await seconds(() => mount(cd, ref, target, namespace));
  const syncfs = await seconds(() => execFile('sync', ['--file-system', cd.layout.root]));
  await unmount(cd, target, namespace);
  const mountUnpacked = await seconds(() => mount(cd, ref, target, namespace));
  await unmount(cd, target, namespace);
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
