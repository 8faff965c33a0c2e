/**
 * Checkpoint archives (CRI CheckpointContainer, KEP-2008): a copy of a running container's state,
 * taken with CRIU while it keeps running, in the format of src/runtime/checkpoint-archive.ts.
 * It is staged in a folder beside `location` and renamed into place, so a failed checkpoint leaves
 * no archive, half an archive or staging behind.
 */
import { mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InvalidArgumentError } from '../common/errors.js';
import type { ContainerRecord } from '../events/projections/state.js';
import { CHECKPOINT_FORMAT, packCheckpoint, type CheckpointConfig } from '../runtime/checkpoint-archive.js';
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
    await packCheckpoint(staging, partial, {
      config,
      spec: await node.tasks.spec(c.id),
      ...(c.snapshotKey ? { upperDir: await node.snapshotter.dataDir(c.snapshotKey) } : {}),
    });
    await rename(partial, location);
    return { location, bytes: (await stat(location)).size };
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(partial, { force: true });
  }
}
