/**
 * Checkpoint archives (CRI CheckpointContainer, KEP-2008): a copy of a running container's state,
 * taken with CRIU while it keeps running. The archive is a tar of
 *   checkpoint/       CRIU's image files (memory, registers, open files) and runc's descriptors.json
 *   config.dump       what Berth knows of the container (format `berth-checkpoint/1`, JSON)
 *   spec.dump         the OCI spec it runs with
 *   rootfs-diff.tar   its writable layer: what it changed in its root filesystem (overlayfs
 *                     whiteouts as they are on disk)
 * It is staged in a folder beside `location` and renamed into place, so a failed checkpoint leaves
 * no archive, half an archive or staging behind.
 */
import { mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { execFileCapture } from '../common/exec.js';
import { InvalidArgumentError } from '../common/errors.js';
import type { ContainerRecord } from '../events/projections/state.js';
import { CHECKPOINT_FORMAT, type CheckpointConfig } from '../runtime/checkpoint-archive.js';
import type { NodeServices } from './node-services.js';

export interface CheckpointResult {
  location: string;
  bytes: number;
}

/** Refuses a location whose folder is missing or that names a folder, before CRIU runs. */
async function checkLocation(location: string): Promise<void> {
  const folder = await stat(dirname(location)).catch(() => undefined);
  if (!folder?.isDirectory())
    throw new InvalidArgumentError(`location: folder ${dirname(location)} does not exist`);
  if ((await stat(location).catch(() => undefined))?.isDirectory())
    throw new InvalidArgumentError(`location: ${location} is a folder; name the archive file to write`);
}

async function tar(args: string[], what: string): Promise<void> {
  const r = await execFileCapture('tar', args, { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`${what}: tar: ${r.stderr.trim() || `exit ${r.code}`}`);
}

export async function checkpointToArchive(
  node: Pick<NodeServices, 'tasks' | 'snapshotter'>,
  c: ContainerRecord,
  location: string,
  timeoutMs?: number,
): Promise<CheckpointResult> {
  await checkLocation(location);
  const staging = await mkdtemp(join(dirname(location), `.${basename(location)}.berth-`));
  const partial = `${staging}.tar`;
  try {
    await node.tasks.checkpoint(
      c.id,
      { imagePath: join(staging, 'checkpoint'), workPath: join(staging, 'work') },
      timeoutMs,
    );
    const parts = ['checkpoint', 'config.dump', 'spec.dump'];
    if (c.snapshotKey) {
      const upper = await node.snapshotter.dataDir(c.snapshotKey);
      await tar(
        ['-C', upper, '--numeric-owner', '--xattrs', '-cf', join(staging, 'rootfs-diff.tar'), '.'],
        `container ${c.id}: rootfs diff`,
      );
      parts.push('rootfs-diff.tar');
    }
    const config: CheckpointConfig = {
      format: CHECKPOINT_FORMAT,
      checkpointedAt: new Date().toISOString(),
      container: {
        id: c.id,
        namespace: c.namespace,
        name: c.name,
        image: c.image,
        imageDigest: c.imageDigest,
        sandboxId: c.sandboxId,
        runtime: c.runtime,
        labels: c.labels,
        annotations: c.annotations ?? {},
      },
    };
    await writeFile(join(staging, 'config.dump'), `${JSON.stringify(config, null, 2)}\n`);
    await writeFile(join(staging, 'spec.dump'), JSON.stringify(await node.tasks.spec(c.id)));
    await tar(['-C', staging, '--numeric-owner', '-cf', partial, ...parts], `container ${c.id}: archive`);
    await rename(partial, location);
    return { location, bytes: (await stat(location)).size };
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(partial, { force: true });
  }
}
