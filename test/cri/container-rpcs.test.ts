import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ContainerConfig } from '../../src/cri/generated/runtime/v1/ContainerConfig.js';
import type { ContainerStatsResponse__Output } from '../../src/cri/generated/runtime/v1/ContainerStatsResponse.js';
import type { ContainerStatusResponse__Output } from '../../src/cri/generated/runtime/v1/ContainerStatusResponse.js';
import type { CreateContainerResponse__Output } from '../../src/cri/generated/runtime/v1/CreateContainerResponse.js';
import type { ExecSyncResponse__Output } from '../../src/cri/generated/runtime/v1/ExecSyncResponse.js';
import type { ListContainersResponse__Output } from '../../src/cri/generated/runtime/v1/ListContainersResponse.js';
import type { PodSandboxStatsResponse__Output } from '../../src/cri/generated/runtime/v1/PodSandboxStatsResponse.js';
import type { RunPodSandboxResponse__Output } from '../../src/cri/generated/runtime/v1/RunPodSandboxResponse.js';
import type { ContainerSpec } from '../../src/cri/types/container.js';
import { expectStatus, rpc, startGateway, type Gateway } from './harness.js';
import { containerConfig, podConfig } from './requests.js';

let g: Gateway;
let podId: string;
beforeEach(async () => {
  g = await startGateway();
  podId = (
    await rpc<RunPodSandboxResponse__Output>((cb) => g.runtime.RunPodSandbox({ config: podConfig() }, cb))
  ).pod_sandbox_id;
});
afterEach(async () => {
  await g.close();
});

const create = (config: ContainerConfig | null, pod_sandbox_id = podId) =>
  rpc<CreateContainerResponse__Output>((cb) =>
    g.runtime.CreateContainer({ pod_sandbox_id, config, sandbox_config: podConfig() }, cb),
  );

describe('CreateContainer', () => {
  it('converts the container config for the backend', async () => {
    const { container_id } = await create(containerConfig());
    expect(container_id).toMatch(/^[0-9a-f]{64}$/);
    const [pod, spec, sandbox] = g.backend.callsTo('createContainer')[0]!.args as [
      string,
      ContainerSpec,
      unknown,
    ];
    expect(pod).toBe(podId);
    expect(sandbox).toBeDefined();
    expect(spec.metadata).toEqual({ name: 'app', attempt: 1 });
    expect(spec.image.image).toBe('busybox:latest');
    expect(spec.command).toEqual(['/bin/sh']);
    expect(spec.envs).toEqual([{ key: 'A', value: '1' }]);
    expect(spec.mounts[0]).toMatchObject({
      containerPath: '/data',
      hostPath: '/tmp',
      readonly: true,
      propagation: 'private',
    });
    expect(spec.linux.resources).toMatchObject({
      cpuPeriod: 100000,
      cpuQuota: 50000,
      memoryLimitBytes: 64 << 20,
    });
    expect(spec.linux.securityContext.capabilities.add).toEqual(['NET_ADMIN']);
    expect(spec.stopSignal).toBe('SIGQUIT');
  });

  const broken: [string, (c: ContainerConfig) => ContainerConfig | null, string[]][] = [
    ['a missing config', () => null, ['config is missing']],
    ['missing metadata', (c) => ({ ...c, metadata: null }), ['config.metadata is missing']],
    ['an empty container name', (c) => ({ ...c, metadata: { name: '' } }), ['config.metadata.name']],
    ['a missing image', (c) => ({ ...c, image: null }), ['config.image is missing']],
    ['an empty image', (c) => ({ ...c, image: { image: '' } }), ['config.image.image', 'empty']],
    [
      'a relative mount target',
      (c) => ({ ...c, mounts: [{ container_path: 'data', host_path: '/tmp' }] }),
      ['config.mounts[0].container_path', 'not an absolute path'],
    ],
    ['a relative working dir', (c) => ({ ...c, working_dir: 'work' }), ['config.working_dir']],
    [
      'a log path leaving the log directory',
      (c) => ({ ...c, log_path: '../../etc/passwd' }),
      ['config.log_path'],
    ],
    ['an absolute log path', (c) => ({ ...c, log_path: '/etc/passwd' }), ['config.log_path', '/etc/passwd']],
    ['an env name with =', (c) => ({ ...c, envs: [{ key: 'A=B', value: '1' }] }), ['config.envs[0].key']],
    [
      'a CPU quota below the kernel minimum',
      (c) => ({ ...c, linux: { resources: { cpu_quota: 5 } } }),
      ['config.linux.resources.cpu_quota', '5'],
    ],
    [
      'swap below memory',
      (c) => ({
        ...c,
        linux: { resources: { memory_limit_in_bytes: 1000000, memory_swap_limit_in_bytes: 10 } },
      }),
      ['config.linux.resources.memory_swap_limit_in_bytes'],
    ],
    [
      'an oom_score_adj out of range',
      (c) => ({ ...c, linux: { resources: { oom_score_adj: 5000 } } }),
      ['config.linux.resources.oom_score_adj', '5000'],
    ],
    [
      'a malformed cpuset',
      (c) => ({ ...c, linux: { resources: { cpuset_cpus: '3-1' } } }),
      ['config.linux.resources.cpuset_cpus', '3-1'],
    ],
    [
      'bad device permissions',
      (c) => ({ ...c, devices: [{ container_path: '/dev/x', host_path: '/dev/null', permissions: 'rwx' }] }),
      ['config.devices[0].permissions', 'rwx'],
    ],
  ];
  for (const [what, mutate, parts] of broken) {
    it(`refuses ${what} with INVALID_ARGUMENT and creates nothing`, async () => {
      await expectStatus(create(mutate(containerConfig())), grpc.status.INVALID_ARGUMENT, ...parts);
      expect(g.backend.callsTo('createContainer')).toHaveLength(0);
      expect(g.backend.containers.size).toBe(0);
    });
  }

  it('refuses a malformed sandbox id before the backend sees it', async () => {
    await expectStatus(
      create(containerConfig(), 'a/b'),
      grpc.status.INVALID_ARGUMENT,
      'pod_sandbox_id',
      '"a/b"',
    );
    expect(g.backend.callsTo('createContainer')).toHaveLength(0);
  });

  it('answers NOT_FOUND for a sandbox that does not exist', async () => {
    await expectStatus(create(containerConfig(), 'cafe'), grpc.status.NOT_FOUND, 'cafe');
  });
});

describe('container lifecycle', () => {
  it('start, status, list with filters, stop, remove', async () => {
    const { container_id: id } = await create(containerConfig());
    await rpc((cb) => g.runtime.StartContainer({ container_id: id }, cb));
    const status = await rpc<ContainerStatusResponse__Output>((cb) =>
      g.runtime.ContainerStatus({ container_id: id, verbose: true }, cb),
    );
    expect(status.status).toMatchObject({
      id,
      state: 'CONTAINER_RUNNING',
      stop_signal: 'SIGQUIT',
      log_path: 'app/0.log',
    });
    expect(status.status?.started_at).toBeGreaterThan(0);
    expect(status.info).toEqual({ info: '{"pid":42}' });

    const list = async (filter: object) =>
      (await rpc<ListContainersResponse__Output>((cb) => g.runtime.ListContainers({ filter }, cb)))
        .containers;
    expect((await list({})).map((c) => c.id)).toEqual([id]);
    expect(await list({ state: { state: 'CONTAINER_EXITED' } })).toEqual([]);
    expect((await list({ pod_sandbox_id: podId, label_selector: { app: 'web' } })).map((c) => c.id)).toEqual([
      id,
    ]);
    expect(await list({ label_selector: { app: 'db' } })).toEqual([]);

    await rpc((cb) => g.runtime.StopContainer({ container_id: id, timeout: 10 }, cb));
    expect(g.backend.callsTo('stopContainer')[0]!.args).toEqual([id, 10]);
    await rpc((cb) => g.runtime.RemoveContainer({ container_id: id }, cb));
    await rpc((cb) => g.runtime.RemoveContainer({ container_id: id }, cb));
    expect(g.backend.containers.size).toBe(0);
  });

  it('RemoveContainer and StopContainer of an unknown id succeed (both idempotent); ContainerStatus answers NOT_FOUND', async () => {
    await rpc((cb) => g.runtime.RemoveContainer({ container_id: 'abc123' }, cb));
    await rpc((cb) => g.runtime.StopContainer({ container_id: 'abc123', timeout: 0 }, cb));
    expect(g.backend.callsTo('stopContainer').map((c) => c.args[0])).toEqual(['abc123']);
    await expectStatus(
      rpc((cb) => g.runtime.ContainerStatus({ container_id: 'abc123' }, cb)),
      grpc.status.NOT_FOUND,
      'abc123',
    );
  });

  it('refuses a negative stop timeout', async () => {
    const { container_id: id } = await create(containerConfig());
    await expectStatus(
      rpc((cb) => g.runtime.StopContainer({ container_id: id, timeout: -1 }, cb)),
      grpc.status.INVALID_ARGUMENT,
      'timeout',
    );
  });

  it('validates UpdateContainerResources before the backend sees it', async () => {
    const { container_id: id } = await create(containerConfig());
    await expectStatus(
      rpc((cb) => g.runtime.UpdateContainerResources({ container_id: id, linux: { cpu_shares: 1 } }, cb)),
      grpc.status.INVALID_ARGUMENT,
      'linux.cpu_shares',
    );
    await rpc((cb) =>
      g.runtime.UpdateContainerResources({ container_id: id, linux: { cpu_shares: 1024 } }, cb),
    );
    expect(g.backend.callsTo('updateContainerResources')).toHaveLength(1);
  });
});

describe('exec, attach, port-forward', () => {
  it('ExecSync returns output and exit code; refuses an empty command', async () => {
    const { container_id: id } = await create(containerConfig());
    const r = await rpc<ExecSyncResponse__Output>((cb) =>
      g.runtime.ExecSync({ container_id: id, cmd: ['echo', 'hi'], timeout: 5 }, cb),
    );
    expect(Buffer.from(r.stdout).toString()).toBe('echo hi');
    expect(Buffer.from(r.stderr).toString()).toBe('err');
    expect(r.exit_code).toBe(3);
    await expectStatus(
      rpc((cb) => g.runtime.ExecSync({ container_id: id, cmd: [] }, cb)),
      grpc.status.INVALID_ARGUMENT,
      'cmd',
    );
  });

  it('Exec, Attach and PortForward return the backend URL; bad stream combinations are refused', async () => {
    const { container_id: id } = await create(containerConfig());
    const exec = await rpc<{ url: string }>((cb) =>
      g.runtime.Exec({ container_id: id, cmd: ['sh'], stdin: true, stdout: true, tty: true }, cb),
    );
    expect(exec.url).toBe('http://127.0.0.1:10010/exec/token1');
    const attach = await rpc<{ url: string }>((cb) =>
      g.runtime.Attach({ container_id: id, stdout: true }, cb),
    );
    expect(attach.url).toContain('/attach/');
    const pf = await rpc<{ url: string }>((cb) =>
      g.runtime.PortForward({ pod_sandbox_id: podId, port: [80] }, cb),
    );
    expect(pf.url).toContain('/portforward/');
    expect(g.backend.callsTo('portForward')[0]!.args[1]).toEqual([80]);

    await expectStatus(
      rpc((cb) => g.runtime.Exec({ container_id: id, cmd: ['sh'] }, cb)),
      grpc.status.INVALID_ARGUMENT,
      'one must be set',
    );
    await expectStatus(
      rpc((cb) => g.runtime.Attach({ container_id: id, tty: true, stdout: true, stderr: true }, cb)),
      grpc.status.INVALID_ARGUMENT,
      'stderr',
      'tty',
    );
    await expectStatus(
      rpc((cb) => g.runtime.PortForward({ pod_sandbox_id: podId, port: [0] }, cb)),
      grpc.status.INVALID_ARGUMENT,
      'port[0]',
    );
  });

  it('CheckpointContainer is UNIMPLEMENTED with a reason on a backend without checkpoints', async () => {
    const { container_id: id } = await create(containerConfig());
    await expectStatus(
      rpc((cb) => g.runtime.CheckpointContainer({ container_id: id, location: '/tmp/ckpt.tar' }, cb)),
      grpc.status.UNIMPLEMENTED,
      'this backend does not checkpoint containers',
    );
  });
});

describe('stats', () => {
  it('ContainerStats and PodSandboxStats keep unset counters unset', async () => {
    const { container_id: id } = await create(containerConfig());
    await rpc((cb) => g.runtime.StartContainer({ container_id: id }, cb));
    const c = await rpc<ContainerStatsResponse__Output>((cb) =>
      g.runtime.ContainerStats({ container_id: id }, cb),
    );
    expect(c.stats?.attributes?.metadata).toEqual({ name: 'app', attempt: 1 });
    expect(c.stats?.cpu?.usage_core_nano_seconds?.value).toBe(5_000_000);
    expect(c.stats?.memory?.working_set_bytes?.value).toBe(1 << 20);
    expect(c.stats?.memory?.rss_bytes).toBeNull();
    expect(c.stats?.writable_layer?.fs_id?.mountpoint).toBe('/var/lib/berth/snapshots');
    const p = await rpc<PodSandboxStatsResponse__Output>((cb) =>
      g.runtime.PodSandboxStats({ pod_sandbox_id: podId }, cb),
    );
    expect(p.stats?.linux?.containers.map((x) => x.attributes?.id)).toEqual([id]);
    expect(p.stats?.linux?.network).toBeNull();
    await expectStatus(
      rpc((cb) => g.runtime.ContainerStats({ container_id: 'nope' }, cb)),
      grpc.status.NOT_FOUND,
      'nope',
    );
  });
});
