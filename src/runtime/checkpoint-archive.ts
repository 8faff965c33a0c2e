/**
 * The checkpoint archive format, written and read here (src/daemon/container-checkpoint.ts stages
 * a checkpoint and has it packed; a restore reads and unpacks it). The archive is a tar of
 *   checkpoint/       CRIU's image files (memory, registers, open files) and runc's descriptors.json
 *   config.dump       what Berth knows of the container (format `berth-checkpoint/1`, JSON)
 *   spec.dump         the OCI spec it runs with
 *   rootfs-diff.tar   its writable layer: what it changed in its root filesystem (overlayfs
 *                     whiteouts as they are on disk)
 * Only the archive's own members are extracted, each into the folder meant for it; tar refuses
 * members that would land outside (absolute names, `..`).
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileCapture, type ExecResult } from '../common/exec.js';
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

/** GNU tar (or bash running tar in a pipe), bounded: archives hold a container's memory. */
function tar(args: string[], shell = false): Promise<ExecResult> {
  return shell
    ? execFileCapture('bash', ['-c', ...args], { timeoutMs: 600_000 })
    : execFileCapture('tar', args, { timeoutMs: 600_000 });
}

/** Runs tar and throws an Error naming `what` and tar's complaint when it fails. */
async function tarOrThrow(what: string, args: string[], shell = false): Promise<void> {
  const r = await tar(args, shell);
  if (r.code !== 0) throw new Error(`${what}: tar: ${r.stderr.trim() || `exit ${r.code}`}`);
}

/**
 * Packs a staged checkpoint into `archive`: the CRIU images already in `staging/checkpoint`, the
 * record and the spec written here, and the writable layer from `upperDir` when there is one.
 */
export async function packCheckpoint(
  staging: string,
  archive: string,
  contents: { config: CheckpointConfig; spec: OciSpec; upperDir?: string },
): Promise<void> {
  const parts = ['checkpoint', 'config.dump', 'spec.dump'];
  const { id } = contents.config.container;
  if (contents.upperDir) {
    const diff = join(staging, 'rootfs-diff.tar');
    const args = ['-C', contents.upperDir, '--numeric-owner', '--xattrs', '-cf', diff, '.'];
    await tarOrThrow(`container ${id}: rootfs diff`, args);
    parts.push('rootfs-diff.tar');
  }
  await writeFile(join(staging, 'config.dump'), `${JSON.stringify(contents.config, null, 2)}\n`);
  await writeFile(join(staging, 'spec.dump'), JSON.stringify(contents.spec));
  await tarOrThrow(`container ${id}: archive`, ['-C', staging, '--numeric-owner', '-cf', archive, ...parts]);
}

async function member(archive: string, name: string): Promise<string> {
  const r = await tar(['-xOf', archive, name]);
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
  await tarOrThrow(`unpacking the CRIU images of ${archive}`, [
    '-xf',
    archive,
    '-C',
    dirs.imagesDir,
    '--strip-components=1',
    'checkpoint',
  ]);
  // The layer is a tar inside the tar: streamed from one into the other, never staged whole.
  const script =
    'tar -tf "$0" rootfs-diff.tar >/dev/null 2>&1 || exit 0; ' +
    'set -o pipefail 2>/dev/null; tar -xOf "$0" rootfs-diff.tar | tar -xf - -C "$1" --numeric-owner --same-owner -p --xattrs';
  await tarOrThrow(`unpacking the writable layer of ${archive}`, [script, archive, dirs.upperDir], true);
}
