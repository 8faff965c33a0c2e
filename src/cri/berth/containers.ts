/**
 * Containers: CRI's ContainerConfig as ContainerService's CreateContainerRequest, and
 * ContainerService's status as CRI's Container / ContainerStatus. The create's workflow id is
 * ContainerService's `container:<sandbox>:<name>:<attempt>`, so a retried CreateContainer joins.
 */
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { InvalidArgumentError, UnimplementedError } from '../../common/errors.js';
import type { ContainerStatus, CreateContainerRequest } from '../../daemon/containers.js';
import type { SandboxView } from '../../daemon/sandboxes.js';
import type { ResourceRequest, SeccompRequest } from '../../runtime/spec-request.js';
import type {
  ContainerDetails,
  ContainerSpec,
  ContainerState,
  ContainerSummary,
  LinuxResources,
  Mount,
  MountPropagation,
} from '../types/container.js';
import type { ImageRecord } from '../types/image.js';
import type { PodSandboxSpec, SecurityProfile } from '../types/sandbox.js';
import { CRI_NAMESPACE, isoToNanos } from './deps.js';
import { repository } from './images.js';

/**
 * ContainerService keeps no CRI attempt, kubelet's restart counter; it rides along as an
 * annotation and is taken out again before anything is shown to kubelet.
 */
export const ATTEMPT_ANNOTATION = 'io.berth.cri.attempt';
/** Likewise the CRI mounts, which ContainerStatus must list back (JSON of Mount[]). */
const MOUNTS_ANNOTATION = 'io.berth.cri.mounts';
const HIDDEN_ANNOTATIONS = [ATTEMPT_ANNOTATION, MOUNTS_ANNOTATION];

const PROPAGATION: Record<MountPropagation, 'private' | 'rslave' | 'rshared'> = {
  private: 'private',
  'host-to-container': 'rslave',
  bidirectional: 'rshared',
};

export function resourceRequestOf(r: LinuxResources | undefined): ResourceRequest | undefined {
  if (!r) return undefined;
  const out: ResourceRequest = {
    ...(r.cpuShares > 0 ? { cpuShares: r.cpuShares } : {}),
    ...(r.cpuQuota !== 0 ? { cpuQuota: r.cpuQuota } : {}),
    ...(r.cpuPeriod > 0 ? { cpuPeriod: r.cpuPeriod } : {}),
    ...(r.cpusetCpus ? { cpusetCpus: r.cpusetCpus } : {}),
    ...(r.cpusetMems ? { cpusetMems: r.cpusetMems } : {}),
    ...(r.memoryLimitBytes > 0 ? { memoryLimitBytes: r.memoryLimitBytes } : {}),
    ...(r.memorySwapLimitBytes !== 0 ? { memorySwapLimitBytes: r.memorySwapLimitBytes } : {}),
    ...(r.hugepageLimits.length > 0
      ? { hugepageLimits: r.hugepageLimits.map((h) => ({ pageSize: h.pageSize, limitBytes: h.limit })) }
      : {}),
  };
  return Object.keys(out).length > 0 ? out : undefined;
}

async function seccompOf(profile: SecurityProfile, privileged: boolean): Promise<SeccompRequest> {
  if (privileged || profile.kind === 'unconfined') return { kind: 'unconfined' };
  if (profile.kind === 'runtime-default') return { kind: 'default' };
  const path = profile.ref.replace(/^localhost\//, '');
  if (!isAbsolute(path))
    throw new InvalidArgumentError(`seccomp localhost profile "${profile.ref}" must be an absolute path`);
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new InvalidArgumentError(`seccomp profile ${path} cannot be read: ${err.code ?? err.message}`);
  });
  try {
    return { kind: 'custom', profile: JSON.parse(text) as never };
  } catch {
    throw new InvalidArgumentError(`seccomp profile ${path} is not valid JSON`);
  }
}

function userOf(spec: ContainerSpec): string | undefined {
  const sc = spec.linux.securityContext;
  if (sc.runAsGroup !== undefined && sc.runAsUser === undefined && !sc.runAsUsername)
    throw new InvalidArgumentError(
      'config.linux.security_context.run_as_group is set without run_as_user or run_as_username: a group needs a user',
    );
  if (sc.runAsUser !== undefined)
    return sc.runAsGroup !== undefined ? `${sc.runAsUser}:${sc.runAsGroup}` : String(sc.runAsUser);
  if (sc.runAsUsername)
    return sc.runAsGroup !== undefined ? `${sc.runAsUsername}:${sc.runAsGroup}` : sc.runAsUsername;
  return undefined;
}

export async function createRequestOf(
  sandbox: SandboxView,
  spec: ContainerSpec,
  podSpec: PodSandboxSpec | undefined,
): Promise<CreateContainerRequest> {
  const sc = spec.linux.securityContext;
  if (sc.namespaces.pid === 'target')
    throw new UnimplementedError(
      "config.linux.security_context.namespace_options.pid TARGET: joining another container's PID namespace is not supported yet",
    );
  const pidNamespace =
    sc.namespaces.pid === 'pod' ? 'pod' : sc.namespaces.pid === 'node' ? 'host' : undefined;
  // Image volumes (KEP-4639) are images mounted read-only; the other mounts are host paths.
  const imageMounts = spec.mounts.filter((m) => m.image?.image);
  const hostMounts = spec.mounts.filter((m) => !m.image?.image);
  const logDirectory = sandbox.config?.logDirectory ?? podSpec?.logDirectory ?? '';
  const user = userOf(spec);
  const resources = resourceRequestOf(spec.linux.resources);
  const sysctls = podSpec?.linux.sysctls ?? {};
  const privileged = sc.privileged;
  return {
    namespace: sandbox.namespace || CRI_NAMESPACE,
    sandboxId: sandbox.id,
    name: spec.metadata.name,
    attempt: spec.metadata.attempt,
    image: spec.image.image,
    ...(spec.command.length > 0 ? { command: spec.command } : {}),
    ...(spec.args.length > 0 ? { args: spec.args } : {}),
    env: spec.envs,
    ...(spec.workingDir ? { workingDir: spec.workingDir } : {}),
    ...(user ? { user } : {}),
    ...(sc.supplementalGroups.length > 0 ? { supplementalGroups: sc.supplementalGroups } : {}),
    ...(sc.supplementalGroupsPolicy === 'strict' ? { supplementalGroupsPolicy: 'strict' as const } : {}),
    tty: spec.tty,
    ...(spec.stopSignal ? { stopSignal: spec.stopSignal } : {}),
    stdin: spec.stdin,
    stdinOnce: spec.stdinOnce,
    ...(pidNamespace ? { pidNamespace } : {}),
    ...(imageMounts.length > 0
      ? {
          imageVolumes: imageMounts.map((m) => ({
            image: m.image!.image,
            containerPath: m.containerPath,
            ...(m.imageSubPath ? { subPath: m.imageSubPath } : {}),
          })),
        }
      : {}),
    binds: hostMounts.map((m) => ({
      hostPath: m.hostPath,
      containerPath: m.containerPath,
      readonly: m.readonly,
      propagation: PROPAGATION[m.propagation],
    })),
    readonlyRootfs: sc.readonlyRootfs,
    capabilities: privileged ? { add: ['ALL'] } : { add: sc.capabilities.add, drop: sc.capabilities.drop },
    noNewPrivileges: sc.noNewPrivs,
    seccomp: await seccompOf(sc.seccomp, privileged),
    // Privileged containers see everything: no masked or read-only paths (as containerd does).
    ...(privileged
      ? { maskedPaths: [], readonlyPaths: [] }
      : {
          ...(sc.maskedPaths.length > 0 ? { maskedPaths: sc.maskedPaths } : {}),
          ...(sc.readonlyPaths.length > 0 ? { readonlyPaths: sc.readonlyPaths } : {}),
        }),
    devices: spec.devices.map((d) => ({
      hostPath: d.hostPath,
      containerPath: d.containerPath,
      permissions: d.permissions,
    })),
    ...(Object.keys(sysctls).length > 0 ? { sysctls } : {}),
    ...(spec.linux.resources && spec.linux.resources.oomScoreAdj !== 0
      ? { oomScoreAdj: spec.linux.resources.oomScoreAdj }
      : {}),
    ...(resources ? { resources } : {}),
    ...(spec.logPath && logDirectory ? { logPath: join(logDirectory, spec.logPath) } : {}),
    labels: spec.labels,
    annotations: {
      ...spec.annotations,
      [ATTEMPT_ANNOTATION]: String(spec.metadata.attempt),
      ...(spec.mounts.length > 0 ? { [MOUNTS_ANNOTATION]: JSON.stringify(spec.mounts) } : {}),
    },
    ...(sandbox.runtimeHandler ? { runtimeHandler: sandbox.runtimeHandler } : {}),
  };
}

function stateOf(s: ContainerStatus): ContainerState {
  if (s.state === 'paused') return 'running';
  return s.state;
}

export function publicAnnotations(annotations: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(annotations).filter(([k]) => !HIDDEN_ANNOTATIONS.includes(k)));
}

function mountsOf(s: ContainerStatus): Mount[] {
  const json = s.annotations[MOUNTS_ANNOTATION];
  if (!json) return [];
  try {
    return JSON.parse(json) as Mount[];
  } catch {
    return [];
  }
}

/** The repository of a named reference; undefined for an image id or digest (`sha256:…`). */
function repositoryOf(ref: string): string | undefined {
  return /^(sha256:)?[0-9a-f]{64}$/.test(ref) ? undefined : repository(ref);
}

/**
 * `image` is the CRI view of the image the container was created from, while it is on the node.
 * kubelet creates containers from the image id, so the names shown come from the image: its first
 * tag as the image, its first repo digest as the image ref (as containerd reports them).
 */
export function containerSummaryOf(s: ContainerStatus, image: ImageRecord | undefined): ContainerSummary {
  const repo = repositoryOf(s.image);
  const imageRef =
    image?.repoDigests[0] ??
    (repo && s.imageDigest ? `${repo}@${s.imageDigest}` : (image?.id ?? s.imageDigest ?? s.image));
  return {
    id: s.id,
    podSandboxId: s.sandboxId ?? '',
    metadata: { name: s.name, attempt: Number(s.annotations[ATTEMPT_ANNOTATION] ?? 0) || 0 },
    image: {
      image: image?.repoTags[0] ?? s.image,
      annotations: {},
      userSpecifiedImage: s.image,
      runtimeHandler: '',
    },
    imageRef,
    imageId: image?.id ?? s.imageDigest ?? '',
    state: stateOf(s),
    createdAt: isoToNanos(s.createdAt),
    labels: s.labels,
    annotations: publicAnnotations(s.annotations),
  };
}

/** The limits in force as CRI reports them (kubelet shows them as the pod's actual resources). */
function linuxResourcesOf(r: NonNullable<ContainerStatus['resources']>): LinuxResources {
  return {
    cpuPeriod: r.cpuPeriod ?? 0,
    cpuQuota: r.cpuQuota ?? 0,
    cpuShares: r.cpuShares ?? 0,
    memoryLimitBytes: r.memoryLimitBytes ?? 0,
    memorySwapLimitBytes: r.memorySwapLimitBytes ?? 0,
    oomScoreAdj: 0,
    cpusetCpus: r.cpusetCpus ?? '',
    cpusetMems: r.cpusetMems ?? '',
    hugepageLimits: [],
    unified: {},
  };
}

/**
 * The groups a container's first process holds, as kubelet compares them with `id -G`: the
 * primary gid first, then the supplementary ones (containerd reports them so too).
 */
function statusUserOf(user: NonNullable<ContainerStatus['user']>): NonNullable<ContainerDetails['user']> {
  const others = user.additionalGids.filter((g) => g !== user.gid);
  return { uid: user.uid, gid: user.gid, supplementalGroups: [user.gid, ...others] };
}

export function containerDetailsOf(s: ContainerStatus, image: ImageRecord | undefined): ContainerDetails {
  const exited = s.state === 'exited';
  return {
    ...containerSummaryOf(s, image),
    startedAt: isoToNanos(s.startedAt),
    finishedAt: exited ? isoToNanos(s.exitedAt) : 0n,
    exitCode: exited ? (s.exitCode ?? 0) : 0,
    reason: s.reason ?? '',
    message: '',
    mounts: mountsOf(s),
    logPath: s.logPath ?? '',
    ...(s.user ? { user: statusUserOf(s.user) } : {}),
    ...(s.resources ? { resources: linuxResourcesOf(s.resources) } : {}),
    stopSignal: s.stopSignal ?? '',
  };
}

/**
 * conmon reopens the log when it reads the request from its control fifo, after the runtime
 * call has returned; kubelet (and critest) expect the new file once ReopenContainerLog returns,
 * as containerd delivers. Waits for it, briefly: a log that does not come back is not an error here.
 */
export async function logReopened(logPath: string | undefined, timeoutMs = 2_000): Promise<void> {
  if (!logPath) return;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (
      await stat(logPath).then(
        () => true,
        () => false,
      )
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
