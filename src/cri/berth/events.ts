/**
 * GetContainerEvents from the event log: every subscriber gets its own feed, fed from the
 * projections' listener (called once per durable event, in log order, after it is applied,
 * so the pod status attached is the state right after the event).
 */
import type { BerthEvent } from '../../events/model.js';
import type { ContainerEvent, ContainerEventType } from '../types/runtime.js';
import type { CallContext } from '../backend.js';
import type { ContainerDetails } from '../types/container.js';
import type { PodSandboxDetails } from '../types/sandbox.js';
import { CRI_NAMESPACE, isoToNanos, type BerthCriDeps } from './deps.js';

/**
 * A container is "created" for CRI once its task is (CreateContainer returns then): on
 * `/containers/create` its status would still read CONTAINER_UNKNOWN.
 */
const TOPICS: Partial<Record<string, ContainerEventType>> = {
  '/tasks/create': 'created',
  '/tasks/start': 'started',
  '/tasks/exit': 'stopped',
  '/containers/delete': 'deleted',
};

/** Subscribers that read slower than this many events behind are cut off rather than grow berthd without bound. */
const MAX_QUEUED = 10_000;

export interface PodView {
  /** The pod of a container and its containers' statuses, as CRI shows them now. */
  podOf(
    containerId: string,
    sandboxId: string | undefined,
  ): Promise<{
    sandbox?: PodSandboxDetails;
    containers: ContainerDetails[];
  }>;
}

function containerIdOf(e: BerthEvent): string | undefined {
  const data = e.data as { id?: unknown; containerId?: unknown };
  const id = e.topic.startsWith('/tasks/') ? data.containerId : data.id;
  return typeof id === 'string' ? id : e.subject || undefined;
}

export async function* containerEventFeed(
  deps: Pick<BerthCriDeps, 'node'>,
  pods: PodView,
  ctx: CallContext,
): AsyncGenerator<ContainerEvent> {
  const projections = deps.node().events.projections;
  const queue: { event: BerthEvent; sandboxId?: string }[] = [];
  let wake: (() => void) | undefined;
  let overflowed = false;
  // Sandbox of each container, kept here: after a delete the record is gone from the state.
  const sandboxOf = new Map<string, string | undefined>(
    Object.values(projections.state.containers).map((c) => [c.id, c.sandboxId]),
  );
  const unsubscribe = projections.subscribe((e, state) => {
    if (e.namespace !== CRI_NAMESPACE || !TOPICS[e.topic]) return;
    if (queue.length >= MAX_QUEUED) {
      overflowed = true;
    } else {
      const id = containerIdOf(e);
      if (id && !sandboxOf.has(id))
        sandboxOf.set(id, Object.values(state.containers).find((c) => c.id === id)?.sandboxId);
      const sandboxId = id ? sandboxOf.get(id) : undefined;
      if (id && e.topic === '/containers/delete') sandboxOf.delete(id);
      queue.push({ event: e, ...(sandboxId ? { sandboxId } : {}) });
    }
    wake?.();
  });
  const aborted = new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
  ctx.signal.addEventListener('abort', () => wake?.());
  try {
    while (!ctx.signal.aborted && !overflowed) {
      const next = queue.shift();
      if (!next) {
        await Promise.race([new Promise<void>((resolve) => (wake = resolve)), aborted]);
        wake = undefined;
        continue;
      }
      const containerId = containerIdOf(next.event);
      if (!containerId) continue;
      const pod = await pods.podOf(containerId, next.sandboxId);
      yield {
        containerId,
        type: TOPICS[next.event.topic]!,
        createdAt: isoToNanos(next.event.time),
        ...(pod.sandbox ? { podSandboxStatus: pod.sandbox } : {}),
        containersStatuses: pod.containers,
      };
    }
  } finally {
    unsubscribe();
  }
}
