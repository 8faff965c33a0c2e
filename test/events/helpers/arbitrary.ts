/** fast-check arbitraries for random but meaningful event sequences (small id pools so events hit existing entities). */
import fc from 'fast-check';
import type { AppendRequest, Cause } from '../../../src/events/model.js';

const ids = fc.constantFrom('a', 'b', 'c');
const nss = fc.constantFrom('default', 'k8s.io');
const digest = fc.constantFrom(`sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`);
const cause: fc.Arbitrary<Cause> = fc.oneof(
  fc.record({ kind: fc.constant('api' as const), call: fc.constantFrom('RunPodSandbox', 'CreateContainer') }),
  fc.record({ kind: fc.constant('reconciler' as const), reason: fc.constant('restart') }),
  fc.record({
    kind: fc.constant('workflow' as const),
    workflowId: fc.string({ minLength: 1, maxLength: 6 }),
    runId: fc.constant('r'),
    step: fc.string({ minLength: 1, maxLength: 4 }),
  }),
);
const labels = fc.option(fc.dictionary(fc.constantFrom('app', 'tier'), fc.constantFrom('web', 'db')), {
  nil: undefined,
});
const pid = fc.integer({ min: 1, max: 99999 });

const data: fc.Arbitrary<{ topic: string; data: Record<string, unknown> }> = fc.oneof(
  fc.record({ topic: fc.constant('/namespaces/create'), data: fc.record({ v: fc.constant(1), name: nss }) }),
  fc.record({ topic: fc.constant('/namespaces/delete'), data: fc.record({ v: fc.constant(1), name: nss }) }),
  fc.record({
    topic: fc.constantFrom('/images/create', '/images/update'),
    data: fc.record({
      v: fc.constant(2),
      name: ids,
      target: fc.record({ digest, mediaType: fc.constant('m'), size: fc.nat(1000) }),
      labels,
    }),
  }),
  fc.record({ topic: fc.constant('/images/delete'), data: fc.record({ v: fc.constant(1), name: ids }) }),
  fc.record({
    topic: fc.constant('/content/create'),
    data: fc.record({ v: fc.constant(1), digest, size: fc.nat(1000) }),
  }),
  fc.record({ topic: fc.constant('/content/delete'), data: fc.record({ v: fc.constant(1), digest }) }),
  fc.record({
    topic: fc.constant('/snapshot/prepare'),
    data: fc.record({
      v: fc.constant(1),
      key: ids,
      parent: fc.option(ids, { nil: undefined }),
      snapshotter: fc.constant('overlayfs'),
    }),
  }),
  fc.record({
    topic: fc.constant('/snapshot/commit'),
    data: fc.record({
      v: fc.constant(1),
      key: ids,
      name: fc.constantFrom('l1', 'l2'),
      snapshotter: fc.constant('overlayfs'),
    }),
  }),
  fc.record({
    topic: fc.constant('/snapshot/remove'),
    data: fc.record({ v: fc.constant(1), key: ids, snapshotter: fc.constant('overlayfs') }),
  }),
  fc.record({
    topic: fc.constant('/sandboxes/create'),
    data: fc.record({ v: fc.constant(1), id: ids, labels }),
  }),
  fc.record({
    topic: fc.constantFrom('/sandboxes/start', '/sandboxes/stop', '/sandboxes/delete'),
    data: fc.record({ v: fc.constant(1), id: ids }),
  }),
  fc.record({
    topic: fc.constant('/network/attach'),
    data: fc.record({
      v: fc.constant(1),
      sandboxId: ids,
      ips: fc.array(fc.constantFrom('10.0.0.1', '10.0.0.2'), { maxLength: 2 }),
    }),
  }),
  fc.record({
    topic: fc.constant('/network/detach'),
    data: fc.record({ v: fc.constant(1), sandboxId: ids }),
  }),
  fc.record({
    topic: fc.constant('/containers/create'),
    data: fc.record({
      v: fc.constant(1),
      id: ids,
      image: ids,
      sandboxId: fc.option(ids, { nil: undefined }),
      labels,
    }),
  }),
  fc.record({
    topic: fc.constant('/containers/update'),
    data: fc.record({ v: fc.constant(1), id: ids, image: fc.option(ids, { nil: undefined }), labels }),
  }),
  fc.record({ topic: fc.constant('/containers/delete'), data: fc.record({ v: fc.constant(1), id: ids }) }),
  fc.record({
    topic: fc.constant('/tasks/create'),
    data: fc.record({ v: fc.constant(1), containerId: ids, pid: fc.option(pid, { nil: undefined }) }),
  }),
  fc.record({
    topic: fc.constant('/tasks/start'),
    data: fc.record({ v: fc.constant(1), containerId: ids, pid }),
  }),
  fc.record({
    topic: fc.constant('/tasks/exit'),
    data: fc.record({
      v: fc.constant(2),
      containerId: ids,
      execId: fc.option(fc.constantFrom('e1', 'e2'), { nil: undefined }),
      pid,
      exitCode: fc.integer({ min: 0, max: 255 }),
      exitedAt: fc.constant('2026-01-01T00:00:00.000Z'),
      oomKilled: fc.option(fc.boolean(), { nil: undefined }),
    }),
  }),
  fc.record({
    topic: fc.constantFrom('/tasks/delete', '/tasks/oom', '/tasks/paused', '/tasks/resumed'),
    data: fc.record({ v: fc.constant(1), containerId: ids }),
  }),
  fc.record({
    topic: fc.constant('/tasks/exec-added'),
    data: fc.record({ v: fc.constant(1), containerId: ids, execId: fc.constantFrom('e1', 'e2') }),
  }),
  fc.record({
    topic: fc.constant('/tasks/exec-started'),
    data: fc.record({ v: fc.constant(1), containerId: ids, execId: fc.constantFrom('e1', 'e2'), pid }),
  }),
);

/** Strips undefined members: fc.option's `nil: undefined` produces them, and canonical JSON drops them. */
function clean(d: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(d)) as Record<string, unknown>;
}

export const appendRequest: fc.Arbitrary<AppendRequest> = fc
  .record({ namespace: nss, body: data, cause })
  .map(({ namespace, body, cause: c }) => ({
    namespace,
    topic: body.topic,
    data: clean(body.data),
    cause: c,
    key: undefined,
  }))
  .map(({ key: _key, ...r }) => r);

export const eventSequence = (maxLength = 40) => fc.array(appendRequest, { minLength: 1, maxLength });
