/** A realistic lifecycle of one pod, as append requests, for projection tests. */
import type { AppendRequest, Cause } from '../../../src/events/model.js';

const wf = (workflowId: string, step: string): Cause => ({
  kind: 'workflow',
  workflowId,
  runId: 'run-1',
  step,
});
const digest = `sha256:${'b'.repeat(64)}`;

export function podLifecycle(ns = 'k8s.io'): AppendRequest[] {
  return [
    {
      namespace: ns,
      topic: '/namespaces/create',
      data: { v: 1, name: ns },
      cause: { kind: 'api', call: 'Namespaces.Create' },
    },
    {
      namespace: ns,
      topic: '/content/create',
      data: { v: 1, digest, size: 1234 },
      cause: wf('pull:k8s.io:busybox', 'fetch'),
    },
    {
      namespace: ns,
      topic: '/images/create',
      data: {
        v: 2,
        name: 'docker.io/library/busybox:latest',
        target: { digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1234 },
      },
      cause: wf('pull:k8s.io:busybox', 'register'),
    },
    {
      namespace: ns,
      topic: '/snapshot/prepare',
      data: { v: 1, key: 'extract-1', snapshotter: 'overlayfs' },
      cause: wf('pull:k8s.io:busybox', 'unpack'),
    },
    {
      namespace: ns,
      topic: '/snapshot/commit',
      data: { v: 1, key: 'extract-1', name: 'sha256:layer1', snapshotter: 'overlayfs' },
      cause: wf('pull:k8s.io:busybox', 'commit'),
    },
    {
      namespace: ns,
      topic: '/sandboxes/create',
      data: { v: 1, id: 'pod1', name: 'nginx-pod' },
      cause: wf('sandbox:pod1:run', 'create'),
    },
    {
      namespace: ns,
      topic: '/network/attach',
      data: { v: 1, sandboxId: 'pod1', netns: '/run/netns/pod1', ips: ['10.88.0.2'] },
      cause: wf('sandbox:pod1:run', 'cni-add'),
    },
    {
      namespace: ns,
      topic: '/sandboxes/start',
      data: { v: 1, id: 'pod1' },
      cause: wf('sandbox:pod1:run', 'start'),
    },
    {
      namespace: ns,
      topic: '/snapshot/prepare',
      data: { v: 1, key: 'c1', parent: 'sha256:layer1', snapshotter: 'overlayfs' },
      cause: wf('container:c1:create', 'rootfs'),
    },
    {
      namespace: ns,
      topic: '/containers/create',
      data: {
        v: 1,
        id: 'c1',
        image: 'docker.io/library/busybox:latest',
        sandboxId: 'pod1',
        snapshotKey: 'c1',
        runtime: 'runc',
      },
      cause: { kind: 'workflow', workflowId: 'container:c1:create', runId: 'run-1', step: 'record' },
      key: 'container:c1:create/record',
    },
    {
      namespace: ns,
      topic: '/tasks/create',
      data: { v: 1, containerId: 'c1', pid: 4242 },
      cause: wf('container:c1:start', 'create-task'),
    },
    {
      namespace: ns,
      topic: '/tasks/start',
      data: { v: 1, containerId: 'c1', pid: 4242 },
      cause: wf('container:c1:start', 'start-task'),
    },
    {
      namespace: ns,
      topic: '/tasks/exec-added',
      data: { v: 1, containerId: 'c1', execId: 'e1' },
      cause: wf('exec:c1:e1', 'add'),
    },
    {
      namespace: ns,
      topic: '/tasks/exec-started',
      data: { v: 1, containerId: 'c1', execId: 'e1', pid: 4300 },
      cause: wf('exec:c1:e1', 'start'),
    },
    {
      namespace: ns,
      topic: '/tasks/exit',
      data: {
        v: 2,
        containerId: 'c1',
        execId: 'e1',
        pid: 4300,
        exitCode: 0,
        exitedAt: '2026-11-23T08:00:00.000Z',
      },
      cause: { kind: 'reconciler', reason: 'exit file found' },
    },
    {
      namespace: ns,
      topic: '/tasks/exit',
      data: {
        v: 2,
        containerId: 'c1',
        pid: 4242,
        exitCode: 137,
        exitedAt: '2026-11-23T08:00:01.000Z',
        oomKilled: true,
      },
      cause: { kind: 'reconciler', reason: 'exit file found' },
    },
  ];
}
