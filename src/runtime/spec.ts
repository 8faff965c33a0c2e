/**
 * OCI runtime spec generation. `generateSpec` is pure: it takes the request, what was read from the
 * rootfs and the host, and returns the spec plus warnings. `buildSpec` gathers those inputs from disk
 * (the image's /etc/passwd and /etc/group, bind sources, devices, the working directory) and calls it.
 */
import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../common/errors.js';
import { checkIdMappings } from '../common/id-mappings.js';
import { detectHostFacts, type HostFacts } from './host.js';
import type { OciNamespace, OciSpec } from './oci-types.js';
import { ociCapabilities, resolveCapabilities } from './spec-capabilities.js';
import { buildMounts, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, ociIdMappings } from './spec-mounts.js';
import { mergeEnv, resolveArgs, resolveCwd, resolveUser } from './spec-process.js';
import {
  buildDevices,
  buildResources,
  fitHugepageLimits,
  buildRlimits,
  checkSysctls,
  clampOomScoreAdj,
  usesHostNetwork,
  type HostDevice,
} from './spec-resources.js';
import { defaultSeccompProfile } from './spec-seccomp.js';
import type { ContainerRequest } from './spec-request.js';
import { readInRoot, resolveInRoot } from './rootfs-path.js';

export type * from './spec-request.js';

/** What `generateSpec` needs from the filesystem, gathered by `buildSpec` (or given directly in unit tests). */
export interface SpecInputs {
  /** Contents of the rootfs's /etc/passwd and /etc/group ('' when absent). */
  passwd: string;
  group: string;
  /** Requested devices, stat'ed on the host. */
  devices: HostDevice[];
}

export interface GeneratedSpec {
  spec: OciSpec;
  /** Things adjusted to fit the host (e.g. a clamped oom_score_adj): log them. */
  warnings: string[];
}

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A container id that is safe as a file name, a cgroup leaf and a runc id. */
export function checkContainerId(id: string): string {
  if (!CONTAINER_ID.test(id)) {
    throw new InvalidArgumentError(
      `id: "${id}" must be 1-128 characters of letters, digits, _ . - (not starting with . _ -)`,
    );
  }
  return id;
}

function namespaces(req: ContainerRequest): OciNamespace[] {
  const out: OciNamespace[] = [];
  const shared = req.namespaces ?? {};
  if (req.idMappings) {
    checkIdMappings('idMappings', req.idMappings);
    if (shared.user !== undefined && !shared.user.startsWith('/'))
      throw new InvalidArgumentError(`namespaces.user: "${shared.user}" is not an absolute path`);
    out.push(shared.user ? { type: 'user', path: shared.user } : { type: 'user' });
  } else if (shared.user !== undefined) {
    throw new InvalidArgumentError('namespaces.user: a user namespace needs its idMappings');
  }
  const entries: [OciNamespace['type'], string | undefined][] = [
    ['pid', shared.pid],
    ['network', shared.network],
    ['ipc', shared.ipc],
    ['uts', shared.uts],
  ];
  for (const [type, path] of entries) {
    if (path === 'host') continue;
    if (path === undefined) {
      out.push({ type });
    } else {
      if (!path.startsWith('/')) {
        throw new InvalidArgumentError(`namespaces.${type}: "${path}" is not an absolute path or "host"`);
      }
      out.push({ type, path });
    }
  }
  out.push({ type: 'mount' });
  return out;
}

function cgroupsPath(req: ContainerRequest): string {
  const parent = req.cgroupParent;
  if (!parent.startsWith('/') || parent.split('/').includes('..')) {
    throw new InvalidArgumentError(`cgroupParent: "${parent}" must be an absolute cgroup path without ".."`);
  }
  return posix.join(parent, req.id);
}

/** Builds the OCI spec for `req`; pure apart from its arguments. */
export function generateSpec(req: ContainerRequest, inputs: SpecInputs, host: HostFacts): GeneratedSpec {
  checkContainerId(req.id);
  if (!req.rootfsPath.startsWith('/')) {
    throw new InvalidArgumentError(`rootfsPath: "${req.rootfsPath}" is not an absolute path`);
  }
  const warnings: string[] = [];
  const image = req.image ?? {};
  const user = resolveUser(
    req.user || image.user,
    inputs.passwd,
    inputs.group,
    req.supplementalGroups,
    req.supplementalGroupsPolicy ?? 'merge',
  );
  const caps = resolveCapabilities(req.capabilities, host.boundingCapabilities);
  const oom = clampOomScoreAdj(req.oomScoreAdj, host);
  if (oom.warning) warnings.push(oom.warning);
  const { mounts, rootfsPropagation } = buildMounts(req);
  const devices = buildDevices(inputs.devices);
  const resources = buildResources(req.resources);
  const hugepages = fitHugepageLimits(resources, host.hugetlbController);
  if (hugepages) warnings.push(hugepages);
  resources.devices = devices.rules;
  const nsList = namespaces(req);
  const sysctl = checkSysctls(req.sysctls, usesHostNetwork(req.namespaces));
  const rlimits = buildRlimits(req.rlimits, host);

  const seccompReq = req.seccomp ?? { kind: 'default' };
  const seccomp =
    seccompReq.kind === 'default'
      ? defaultSeccompProfile(caps, host.arch)
      : seccompReq.kind === 'custom'
        ? seccompReq.profile
        : undefined;

  const spec: OciSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: req.tty ?? false,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      args: resolveArgs(req, image),
      env: mergeEnv(image.env ?? [], req.env ?? [], user.home),
      cwd: resolveCwd(req, image),
      capabilities: ociCapabilities(caps),
      noNewPrivileges: req.noNewPrivileges ?? true,
      ...(rlimits.length > 0 ? { rlimits } : {}),
      ...(oom.value !== undefined ? { oomScoreAdj: oom.value } : {}),
    },
    root: { path: req.rootfsPath, readonly: req.readonlyRootfs ?? false },
    mounts,
    linux: {
      namespaces: nsList,
      // Joining the pod's user namespace by path: the namespace already has its mappings, and runc
      // (≥ 1.2) reads them from it and warns into the container's log when the spec repeats them.
      ...(req.idMappings && !req.namespaces?.user
        ? { uidMappings: ociIdMappings(req.idMappings.uids), gidMappings: ociIdMappings(req.idMappings.gids) }
        : {}),
      cgroupsPath: cgroupsPath(req),
      resources,
      maskedPaths: [...(req.maskedPaths ?? DEFAULT_MASKED_PATHS)],
      readonlyPaths: [...(req.readonlyPaths ?? DEFAULT_READONLY_PATHS)],
      ...(devices.nodes.length > 0 ? { devices: devices.nodes } : {}),
      ...(Object.keys(sysctl).length > 0 ? { sysctl } : {}),
      ...(seccomp ? { seccomp } : {}),
      ...(rootfsPropagation ? { rootfsPropagation } : {}),
    },
  };
  const ownUts = nsList.some((n) => n.type === 'uts' && n.path === undefined);
  if (req.hostname !== undefined && ownUts) spec.hostname = req.hostname;
  if (req.annotations && Object.keys(req.annotations).length > 0) spec.annotations = { ...req.annotations };
  return { spec, warnings };
}

/** Splits a Linux dev_t into major and minor (the glibc gnu_dev_major/minor encoding). */
export function deviceNumbers(rdev: number): { major: number; minor: number } {
  const dev = BigInt(rdev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}

async function statDevices(req: ContainerRequest): Promise<HostDevice[]> {
  return Promise.all(
    (req.devices ?? []).map(async (d, i) => {
      const field = `devices[${i}].hostPath`;
      if (!d.hostPath.startsWith('/'))
        throw new InvalidArgumentError(`${field}: "${d.hostPath}" is not absolute`);
      const st = await stat(d.hostPath).catch((err: unknown) => {
        throw new NotFoundError(`${field}: cannot stat "${d.hostPath}"`, { cause: err });
      });
      if (!st.isCharacterDevice() && !st.isBlockDevice()) {
        throw new InvalidArgumentError(`${field}: "${d.hostPath}" is not a device node`);
      }
      return {
        hostPath: d.hostPath,
        containerPath: d.containerPath ?? d.hostPath,
        type: st.isCharacterDevice() ? 'c' : 'b',
        ...deviceNumbers(st.rdev),
        fileMode: st.mode & 0o7777,
        permissions: d.permissions ?? 'rwm',
      } satisfies HostDevice;
    }),
  );
}

async function checkHostPaths(req: ContainerRequest): Promise<void> {
  const sources: [string, string][] = (req.binds ?? []).map((b, i) => [b.hostPath, `binds[${i}].hostPath`]);
  const files = req.sandboxFiles ?? {};
  for (const [key, value] of Object.entries(files)) if (value) sources.push([value, `sandboxFiles.${key}`]);
  for (const [ns, path] of Object.entries(req.namespaces ?? {})) {
    if (path && path !== 'host') sources.push([path, `namespaces.${ns}`]);
  }
  await Promise.all(
    sources.map(async ([path, field]) => {
      if (!path.startsWith('/'))
        throw new InvalidArgumentError(`${field}: "${path}" is not an absolute path`);
      await stat(path).catch((err: unknown) => {
        throw new InvalidArgumentError(`${field}: "${path}" does not exist on the host`, { cause: err });
      });
    }),
  );
}

async function checkWorkingDir(req: ContainerRequest, cwd: string): Promise<void> {
  const hostPath = await resolveInRoot(req.rootfsPath, cwd);
  const st = await stat(hostPath).catch(() => undefined);
  // A missing cwd is created by runc; an existing non-directory can never work.
  if (st && !st.isDirectory())
    throw new InvalidArgumentError(`workingDir: "${cwd}" exists in the image but is not a directory`);
}

/** Reads what the spec depends on from the rootfs and host, validates host paths, and generates the spec. */
export async function buildSpec(req: ContainerRequest, host?: HostFacts): Promise<GeneratedSpec> {
  const facts = host ?? (await detectHostFacts());
  if (!req.rootfsPath.startsWith('/')) {
    throw new InvalidArgumentError(`rootfsPath: "${req.rootfsPath}" is not an absolute path`);
  }
  const rootStat = await stat(req.rootfsPath).catch(() => undefined);
  if (!rootStat?.isDirectory()) throw new NotFoundError(`rootfsPath: "${req.rootfsPath}" is not a directory`);
  const [passwd, group, devices] = await Promise.all([
    readInRoot(req.rootfsPath, '/etc/passwd'),
    readInRoot(req.rootfsPath, '/etc/group'),
    statDevices(req),
    checkHostPaths(req),
  ]);
  const generated = generateSpec(req, { passwd, group, devices }, facts);
  await checkWorkingDir(req, generated.spec.process.cwd);
  return generated;
}
