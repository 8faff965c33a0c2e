/**
 * A container create request as callers give it, and its resolution into the createContainer
 * workflow's input: name, image (pulled when asked), RuntimeClass, bind sources and the sandbox's
 * namespaces, cgroup parent and files, all checked before any workflow starts.
 */
import type { IdMappings } from '../common/id-mappings.js';
import { stat } from 'node:fs/promises';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../common/errors.js';
import type { ImageRecord } from '../events/projections/state.js';
import { readCheckpointArchive } from '../runtime/checkpoint-archive.js';
import { canonicalSignal } from '../runtime/signals.js';
import type { ImageRuntimeConfig, SandboxFiles, SandboxNamespaces } from '../runtime/spec-request.js';
import type {
  ContainerProcessConfig,
  CreateContainerArgs,
  ImageVolume,
} from '../workflows/container-types.js';
import type { NodeServices } from './node-services.js';
import { checkCreateContainerFields } from './request-fields.js';

export const DEFAULT_NAMESPACE = 'default';

/** What the service needs from the image service (src/daemon/images.ts). */
export interface ContainerImages {
  /** The pulled image a reference names; NotFoundError when it is not on the node. */
  get(nameOrId: string, namespace?: string): ImageRecord;
  /** The parsed OCI image config. */
  config(image: ImageRecord): Promise<{
    config?: {
      User?: string;
      Env?: string[];
      Entrypoint?: string[];
      Cmd?: string[];
      WorkingDir?: string;
      StopSignal?: string;
    };
  }>;
  pull(req: { ref: string; namespace?: string }): Promise<ImageRecord>;
}

/** What the service needs from the sandbox service (src/daemon/sandboxes.ts). */
export interface ContainerSandboxes {
  /** NotFoundError for an unknown sandbox. */
  get(idOrPrefix: string): Promise<{ id: string; namespace: string }>;
  /** Namespace files to join; an absent net/ipc/uts is the host's, an absent pid means the pod shares none. */
  namespacePaths(id: string): Promise<{ net?: string; ipc?: string; uts?: string; pid?: string }>;
  /** The pod's user namespace and its mappings; undefined when the pod uses the host's ids. */
  userNamespace(id: string): Promise<{ file: string; mappings: IdMappings } | undefined>;
  cgroupParent(id: string): Promise<string>;
  files(id: string): Promise<SandboxFiles>;
}

export interface CreateContainerRequest extends ContainerProcessConfig {
  namespace?: string;
  /** Absent: the container gets its own namespaces and a cgroup under berth's default parent. */
  sandboxId?: string;
  name: string;
  /**
   * CRI metadata attempt; part of the create workflow's id. A container of this name from another
   * attempt (the one kubelet restarts) is not the answer to this one: a new container is made.
   */
  attempt?: number;
  image: string;
  /** Pull the image when it is not on the node (berth run); the CRI never asks for this. */
  pull?: boolean;
  /**
   * A container of this name in this sandbox (or namespace) already existing is an error
   * (`berth run --name`). Without it, the existing container is the answer: a retried request
   * (the CRI after a timeout) gets what the first one created.
   */
  exclusive?: boolean;
  logPath?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** RuntimeClass handler: runc (default) or crun. */
  runtimeHandler?: string;
  /**
   * `pod`: join the sandbox's shared PID namespace (it must have one); `host`: the node's.
   * Absent: a PID namespace of the container's own.
   */
  pidNamespace?: 'pod' | 'host';
  /** Images mounted read-only at `containerPath` (pulled when not on the node). */
  imageVolumes?: { image: string; containerPath: string; subPath?: string }[];
}

/** The default cgroup parent of a container without a sandbox. */
const STANDALONE_CGROUP_PARENT = '/berth/standalone';

/** The parts of an image config that shape the container's process. */
function runtimeConfigOf(
  c: NonNullable<Awaited<ReturnType<ContainerImages['config']>>['config']>,
): ImageRuntimeConfig {
  return {
    ...(c.Entrypoint ? { entrypoint: c.Entrypoint } : {}),
    ...(c.Cmd ? { cmd: c.Cmd } : {}),
    ...(c.Env ? { env: c.Env } : {}),
    ...(c.WorkingDir ? { workingDir: c.WorkingDir } : {}),
    ...(c.User ? { user: c.User } : {}),
    ...(c.StopSignal ? { stopSignal: c.StopSignal } : {}),
  };
}

/**
 * Validates a create request and resolves its image and sandbox into the workflow's input, so
 * bad input is refused before anything exists.
 */
export async function resolveCreateRequest(
  req: CreateContainerRequest,
  node: NodeServices,
  images: ContainerImages | undefined,
  sandboxes: ContainerSandboxes | undefined,
): Promise<CreateContainerArgs> {
  checkCreateContainerFields(req);
  if (typeof req?.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(req.name))
    throw new InvalidArgumentError(`name: "${String(req?.name)}" must be 1-128 of [A-Za-z0-9_.-]`);
  if (typeof req.image !== 'string' || !req.image)
    throw new InvalidArgumentError('image: a reference is required');
  if (req.stopSignal !== undefined && !canonicalSignal(req.stopSignal))
    throw new InvalidArgumentError(`stopSignal: "${req.stopSignal}" is not a signal name or number`);
  // An unknown RuntimeClass is refused here, before anything exists.
  node.handlers.get(req.runtimeHandler);
  for (const [i, b] of (req.binds ?? []).entries()) {
    if (!b.hostPath?.startsWith('/'))
      throw new InvalidArgumentError(`mounts[${i}].hostPath: "${b.hostPath}" is not an absolute path`);
    await stat(b.hostPath).catch(() => {
      throw new InvalidArgumentError(`mounts[${i}].hostPath: ${b.hostPath} does not exist`);
    });
  }
  let namespace = req.namespace ?? DEFAULT_NAMESPACE;
  let namespaces: SandboxNamespaces = {};
  let sandboxFiles: SandboxFiles | undefined;
  let cgroupParent = STANDALONE_CGROUP_PARENT;
  let idMappings: IdMappings | undefined;
  if (req.sandboxId) {
    if (!sandboxes) throw new FailedPreconditionError('sandboxes are not available on this node yet');
    namespace = (await sandboxes.get(req.sandboxId)).namespace;
    const paths = await sandboxes.namespacePaths(req.sandboxId);
    // The sandbox leaves out the kinds it shares with the host; a container then shares them too.
    namespaces = { network: paths.net ?? 'host', ipc: paths.ipc ?? 'host', uts: paths.uts ?? 'host' };
    if (req.pidNamespace === 'pod') {
      if (!paths.pid)
        throw new FailedPreconditionError(
          `sandbox ${req.sandboxId} has no shared PID namespace: its pid mode is not POD`,
        );
      namespaces.pid = paths.pid;
    }
    const userns = await sandboxes.userNamespace(req.sandboxId);
    if (userns) {
      const handler = node.handlers.get(req.runtimeHandler);
      if (!(await handler.userNamespaces()))
        throw new FailedPreconditionError(
          `runtime handler ${handler.name} cannot run pods with their own user namespace (it has no idmapped mounts: runc >= 1.2 does)`,
        );
      namespaces.user = userns.file;
      idMappings = userns.mappings;
    }
    cgroupParent = await sandboxes.cgroupParent(req.sandboxId);
    sandboxFiles = await sandboxes.files(req.sandboxId);
  }
  if (req.pidNamespace === 'host') namespaces.pid = 'host';
  else if (req.pidNamespace === 'pod' && !req.sandboxId)
    throw new InvalidArgumentError('pidNamespace: "pod" needs a sandbox to share it with');
  if (!images) throw new FailedPreconditionError('images are not available on this node yet');
  // An absolute path names a checkpoint archive (as CRI-O and containerd take one): the container
  // is made from the checkpointed one's image and process, and start restores it.
  const checkpoint = req.image.startsWith('/') ? await readCheckpointArchive(req.image) : undefined;
  if (checkpoint) {
    const p = checkpoint.spec.process;
    req = {
      ...req,
      image: checkpoint.config.container.image,
      command: p.args,
      args: [],
      env: (p.env ?? []).map((e) => ({ key: e.split('=')[0] ?? e, value: e.slice(e.indexOf('=') + 1) })),
      ...(p.cwd ? { workingDir: p.cwd } : {}),
    };
  }
  const image = await imageFor(images, req.image, namespace, req.pull === true).catch((err: unknown) => {
    if (checkpoint && err instanceof NotFoundError)
      throw new FailedPreconditionError(
        `image ${req.image} of checkpoint ${checkpoint.path} is not on this node: pull it first`,
      );
    throw err;
  });
  if (!image.chainId)
    throw new FailedPreconditionError(`image ${req.image} has no unpacked rootfs (no chain id recorded)`);
  const imageConfig = runtimeConfigOf((await images.config(image)).config ?? {});
  const imageVolumes = await resolveImageVolumes(req.imageVolumes ?? [], images, namespace);
  const {
    namespace: _n,
    sandboxId: _s,
    name,
    attempt,
    image: ref,
    pull: _p,
    exclusive: _x,
    logPath,
    labels,
    annotations,
    runtimeHandler,
    pidNamespace: _pid,
    imageVolumes: _volumes,
    ...process
  } = req;
  process.stopSignal = stopSignalOf(req.stopSignal, imageConfig.stopSignal, req.image);
  return {
    namespace,
    name,
    ...(attempt ? { attempt } : {}),
    image: ref,
    imageDigest: image.target.digest,
    chainId: image.chainId,
    imageConfig,
    ...(req.sandboxId ? { sandboxId: req.sandboxId } : {}),
    namespaces,
    ...(idMappings ? { idMappings } : {}),
    ...(sandboxFiles ? { sandboxFiles } : {}),
    cgroupParent,
    process,
    ...(imageVolumes.length > 0 ? { imageVolumes } : {}),
    ...(logPath ? { logPath } : {}),
    ...(runtimeHandler ? { runtimeHandler } : {}),
    ...(checkpoint ? { restore: { archive: checkpoint.path } } : {}),
    labels: labels ?? {},
    annotations: annotations ?? {},
  };
}

/**
 * Checks each image volume's paths and resolves its image (pulled when not on the node, as
 * kubelet expects of a volume's image) to the snapshot its read-only view is made on.
 */
async function resolveImageVolumes(
  volumes: NonNullable<CreateContainerRequest['imageVolumes']>,
  images: ContainerImages,
  namespace: string,
): Promise<ImageVolume[]> {
  const out: ImageVolume[] = [];
  for (const [i, v] of volumes.entries()) {
    const field = `imageVolumes[${i}]`;
    if (typeof v.image !== 'string' || !v.image)
      throw new InvalidArgumentError(`${field}.image: a reference is required`);
    if (!v.containerPath?.startsWith('/'))
      throw new InvalidArgumentError(`${field}.containerPath: "${v.containerPath}" is not an absolute path`);
    const subPath = v.subPath?.replace(/^\.\/+/, '').replace(/\/+$/, '') || undefined;
    if (subPath !== undefined && (subPath.startsWith('/') || subPath.split('/').includes('..')))
      throw new InvalidArgumentError(
        `${field}.subPath: "${v.subPath}" must be a path inside the image, without ..`,
      );
    const image = await imageFor(images, v.image, namespace, true);
    if (!image.chainId)
      throw new FailedPreconditionError(
        `${field}: image ${v.image} has no unpacked rootfs (no chain id recorded)`,
      );
    out.push({
      image: v.image,
      imageDigest: image.target.digest,
      chainId: image.chainId,
      containerPath: v.containerPath,
      ...(subPath ? { subPath } : {}),
    });
  }
  return out;
}

/** The request's stop signal, else the image's, else SIGTERM (KEP-4960's order). */
function stopSignalOf(requested: string | undefined, fromImage: string | undefined, image: string): string {
  if (requested !== undefined) return canonicalSignal(requested)!;
  if (fromImage === undefined) return 'SIGTERM';
  const signal = canonicalSignal(fromImage);
  if (!signal)
    throw new InvalidArgumentError(
      `image ${image}: its config's StopSignal "${fromImage}" is not a signal; give the container a stop signal of its own`,
    );
  return signal;
}

async function imageFor(
  images: ContainerImages,
  ref: string,
  namespace: string,
  pull: boolean,
): Promise<ImageRecord> {
  try {
    return images.get(ref, namespace);
  } catch (err) {
    if (err instanceof NotFoundError && pull) return images.pull({ ref, namespace });
    throw err;
  }
}
