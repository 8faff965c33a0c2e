/**
 * `berth fleet ps`: each node's pods and containers, folded from its stream with the events
 * subsystem's own fold (applyEvent), so the fleet sees what each node's projections hold. A fold
 * stops at the first message that does not continue the node's seq, and says so.
 */
import type { NatsConnection } from 'nats';
import { errorMessage } from '../common/errors.js';
import { decodeEvent } from '../events/log.js';
import { applyEvent, emptyState, type NodeState } from '../events/projections/state.js';
import { readStream } from '../events/witness.js';
import type { FleetNode } from './streams.js';

export interface FleetPod {
  node: string;
  namespace: string;
  id: string;
  name: string;
  /** The pod's Kubernetes namespace (CRI metadata), when it has one. */
  podNamespace?: string;
  state: 'created' | 'ready' | 'notready';
  ips: string[];
  createdAt: string;
}

export type FleetContainerState = 'created' | 'running' | 'paused' | 'exited' | 'unknown';

export interface FleetContainer {
  node: string;
  namespace: string;
  id: string;
  name: string;
  image: string;
  state: FleetContainerState;
  sandboxId?: string;
  pid?: number;
  exitCode?: number;
  createdAt: string;
}

export interface NodeFold {
  node: string;
  /** The last seq folded. */
  seq: number;
  problem?: string;
}

export interface FleetPs {
  nodes: NodeFold[];
  pods: FleetPod[];
  containers: FleetContainer[];
}

/** Folds a node's events stream into its state, from seq 1 for as long as the seqs follow on. */
export async function foldNode(
  nc: NatsConnection,
  n: FleetNode,
): Promise<{ state: NodeState; problem?: string }> {
  const state = emptyState();
  if (!n.stream) return { state };
  try {
    for await (const m of readStream(nc, n.stream.config.name)) {
      let seq: unknown;
      try {
        const e = decodeEvent(m.data);
        seq = e.seq;
        if (seq === state.seq + 1) {
          applyEvent(state, e);
          continue;
        }
      } catch (err) {
        return { state, problem: `stream message ${m.streamSeq} is not an event (${errorMessage(err)})` };
      }
      return {
        state,
        problem: `stream message ${m.streamSeq} holds seq ${String(seq)} after seq ${state.seq}: shown as of seq ${state.seq} (see berth fleet audit)`,
      };
    }
  } catch (err) {
    return { state, problem: `reading ${n.stream.config.name} failed: ${errorMessage(err)}` };
  }
  return { state };
}

/** A container's state as berthd reports it: its task's status, `exited` once stopped. */
function containerState(status: string | undefined): FleetContainerState {
  if (status === undefined) return 'unknown';
  return status === 'stopped' ? 'exited' : (status as FleetContainerState);
}

export function listState(node: string, state: NodeState, namespace?: string): Omit<FleetPs, 'nodes'> {
  const inNs = (r: { namespace: string }) => namespace === undefined || r.namespace === namespace;
  const pods = Object.values(state.sandboxes)
    .filter(inNs)
    .map((s): FleetPod => ({
      node,
      namespace: s.namespace,
      id: s.id,
      name: s.metadata?.name ?? s.name ?? s.id,
      ...(s.metadata?.namespace ? { podNamespace: s.metadata.namespace } : {}),
      state: s.state,
      ips: s.network?.ips ?? [],
      createdAt: s.createdAt,
    }));
  const containers = Object.values(state.containers)
    .filter(inNs)
    .map((c): FleetContainer => {
      const t = state.tasks[`${c.namespace}/${c.id}`];
      const s = containerState(t?.status);
      return {
        node,
        namespace: c.namespace,
        id: c.id,
        name: c.name ?? c.id,
        image: c.image,
        state: s,
        ...(c.sandboxId ? { sandboxId: c.sandboxId } : {}),
        ...(t?.pid && s !== 'exited' ? { pid: t.pid } : {}),
        ...(s === 'exited' && t?.exitCode !== undefined ? { exitCode: t.exitCode } : {}),
        createdAt: c.createdAt,
      };
    });
  return { pods, containers };
}

export async function fleetPs(nc: NatsConnection, nodes: FleetNode[], namespace?: string): Promise<FleetPs> {
  const out: FleetPs = { nodes: [], pods: [], containers: [] };
  // One node at a time: each fold reads a whole stream, and a fleet's may be long.
  for (const n of nodes) {
    const { state, problem } = await foldNode(nc, n);
    out.nodes.push({ node: n.nodeId, seq: state.seq, ...(problem ? { problem } : {}) });
    const listed = listState(n.nodeId, state, namespace);
    out.pods.push(...listed.pods);
    out.containers.push(...listed.containers);
  }
  const order = (a: { node: string; createdAt: string }, b: { node: string; createdAt: string }) =>
    a.node.localeCompare(b.node) || a.createdAt.localeCompare(b.createdAt);
  out.pods.sort(order);
  out.containers.sort(order);
  return out;
}
