/**
 * Reading a checkpoint archive (src/daemon/container-checkpoint.ts writes them) to restore from it:
 * what it says of the container (`config.dump`, `spec.dump`), and unpacking its CRIU images and its
 * writable layer for a new container. Only the archive's own members are extracted, each into the
 * folder meant for it; tar refuses members that would land outside (absolute names, `..`).
 */
import { mkdir, stat } from 'node:fs/promises';
import { execFileCapture } from '../common/exec.js';
import { InvalidArgumentError } from '../common/errors.js';
import type { OciSpec } from './oci-types.js';

export const CHECKPOINT_FORMAT = 'berth-checkpoint/1';

/** What `config.dump` records of the checkpointed container. */
export interface CheckpointConfig {
  format: typeof CHECKPOINT_FORMAT;
  checkpointedAt: string;
  container: {
    id: string;
    namespace: string;
    name?: string;
    image: string;
    imageDigest?: string;
    sandboxId?: string;
    runtime?: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
}

export interface CheckpointArchive {
  path: string;
  config: CheckpointConfig;
  spec: OciSpec;
}

const TAR_TIMEOUT_MS = 600_000;

async function member(archive: string, name: string): Promise<string> {
  const r = await execFileCapture('tar', ['-xOf', archive, name], { timeoutMs: TAR_TIMEOUT_MS });
  if (r.code !== 0)
    throw new InvalidArgumentError(
      `image: ${archive} is not a checkpoint archive: ${name}: ${r.stderr.trim() || `exit ${r.code}`}`,
    );
  return r.stdout;
}

/** Reads and checks an archive's `config.dump` and `spec.dump`; InvalidArgumentError naming what is wrong. */
export async function readCheckpointArchive(archive: string): Promise<CheckpointArchive> {
  if (!(await stat(archive).catch(() => undefined))?.isFile())
    throw new InvalidArgumentError(`image: ${archive} is not a file (a checkpoint archive to restore from)`);
  let config: CheckpointConfig;
  let spec: OciSpec;
  try {
    config = JSON.parse(await member(archive, 'config.dump')) as CheckpointConfig;
    spec = JSON.parse(await member(archive, 'spec.dump')) as OciSpec;
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    throw new InvalidArgumentError(`image: ${archive}: ${(err as Error).message}`);
  }
  if (config?.format !== CHECKPOINT_FORMAT || typeof config.container?.image !== 'string')
    throw new InvalidArgumentError(
      `image: ${archive} is not a checkpoint archive Berth can restore (format "${String(config?.format)}", expected "${CHECKPOINT_FORMAT}")`,
    );
  if (!Array.isArray(spec?.process?.args))
    throw new InvalidArgumentError(`image: ${archive}: spec.dump has no process arguments`);
  return { path: archive, config, spec };
}

/**
 * Unpacks the CRIU images into `imagesDir` (made here) and the writable layer into `upperDir`
 * (the new container's, empty), keeping owners, modes, xattrs and overlayfs whiteouts.
 */
export async function unpackCheckpoint(
  archive: string,
  dirs: { imagesDir: string; upperDir: string },
): Promise<void> {
  await mkdir(dirs.imagesDir, { recursive: true });
  const images = await execFileCapture(
    'tar',
    ['-xf', archive, '-C', dirs.imagesDir, '--strip-components=1', 'checkpoint'],
    { timeoutMs: TAR_TIMEOUT_MS },
  );
  if (images.code !== 0) throw new Error(`unpacking the CRIU images of ${archive}: ${images.stderr.trim()}`);
  // The layer is a tar inside the tar: streamed from one into the other, never staged whole.
  const script =
    'tar -tf "$0" rootfs-diff.tar >/dev/null 2>&1 || exit 0; ' +
    'set -o pipefail 2>/dev/null; tar -xOf "$0" rootfs-diff.tar | tar -xf - -C "$1" --numeric-owner --same-owner -p --xattrs';
  const diff = await execFileCapture('bash', ['-c', script, archive, dirs.upperDir], {
    timeoutMs: TAR_TIMEOUT_MS,
  });
  if (diff.code !== 0) throw new Error(`unpacking the writable layer of ${archive}: ${diff.stderr.trim()}`);
}
