/**
 * What the Berth CRI backend is built on: the daemon's three services and the node's
 * subsystems (event projections for reads, runtime handlers and CNI for status). Types only:
 * the daemon constructs the backend and hands these in, so `cri` never imports the daemon.
 */
import type { ContainerService } from '../../daemon/containers.js';
import type { ImageService } from '../../daemon/images.js';
import type { NodeServices } from '../../daemon/node-services.js';
import type { SandboxService } from '../../daemon/sandboxes.js';
import type { StreamingServer } from '../streaming/server.js';

export interface BerthCriDeps {
  images: () => ImageService;
  sandboxes: SandboxService;
  containers: ContainerService;
  node: () => NodeServices;
  /** Where Exec, Attach and PortForward sessions are served; its URLs are what those calls return. */
  streaming: StreamingServer;
  /** RuntimeClass handlers berthd knows (from its configuration): runc, crun, runsc. */
  runtimeHandlers: string[];
}

/** The Berth namespace every CRI object lives in (containerd's name for kubelet's namespace). */
export const CRI_NAMESPACE = 'k8s.io';

/** ISO-8601 time as CRI's int64 nanoseconds (millisecond precision: what the records hold). */
export function isoToNanos(iso: string | undefined): bigint {
  if (!iso) return 0n;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? 0n : BigInt(ms) * 1_000_000n;
}

export function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
