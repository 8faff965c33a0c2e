/**
 * In-place resize (KEP-1287) against a real berthd's CRI socket: UpdateContainerResources changes
 * the CPU and memory limits of a running container without restarting it (the container's own
 * cgroup files, read from inside, and the same process still running), ContainerStatus.resources
 * reports what is in force, a memory limit below the container's working set and an impossible
 * value are refused with nothing changed, and UpdatePodSandboxResources answers UNIMPLEMENTED as
 * containerd does (kubelet has already resized the pod cgroup and treats that as done).
 */
import * as grpc from '@grpc/grpc-js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ContainerStatusResponse__Output } from '../../../src/cri/generated/runtime/v1/ContainerStatusResponse.js';
import type { CreateContainerResponse__Output } from '../../../src/cri/generated/runtime/v1/CreateContainerResponse.js';
import type { LinuxContainerResources } from '../../../src/cri/generated/runtime/v1/LinuxContainerResources.js';
import { expectStatus, rpc } from '../harness.js';
import { criPodSuite } from './pod-suite.js';

const MIB = 1024 * 1024;
const suite = criPodSuite({ name: 'resize', namespace: 'resize', uid: 'uid-resize', attempt: 0 });
let containerId = '';

beforeAll(async () => {
  containerId = (
    await rpc<CreateContainerResponse__Output>((cb) =>
      suite.runtime.CreateContainer(
        {
          pod_sandbox_id: suite.podId,
          config: {
            metadata: { name: 'app', attempt: 0 },
            image: { image: suite.env.image },
            command: ['sh', '-c', 'echo $$ > /tmp/pid; sleep 600'],
            linux: {
              resources: {
                cpu_period: 100_000,
                cpu_quota: 50_000,
                cpu_shares: 512,
                memory_limit_in_bytes: 64 * MIB,
              },
            },
          },
          sandbox_config: { metadata: suite.metadata },
        },
        cb,
      ),
    )
  ).container_id;
  await rpc((cb) => suite.runtime.StartContainer({ container_id: containerId }, cb));
}, 180_000);

async function inContainer(script: string): Promise<string> {
  const r = await suite.env.crictl(['exec', containerId, 'sh', '-c', script]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

/**
 * The memory limit and CPU quota as the container's own cgroup files say (cgroup v1 controllers
 * or v2 unified); fails naming the files when neither layout is there.
 */
async function limitsInside(): Promise<{ memory: number; cpuQuota: number }> {
  const out = await inContainer(
    'v1=/sys/fs/cgroup/memory/memory.limit_in_bytes; ' +
      'if [ -f $v1 ]; then cat $v1; for q in /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_quota_us; ' +
      'do if [ -f $q ]; then cat $q; break; fi; done; ' +
      'elif [ -f /sys/fs/cgroup/memory.max ]; then cat /sys/fs/cgroup/memory.max; cut -d" " -f1 /sys/fs/cgroup/cpu.max; ' +
      'else echo "no memory.limit_in_bytes nor memory.max under /sys/fs/cgroup" >&2; exit 1; fi',
  );
  const lines = out.split('\n');
  expect(lines, `cgroup files read inside: ${out}`).toHaveLength(2);
  const [memory, cpuQuota] = lines.map(Number);
  return { memory: memory!, cpuQuota: cpuQuota! };
}

async function reported(): Promise<{ memory: number; quota: number; period: number; shares: number }> {
  const r = (
    await rpc<ContainerStatusResponse__Output>((cb) =>
      suite.runtime.ContainerStatus({ container_id: containerId }, cb),
    )
  ).status!.resources?.linux;
  expect(r, 'ContainerStatus.resources.linux').toBeTruthy();
  return {
    memory: Number(r!.memory_limit_in_bytes),
    quota: Number(r!.cpu_quota),
    period: Number(r!.cpu_period),
    shares: Number(r!.cpu_shares),
  };
}

const update = (linux: LinuxContainerResources): Promise<unknown> =>
  rpc((cb) => suite.runtime.UpdateContainerResources({ container_id: containerId, linux }, cb));

describe('in-place resize through the CRI', () => {
  it('ContainerStatus.resources and the cgroup files show the limits it was created with', async () => {
    expect(await reported()).toEqual({ memory: 64 * MIB, quota: 50_000, period: 100_000, shares: 512 });
    expect(await limitsInside()).toEqual({ memory: 64 * MIB, cpuQuota: 50_000 });
  });

  it('UpdateContainerResources raises CPU and memory in place: same process, new limits', async () => {
    const pid = await inContainer('cat /tmp/pid');
    await update({
      cpu_period: 100_000,
      cpu_quota: 150_000,
      cpu_shares: 1024,
      memory_limit_in_bytes: 128 * MIB,
    });
    expect(await limitsInside()).toEqual({ memory: 128 * MIB, cpuQuota: 150_000 });
    expect(await reported()).toEqual({ memory: 128 * MIB, quota: 150_000, period: 100_000, shares: 1024 });
    // Not restarted: the first process is still the one that wrote its pid.
    expect(await inContainer('kill -0 $(cat /tmp/pid) && cat /tmp/pid')).toBe(pid);
    const status = await rpc<ContainerStatusResponse__Output>((cb) =>
      suite.runtime.ContainerStatus({ container_id: containerId }, cb),
    );
    expect(status.status!.state).toBe('CONTAINER_RUNNING');
  });

  it('a memory limit below the working set is refused, naming it, and nothing changes', async () => {
    // 40 MiB in tmpfs: memory the container holds and cannot give back (no swap).
    await inContainer('dd if=/dev/zero of=/dev/shm/hold bs=1M count=40 2>/dev/null');
    try {
      await expectStatus(
        update({
          cpu_period: 100_000,
          cpu_quota: 150_000,
          cpu_shares: 1024,
          memory_limit_in_bytes: 16 * MIB,
        }),
        grpc.status.FAILED_PRECONDITION,
        'below its working set',
      );
      expect(await limitsInside()).toEqual({ memory: 128 * MIB, cpuQuota: 150_000 });
      expect((await reported()).memory).toBe(128 * MIB);
    } finally {
      await inContainer('rm -f /dev/shm/hold');
    }
  });

  it('an impossible value is INVALID_ARGUMENT naming the field, and nothing changes', async () => {
    await expectStatus(
      update({ cpu_period: 100_000, cpu_quota: 10, cpu_shares: 1024, memory_limit_in_bytes: 32 * MIB }),
      grpc.status.INVALID_ARGUMENT,
      'cpu_quota',
    );
    expect(await limitsInside()).toEqual({ memory: 128 * MIB, cpuQuota: 150_000 });
    expect(await reported()).toEqual({ memory: 128 * MIB, quota: 150_000, period: 100_000, shares: 1024 });
  });

  it('lowering memory above the working set works', async () => {
    await update({
      cpu_period: 100_000,
      cpu_quota: 50_000,
      cpu_shares: 512,
      memory_limit_in_bytes: 48 * MIB,
    });
    expect(await limitsInside()).toEqual({ memory: 48 * MIB, cpuQuota: 50_000 });
    expect(await reported()).toEqual({ memory: 48 * MIB, quota: 50_000, period: 100_000, shares: 512 });
  });

  it('UpdatePodSandboxResources answers UNIMPLEMENTED, as containerd does', async () => {
    await expectStatus(
      rpc((cb) =>
        suite.runtime.UpdatePodSandboxResources(
          { pod_sandbox_id: suite.podId, resources: { memory_limit_in_bytes: 256 * MIB } },
          cb,
        ),
      ),
      grpc.status.UNIMPLEMENTED,
      'kubelet has already resized the pod cgroup',
    );
  });
});
