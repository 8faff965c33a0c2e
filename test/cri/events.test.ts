import * as grpc from '@grpc/grpc-js';
import { UnimplementedError } from '../../src/common/errors.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ContainerEventResponse__Output } from '../../src/cri/generated/runtime/v1/ContainerEventResponse.js';
import type { ContainerEvent } from '../../src/cri/types/runtime.js';
import { startGateway, type Gateway } from './harness.js';

let g: Gateway;
beforeEach(async () => {
  g = await startGateway();
});
afterEach(async () => {
  await g.close();
});

function event(containerId: string, type: ContainerEvent['type']): ContainerEvent {
  return {
    containerId,
    type,
    createdAt: 1_763_900_000_123_456_789n,
    podSandboxStatus: {
      id: 'pod1',
      metadata: { name: 'web', uid: 'u1', namespace: 'default', attempt: 0 },
      state: 'ready',
      createdAt: 1n,
      labels: {},
      annotations: {},
      runtimeHandler: '',
      network: { ip: '10.88.0.5', additionalIps: [] },
      namespaces: { network: 'pod', pid: 'container', ipc: 'pod', targetId: '' },
    },
    containersStatuses: [],
  };
}

/** Collects `count` messages from a GetContainerEvents stream. */
function collect(stream: grpc.ClientReadableStream<ContainerEventResponse__Output>, count: number) {
  return new Promise<ContainerEventResponse__Output[]>((resolve, reject) => {
    const got: ContainerEventResponse__Output[] = [];
    stream.on('data', (m: ContainerEventResponse__Output) => {
      got.push(m);
      if (got.length === count) resolve(got);
    });
    stream.on('error', reject);
  });
}

describe('GetContainerEvents', () => {
  it('delivers every event, in order, to each of two subscribers', async () => {
    const first = g.runtime.GetContainerEvents({});
    const second = g.runtime.GetContainerEvents({});
    const a = collect(first, 3);
    const b = collect(second, 3);
    await g.backend.waitForSubscribers(2);
    g.backend.emit(event('c1', 'created'));
    g.backend.emit(event('c1', 'started'));
    g.backend.emit(event('c1', 'stopped'));
    for (const got of [await a, await b]) {
      expect(got.map((m) => m.container_event_type)).toEqual([
        'CONTAINER_CREATED_EVENT',
        'CONTAINER_STARTED_EVENT',
        'CONTAINER_STOPPED_EVENT',
      ]);
      expect(got[0]!.container_id).toBe('c1');
      expect(got[0]!.pod_sandbox_status?.network?.ip).toBe('10.88.0.5');
      expect(got[0]!.created_at).toBeCloseTo(1.7639e18, -15);
    }
    first.cancel();
    second.cancel();
  });

  it('ends the backend subscription when the client cancels', async () => {
    const stream = g.runtime.GetContainerEvents({});
    stream.on('error', () => undefined);
    await g.backend.waitForSubscribers(1);
    stream.cancel();
    await expect.poll(() => g.backend.subscriberCount).toBe(0);
  });

  it('a subscriber that leaves does not stop the others', async () => {
    const leaving = g.runtime.GetContainerEvents({});
    leaving.on('error', () => undefined);
    const staying = g.runtime.GetContainerEvents({});
    const got = collect(staying, 1);
    await g.backend.waitForSubscribers(2);
    leaving.cancel();
    await expect.poll(() => g.backend.subscriberCount).toBe(1);
    g.backend.emit(event('c2', 'deleted'));
    expect((await got)[0]!.container_event_type).toBe('CONTAINER_DELETED_EVENT');
    staying.cancel();
  });

  it('answers UNIMPLEMENTED with the reason when the backend has no event feed', async () => {
    g.backend.override('containerEvents', () => {
      throw new UnimplementedError('the event log is not wired yet');
    });
    const stream = g.runtime.GetContainerEvents({});
    const err = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err.details).toContain('the event log is not wired yet');
  });

  it('survives a backend feed that fails after the client left', async () => {
    let failedLate = false;
    let subscribed!: () => void;
    const opened = new Promise<void>((r) => (subscribed = r));
    g.backend.override('containerEvents', (ctx) => ({
      [Symbol.asyncIterator]: () => ({
        next: () => {
          subscribed();
          return new Promise<IteratorResult<ContainerEvent>>((_resolve, reject) =>
            ctx.signal.addEventListener('abort', () =>
              setImmediate(() => {
                failedLate = true;
                reject(new Error('feed broke after the subscriber left'));
              }),
            ),
          );
        },
      }),
    }));
    const stream = g.runtime.GetContainerEvents({});
    stream.on('error', () => undefined);
    await opened;
    stream.cancel();
    // An unhandled rejection here would fail the run.
    await expect.poll(() => failedLate).toBe(true);
  });
});
