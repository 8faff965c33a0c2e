/** Container messages: the CreateContainer config in, statuses and list rows out. */
import type {
  ContainerDetails,
  ContainerFilter,
  ContainerMetadata,
  ContainerSecurityContext,
  ContainerSpec,
  ContainerState,
  Mount,
  MountPropagation,
  SupplementalGroupsPolicy,
} from '../types/container.js';
import {
  invalid,
  requireAbsolutePath,
  requireMessage,
  requireNonEmpty,
  validateStringList,
  validateStringMap,
} from '../validate.js';
import type {
  OutContainer,
  OutContainerMetadata,
  OutContainerStatus,
  OutMount,
  WireContainerConfig,
  WireContainerFilter,
  WireContainerMetadata,
  WireLinuxContainerSecurityContext,
  WireMount,
} from '../wire.js';
import type { ContainerSummary } from '../types/container.js';
import { enumFromWire, enumToWire, nanosOut, optionalMap, optionalString } from './common.js';
import { imageSpecFromWire, imageSpecToWire } from './image.js';
import { resourcesFromWire, resourcesToWire } from './resources.js';
import { namespacesFromWire, securityProfileFromWire } from './security.js';
import { SIGNAL_NAMES } from './signals.js';

export const CONTAINER_STATES: Record<
  'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN',
  ContainerState
> = {
  CONTAINER_CREATED: 'created',
  CONTAINER_RUNNING: 'running',
  CONTAINER_EXITED: 'exited',
  CONTAINER_UNKNOWN: 'unknown',
};

const PROPAGATIONS: Record<
  'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL',
  MountPropagation
> = {
  PROPAGATION_PRIVATE: 'private',
  PROPAGATION_HOST_TO_CONTAINER: 'host-to-container',
  PROPAGATION_BIDIRECTIONAL: 'bidirectional',
};

const DEVICE_PERMISSIONS = /^[rwm]{1,3}$/;

export function containerMetadataFromWire(
  field: string,
  wire: WireContainerMetadata | null,
): ContainerMetadata {
  const m = requireMessage(field, wire);
  return { name: requireNonEmpty(`${field}.name`, m.name), attempt: m.attempt };
}

function mountFromWire(field: string, m: WireMount): Mount {
  const image = m.image && m.image.image !== '' ? imageSpecFromWire(`${field}.image`, m.image) : undefined;
  if (!image) requireAbsolutePath(`${field}.host_path`, m.host_path);
  const mount: Mount = {
    containerPath: requireAbsolutePath(`${field}.container_path`, m.container_path),
    hostPath: m.host_path,
    readonly: m.readonly,
    recursiveReadOnly: m.recursive_read_only,
    selinuxRelabel: m.selinux_relabel,
    propagation: enumFromWire(`${field}.propagation`, m.propagation, PROPAGATIONS),
    uidMappings: m.uidMappings.map((x) => ({
      hostId: x.host_id,
      containerId: x.container_id,
      length: x.length,
    })),
    gidMappings: m.gidMappings.map((x) => ({
      hostId: x.host_id,
      containerId: x.container_id,
      length: x.length,
    })),
    imageSubPath: m.image_sub_path,
  };
  if (image) mount.image = image;
  if (mount.recursiveReadOnly && !mount.readonly) {
    throw invalid(`${field}.recursive_read_only`, 'requires readonly to be set too');
  }
  if (mount.recursiveReadOnly && mount.propagation !== 'private') {
    throw invalid(`${field}.recursive_read_only`, 'requires PROPAGATION_PRIVATE');
  }
  if (mount.imageSubPath.split('/').includes('..')) {
    throw invalid(`${field}.image_sub_path`, `${JSON.stringify(mount.imageSubPath)} leaves the image`);
  }
  return mount;
}

const SUPPLEMENTAL_GROUPS_POLICIES: Record<'Merge' | 'Strict', SupplementalGroupsPolicy> = {
  Merge: 'merge',
  Strict: 'strict',
};

function securityContextFromWire(
  field: string,
  sc: WireLinuxContainerSecurityContext | null,
): ContainerSecurityContext {
  const caps = sc?.capabilities;
  return {
    capabilities: {
      add: validateStringList(`${field}.capabilities.add_capabilities`, caps?.add_capabilities ?? []),
      drop: validateStringList(`${field}.capabilities.drop_capabilities`, caps?.drop_capabilities ?? []),
      addAmbient: validateStringList(
        `${field}.capabilities.add_ambient_capabilities`,
        caps?.add_ambient_capabilities ?? [],
      ),
    },
    privileged: sc?.privileged ?? false,
    namespaces: namespacesFromWire(`${field}.namespace_options`, sc?.namespace_options ?? null),
    ...(sc?.run_as_user ? { runAsUser: sc.run_as_user.value } : {}),
    ...(sc?.run_as_group ? { runAsGroup: sc.run_as_group.value } : {}),
    runAsUsername: sc?.run_as_username ?? '',
    readonlyRootfs: sc?.readonly_rootfs ?? false,
    supplementalGroups: [...(sc?.supplemental_groups ?? [])],
    supplementalGroupsPolicy: enumFromWire(
      `${field}.supplemental_groups_policy`,
      sc?.supplemental_groups_policy ?? 'Merge',
      SUPPLEMENTAL_GROUPS_POLICIES,
    ),
    noNewPrivs: sc?.no_new_privs ?? false,
    maskedPaths: validateStringList(`${field}.masked_paths`, sc?.masked_paths ?? []),
    readonlyPaths: validateStringList(`${field}.readonly_paths`, sc?.readonly_paths ?? []),
    seccomp: securityProfileFromWire(`${field}.seccomp`, sc?.seccomp ?? null, {
      field: `${field}.seccomp_profile_path`,
      value: sc?.seccomp_profile_path ?? '',
    }),
    apparmor: securityProfileFromWire(`${field}.apparmor`, sc?.apparmor ?? null, {
      field: `${field}.apparmor_profile`,
      value: sc?.apparmor_profile ?? '',
    }),
  };
}

/** Validates and converts a ContainerConfig; `field` is its path in the request (e.g. `config`). */
export function containerSpecFromWire(field: string, wire: WireContainerConfig | null): ContainerSpec {
  const c = requireMessage(field, wire);
  const metadata = containerMetadataFromWire(`${field}.metadata`, c.metadata);
  const image = imageSpecFromWire(`${field}.image`, c.image);
  const sc = securityContextFromWire(`${field}.linux.security_context`, c.linux?.security_context ?? null);
  if (sc.runAsUser !== undefined && sc.runAsUsername !== '') {
    throw invalid(`${field}.linux.security_context`, 'sets both run_as_user and run_as_username');
  }
  // The log path is relative to the pod's log directory and must stay inside it.
  if (c.log_path.startsWith('/') || c.log_path.split('/').includes('..') || c.log_path.includes('\0')) {
    throw invalid(`${field}.log_path`, `${JSON.stringify(c.log_path)} leaves the log directory`);
  }
  c.envs.forEach((kv, i) => {
    if (kv.key === '' || kv.key.includes('=') || kv.key.includes('\0') || kv.value.includes('\0')) {
      throw invalid(
        `${field}.envs[${i}].key`,
        `${JSON.stringify(kv.key)} is not an environment variable name`,
      );
    }
  });
  const linux: ContainerSpec['linux'] = { securityContext: sc };
  const resources = resourcesFromWire(`${field}.linux.resources`, c.linux?.resources ?? null);
  if (resources) linux.resources = resources;
  return {
    metadata,
    image,
    command: validateStringList(`${field}.command`, c.command),
    args: validateStringList(`${field}.args`, c.args),
    workingDir: c.working_dir === '' ? '' : requireAbsolutePath(`${field}.working_dir`, c.working_dir),
    envs: c.envs.map((kv) => ({ key: kv.key, value: kv.value })),
    mounts: c.mounts.map((m, i) => mountFromWire(`${field}.mounts[${i}]`, m)),
    devices: c.devices.map((d, i) => {
      const f = `${field}.devices[${i}]`;
      if (d.permissions !== '' && !DEVICE_PERMISSIONS.test(d.permissions)) {
        throw invalid(`${f}.permissions`, `${JSON.stringify(d.permissions)} is not a combination of r, w, m`);
      }
      return {
        containerPath: requireAbsolutePath(`${f}.container_path`, d.container_path),
        hostPath: requireAbsolutePath(`${f}.host_path`, d.host_path),
        permissions: d.permissions,
      };
    }),
    cdiDevices: c.CDI_devices.map((d, i) => requireNonEmpty(`${field}.CDI_devices[${i}].name`, d.name)),
    labels: validateStringMap(`${field}.labels`, c.labels),
    annotations: validateStringMap(`${field}.annotations`, c.annotations),
    logPath: c.log_path,
    stdin: c.stdin,
    stdinOnce: c.stdin_once,
    tty: c.tty,
    linux,
    stopSignal: enumFromWire(`${field}.stop_signal`, c.stop_signal, SIGNAL_NAMES),
  };
}

export function containerMetadataToWire(m: ContainerMetadata): OutContainerMetadata {
  return { name: m.name, attempt: m.attempt };
}

export function containerToWire(c: ContainerSummary): OutContainer {
  return {
    id: c.id,
    pod_sandbox_id: c.podSandboxId,
    metadata: containerMetadataToWire(c.metadata),
    image: imageSpecToWire(c.image),
    image_ref: c.imageRef,
    image_id: c.imageId,
    state: enumToWire(c.state, CONTAINER_STATES),
    created_at: nanosOut(c.createdAt),
    labels: { ...c.labels },
    annotations: { ...c.annotations },
  };
}

function mountToWire(m: Mount): OutMount {
  return {
    container_path: m.containerPath,
    host_path: m.hostPath,
    readonly: m.readonly,
    recursive_read_only: m.recursiveReadOnly,
    selinux_relabel: m.selinuxRelabel,
    propagation: enumToWire(m.propagation, PROPAGATIONS),
    uidMappings: m.uidMappings.map((x) => ({
      host_id: x.hostId,
      container_id: x.containerId,
      length: x.length,
    })),
    gidMappings: m.gidMappings.map((x) => ({
      host_id: x.hostId,
      container_id: x.containerId,
      length: x.length,
    })),
    image: m.image ? imageSpecToWire(m.image) : null,
    image_sub_path: m.imageSubPath,
  };
}

export function containerStatusToWire(c: ContainerDetails): OutContainerStatus {
  return {
    id: c.id,
    metadata: containerMetadataToWire(c.metadata),
    state: enumToWire(c.state, CONTAINER_STATES),
    created_at: nanosOut(c.createdAt),
    started_at: nanosOut(c.startedAt),
    finished_at: nanosOut(c.finishedAt),
    exit_code: c.exitCode,
    image: imageSpecToWire(c.image),
    image_ref: c.imageRef,
    image_id: c.imageId,
    reason: c.reason,
    message: c.message,
    labels: { ...c.labels },
    annotations: { ...c.annotations },
    mounts: c.mounts.map(mountToWire),
    log_path: c.logPath,
    resources: c.resources ? { linux: resourcesToWire(c.resources) } : null,
    user: c.user
      ? { linux: { uid: c.user.uid, gid: c.user.gid, supplemental_groups: [...c.user.supplementalGroups] } }
      : null,
    stop_signal: enumToWire(c.stopSignal, SIGNAL_NAMES),
  };
}

export function containerFilterFromWire(wire: WireContainerFilter | null): ContainerFilter {
  if (!wire) return {};
  const filter: ContainerFilter = {};
  const id = optionalString(wire.id);
  if (id !== undefined) filter.id = id;
  const pod = optionalString(wire.pod_sandbox_id);
  if (pod !== undefined) filter.podSandboxId = pod;
  if (wire.state) filter.state = enumFromWire('filter.state.state', wire.state.state, CONTAINER_STATES);
  const labels = optionalMap(wire.label_selector);
  if (labels) filter.labelSelector = labels;
  return filter;
}
