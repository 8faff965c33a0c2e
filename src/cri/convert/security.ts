/** Namespace options and security profiles from the wire. */
import { checkIdMappings, type IdMapping, type IdMappings } from '../../common/id-mappings.js';
import type { NamespaceMode, NamespaceOptions, SecurityProfile } from '../types/sandbox.js';
import { invalid, requireNonEmpty } from '../validate.js';
import type { OutNamespaceOption, WireNamespaceOption, WireSecurityProfile } from '../wire.js';
import { enumFromWire, enumToWire } from './common.js';

const NAMESPACE_MODES: Record<'POD' | 'CONTAINER' | 'NODE' | 'TARGET', NamespaceMode> = {
  POD: 'pod',
  CONTAINER: 'container',
  NODE: 'node',
  TARGET: 'target',
};

export function namespacesFromWire(field: string, wire: WireNamespaceOption | null): NamespaceOptions {
  if (!wire) return { network: 'pod', pid: 'container', ipc: 'pod', targetId: '' };
  const options: NamespaceOptions = {
    network: enumFromWire(`${field}.network`, wire.network, NAMESPACE_MODES),
    pid: enumFromWire(`${field}.pid`, wire.pid, NAMESPACE_MODES),
    ipc: enumFromWire(`${field}.ipc`, wire.ipc, NAMESPACE_MODES),
    targetId: wire.target_id,
  };
  if (options.pid === 'target' && options.targetId === '') {
    throw invalid(`${field}.target_id`, 'is empty but pid mode is TARGET');
  }
  if (options.network === 'target' || options.ipc === 'target') {
    throw invalid(field, 'TARGET mode is only defined for the pid namespace');
  }
  const userns = usernsFromWire(`${field}.userns_options`, wire.userns_options);
  return userns ? { ...options, userns } : options;
}

/**
 * KEP-127: mode NODE (or no options) is the node's ids; POD is a user namespace of the pod's own
 * with the mappings kubelet chose. CONTAINER and TARGET are not defined for user namespaces.
 */
function usernsFromWire(field: string, wire: WireNamespaceOption['userns_options']): IdMappings | undefined {
  if (!wire) return undefined;
  const mode = enumFromWire(`${field}.mode`, wire.mode, NAMESPACE_MODES);
  if (mode === 'node') {
    if (wire.uids.length + wire.gids.length > 0)
      throw invalid(field, 'mode NODE uses the node ids: uids and gids must be empty');
    return undefined;
  }
  if (mode !== 'pod')
    throw invalid(
      `${field}.mode`,
      `${mode.toUpperCase()} is not supported for user namespaces (POD or NODE)`,
    );
  const list = (kind: 'uids' | 'gids') =>
    wire[kind].map((m) => ({ containerId: m.container_id, hostId: m.host_id, size: m.length }));
  return checkIdMappings(field, { uids: list('uids'), gids: list('gids') });
}

export function namespacesToWire(ns: NamespaceOptions): OutNamespaceOption {
  return {
    network: enumToWire(ns.network, NAMESPACE_MODES),
    pid: enumToWire(ns.pid, NAMESPACE_MODES),
    ipc: enumToWire(ns.ipc, NAMESPACE_MODES),
    target_id: ns.targetId,
    userns_options: ns.userns
      ? {
          mode: enumToWire('pod', NAMESPACE_MODES),
          uids: ns.userns.uids.map(idMappingToWire),
          gids: ns.userns.gids.map(idMappingToWire),
        }
      : { mode: enumToWire('node', NAMESPACE_MODES), uids: [], gids: [] },
  };
}

const idMappingToWire = (m: IdMapping) => ({
  container_id: m.containerId,
  host_id: m.hostId,
  length: m.size,
});

/**
 * The structured profile wins over the deprecated path field, as in kubelet; `localhost/<path>`,
 * `runtime/default`, `docker/default` and `unconfined` are the legacy spellings.
 */
export function securityProfileFromWire(
  field: string,
  wire: WireSecurityProfile | null,
  legacy: { field: string; value: string },
): SecurityProfile {
  const legacyPath = legacy.value;
  if (wire) {
    const kind = enumFromWire(`${field}.profile_type`, wire.profile_type, {
      RuntimeDefault: 'runtime-default',
      Unconfined: 'unconfined',
      Localhost: 'localhost',
    } as const);
    if (kind === 'localhost')
      return { kind, ref: requireNonEmpty(`${field}.localhost_ref`, wire.localhost_ref) };
    return { kind };
  }
  // No profile at all is unconfined, as in containerd and CRI-O (kubelet always sends one).
  if (legacyPath === '') return { kind: 'unconfined' };
  if (legacyPath === 'runtime/default' || legacyPath === 'docker/default') {
    return { kind: 'runtime-default' };
  }
  if (legacyPath === 'unconfined') return { kind: 'unconfined' };
  if (legacyPath.startsWith('localhost/'))
    return { kind: 'localhost', ref: legacyPath.slice('localhost/'.length) };
  throw invalid(legacy.field, `${JSON.stringify(legacyPath)} is not a known seccomp profile spelling`);
}
