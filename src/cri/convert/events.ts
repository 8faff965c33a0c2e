/** Container lifecycle events out (GetContainerEvents). */
import type { ContainerEvent, ContainerEventType } from '../types/runtime.js';
import type { OutContainerEventResponse } from '../wire.js';
import { enumToWire, nanosOut } from './common.js';
import { containerStatusToWire } from './container.js';
import { sandboxStatusToWire } from './sandbox.js';

const EVENT_TYPES: Record<
  | 'CONTAINER_CREATED_EVENT'
  | 'CONTAINER_STARTED_EVENT'
  | 'CONTAINER_STOPPED_EVENT'
  | 'CONTAINER_DELETED_EVENT',
  ContainerEventType
> = {
  CONTAINER_CREATED_EVENT: 'created',
  CONTAINER_STARTED_EVENT: 'started',
  CONTAINER_STOPPED_EVENT: 'stopped',
  CONTAINER_DELETED_EVENT: 'deleted',
};

export function containerEventToWire(e: ContainerEvent): OutContainerEventResponse {
  return {
    container_id: e.containerId,
    container_event_type: enumToWire(e.type, EVENT_TYPES),
    created_at: nanosOut(e.createdAt),
    pod_sandbox_status: e.podSandboxStatus ? sandboxStatusToWire(e.podSandboxStatus) : null,
    containers_statuses: e.containersStatuses.map(containerStatusToWire),
  };
}
