/**
 * A StartContainer whose caller gives up mid-call, as kubelet does: its pod worker cancels the
 * sync in flight (a container's restart) when the pod is deleted, then stops and removes the pod.
 * containerd can be left with a task it will neither report running nor delete, so the pod is
 * never removed (containerd/containerd#11037; it failed our kubelet suite on containerd 1.6 once).
 * Berth's start is a transition that finishes without its caller: the container ends up running,
 * and stopping and removing the pod leaves no process of it behind — at any point of the cut.
 */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { pidsMentioning } from '../../../bench/containerd/host-state.js';
import type { ContainerStatusResponse__Output } from '../../../src/cri/generated/runtime/v1/ContainerStatusResponse.js';
import type { CreateContainerResponse__Output } from '../../../src/cri/generated/runtime/v1/CreateContainerResponse.js';
import type { ListContainersResponse__Output } from '../../../src/cri/generated/runtime/v1/ListContainersResponse.js';
import type { RunPodSandboxResponse__Output } from '../../../src/cri/generated/runtime/v1/RunPodSandboxResponse.js';
import { rpc } from '../harness.js';
import { criPodSuite } from './pod-suite.js';

const suite = criPodSuite({ name: 'cut', namespace: 'cut', uid: 'uid-cut', attempt: 0 });
/** Where the caller gives up: before the call lands, while the task is made, while it starts, after. */
const DEADLINES_MS = [0, 5, 20, 60, 150, 400];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function podWithContainer(tag: string): Promise<{ podId: string; containerId: string }> {
  const metadata = { name: `cut-${tag}`, namespace: 'cut', uid: `uid-cut-${tag}`, attempt: 0 };
  const podId = (
    await rpc<RunPodSandboxResponse__Output>((cb) =>
      suite.runtime.RunPodSandbox({ config: { metadata } }, cb),
    )
  ).pod_sandbox_id;
  const config = {
    metadata: { name: 'sleeper', attempt: 0 },
    image: { image: suite.env.image },
    command: ['sleep', '1000'],
  };
  const containerId = (
    await rpc<CreateContainerResponse__Output>((cb) =>
      suite.runtime.CreateContainer({ pod_sandbox_id: podId, config, sandbox_config: { metadata } }, cb),
    )
  ).container_id;
  return { podId, containerId };
}

/** StartContainer with a deadline `ms` away; what the caller saw (OK or the gRPC code). */
function startWithDeadline(id: string, ms: number): Promise<string> {
  return new Promise((resolve) => {
    suite.runtime.StartContainer({ container_id: id }, { deadline: Date.now() + ms }, (err) =>
      resolve(err ? grpc.status[err.code ?? grpc.status.UNKNOWN] : 'OK'),
    );
  });
}

const stateOf = async (id: string): Promise<string> =>
  (
    await rpc<ContainerStatusResponse__Output>((cb) =>
      suite.runtime.ContainerStatus({ container_id: id }, cb),
    )
  ).status!.state as string;

/** The processes still naming the container (conmon, runc, the shell's parents) after a grace. */
async function processesOf(id: string): Promise<number[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pids = await pidsMentioning(id);
    if (pids.length === 0 || Date.now() > deadline) return pids;
    await sleep(200);
  }
}

describe('a StartContainer its caller cancels', () => {
  it('still starts the container, which stops and is removed as any other', async () => {
    const seen: string[] = [];
    for (const ms of DEADLINES_MS) {
      const { podId, containerId } = await podWithContainer(`run-${ms}`);
      seen.push(`${ms} ms: ${await startWithDeadline(containerId, ms)}`);
      // The start finishes without its caller; a repeated start (kubelet's next sync) joins it.
      const deadline = Date.now() + 30_000;
      while ((await stateOf(containerId)) !== 'CONTAINER_RUNNING') {
        if (Date.now() > deadline)
          throw new Error(`${ms} ms: still ${await stateOf(containerId)} 30 s after the cut start`);
        await sleep(100);
      }
      await rpc((cb) => suite.runtime.StopContainer({ container_id: containerId, timeout: 0 }, cb));
      await rpc((cb) => suite.runtime.RemoveContainer({ container_id: containerId }, cb));
      await rpc((cb) => suite.runtime.StopPodSandbox({ pod_sandbox_id: podId }, cb));
      await rpc((cb) => suite.runtime.RemovePodSandbox({ pod_sandbox_id: podId }, cb));
      expect(await processesOf(containerId), `${ms} ms`).toEqual([]);
    }
    // At least one cut must have landed mid-call, or this test exercised nothing.
    expect(seen.filter((s) => s.endsWith('DEADLINE_EXCEEDED')).length, seen.join(', ')).toBeGreaterThan(0);
  }, 240_000);

  it("kubelet's pod removal right after the cut: the pod and its container go, no process stays", async () => {
    const seen: string[] = [];
    for (const ms of DEADLINES_MS) {
      const { podId, containerId } = await podWithContainer(`rm-${ms}`);
      seen.push(`${ms} ms: ${await startWithDeadline(containerId, ms)}`);
      await rpc((cb) => suite.runtime.StopPodSandbox({ pod_sandbox_id: podId }, cb));
      await rpc((cb) => suite.runtime.RemovePodSandbox({ pod_sandbox_id: podId }, cb));
      const left = await rpc<ListContainersResponse__Output>((cb) =>
        suite.runtime.ListContainers({ filter: { pod_sandbox_id: podId } }, cb),
      );
      expect(left.containers, `${ms} ms`).toEqual([]);
      // A start still in flight when the pod went must not bring a process back afterwards.
      await sleep(1_000);
      expect(await processesOf(containerId), `${ms} ms`).toEqual([]);
    }
    expect(seen.filter((s) => s.endsWith('DEADLINE_EXCEEDED')).length, seen.join(', ')).toBeGreaterThan(0);
  }, 240_000);
});
