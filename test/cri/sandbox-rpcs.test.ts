import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ListPodSandboxResponse__Output } from '../../src/cri/generated/runtime/v1/ListPodSandboxResponse.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import type { PodSandboxStatusResponse__Output } from '../../src/cri/generated/runtime/v1/PodSandboxStatusResponse.js';
import type { RunPodSandboxResponse__Output } from '../../src/cri/generated/runtime/v1/RunPodSandboxResponse.js';
import type { PodSandboxSpec } from '../../src/cri/types/sandbox.js';
import { expectStatus, rpc, startGateway, type Gateway } from './harness.js';
import { podConfig } from './requests.js';

let g: Gateway;
beforeEach(async () => {
  g = await startGateway();
});
afterEach(async () => {
  await g.close();
});

const run = (config: PodSandboxConfig | null, runtime_handler = '') =>
  rpc<RunPodSandboxResponse__Output>((cb) => g.runtime.RunPodSandbox({ config, runtime_handler }, cb));

describe('RunPodSandbox', () => {
  it('converts the pod config for the backend and returns its id', async () => {
    const { pod_sandbox_id } = await run(podConfig(), 'runc');
    expect(pod_sandbox_id).toMatch(/^[0-9a-f]{64}$/);
    const spec = g.backend.callsTo('runPodSandbox')[0]!.args[0] as PodSandboxSpec;
    expect(spec.metadata).toMatchObject({ namespace: 'default', attempt: 0 });
    // Left empty: the backend picks (containerd and Berth use the node's hostname).
    expect(spec.hostname).toBe('');
    expect(spec.runtimeHandler).toBe('runc');
    expect(spec.portMappings).toEqual([{ protocol: 'tcp', containerPort: 80, hostPort: 8080, hostIp: '' }]);
    expect(spec.dns).toEqual({
      servers: ['10.96.0.10'],
      searches: ['default.svc.cluster.local'],
      options: ['ndots:5'],
    });
    expect(spec.linux.cgroupParent).toBe('/kubepods/besteffort/pod1');
    expect(spec.linux.securityContext.namespaces).toEqual({
      network: 'pod',
      pid: 'container',
      ipc: 'pod',
      targetId: '',
    });
    // No seccomp profile in the request: unconfined, as containerd does.
    expect(spec.linux.securityContext.seccomp).toEqual({ kind: 'unconfined' });
  });

  const broken: [string, (c: PodSandboxConfig) => PodSandboxConfig | null, string[]][] = [
    ['a missing config', () => null, ['config is missing']],
    ['missing metadata', (c) => ({ ...c, metadata: null }), ['config.metadata is missing']],
    [
      'an empty pod name',
      (c) => ({ ...c, metadata: { ...c.metadata, name: '' } }),
      ['config.metadata.name', 'empty'],
    ],
    ['an empty uid', (c) => ({ ...c, metadata: { ...c.metadata, uid: '' } }), ['config.metadata.uid']],
    [
      'an empty namespace',
      (c) => ({ ...c, metadata: { ...c.metadata, namespace: '' } }),
      ['config.metadata.namespace'],
    ],
    [
      'a container port out of range',
      (c) => ({ ...c, port_mappings: [{ container_port: 70000 }] }),
      ['config.port_mappings[0].container_port', '70000'],
    ],
    [
      'a negative memory limit',
      (c) => ({ ...c, linux: { ...c.linux, resources: { memory_limit_in_bytes: -5 } } }),
      ['config.linux.resources.memory_limit_in_bytes', '-5'],
    ],
    [
      'an impossible CFS period',
      (c) => ({ ...c, linux: { ...c.linux, overhead: { cpu_period: 10 } } }),
      ['config.linux.overhead.cpu_period', '10'],
    ],
    [
      'a cgroup path hidden in a unified key',
      (c) => ({ ...c, linux: { ...c.linux, resources: { unified: { '../../escape': '1' } } } }),
      ['config.linux.resources.unified', '../../escape'],
    ],
    [
      'a localhost seccomp profile without a ref',
      (c) => ({ ...c, linux: { security_context: { seccomp: { profile_type: 'Localhost' } } } }),
      ['config.linux.security_context.seccomp.localhost_ref'],
    ],
    [
      'TARGET pid mode without a target',
      (c) => ({ ...c, linux: { security_context: { namespace_options: { pid: 'TARGET' } } } }),
      ['config.linux.security_context.namespace_options.target_id'],
    ],
    ['a relative log directory', (c) => ({ ...c, log_directory: 'logs' }), ['config.log_directory']],
    ...(['CONTAINER', 'TARGET'] as const).map(
      (mode): [string, (c: PodSandboxConfig) => PodSandboxConfig, string[]] => [
        `user namespace mode ${mode}`,
        (c) => ({ ...c, linux: { security_context: { namespace_options: { userns_options: { mode } } } } }),
        ['namespace_options.userns_options.mode', `${mode} is not supported for user namespaces`],
      ],
    ),
    [
      'user namespace mode NODE with mappings',
      (c) => ({
        ...c,
        linux: {
          security_context: {
            namespace_options: {
              userns_options: { mode: 'NODE', uids: [{ container_id: 0, host_id: 1000, length: 10 }] },
            },
          },
        },
      }),
      ['namespace_options.userns_options mode NODE uses the node ids'],
    ],
  ];
  for (const [what, mutate, parts] of broken) {
    it(`refuses ${what} with INVALID_ARGUMENT and creates nothing`, async () => {
      await expectStatus(run(mutate(podConfig())), grpc.status.INVALID_ARGUMENT, ...parts);
      expect(g.backend.callsTo('runPodSandbox')).toHaveLength(0);
      expect(g.backend.sandboxes.size).toBe(0);
    });
  }
});

describe('RunPodSandbox runtime handler', () => {
  it('refuses a handler that is a path, naming it', async () => {
    await expectStatus(
      run(podConfig(), '../../bin/sh'),
      grpc.status.INVALID_ARGUMENT,
      'runtime_handler',
      '../../bin/sh',
    );
    expect(g.backend.callsTo('runPodSandbox')).toHaveLength(0);
  });
});

describe('PodSandboxStatus and ListPodSandbox', () => {
  it('answers the status with network, namespaces and verbose info', async () => {
    const { pod_sandbox_id: id } = await run(podConfig());
    const r = await rpc<PodSandboxStatusResponse__Output>((cb) =>
      g.runtime.PodSandboxStatus({ pod_sandbox_id: id, verbose: true }, cb),
    );
    expect(r.status).toMatchObject({ id, state: 'SANDBOX_READY', network: { ip: '10.88.0.2' } });
    expect(r.status?.linux?.namespaces?.options).toMatchObject({
      network: 'POD',
      pid: 'CONTAINER',
      ipc: 'POD',
    });
    expect(r.status?.created_at).toBeGreaterThan(1.7e18);
    expect(r.info).toEqual({ info: '{"pid":0}' });
    expect(r.timestamp).toBeGreaterThan(0);
    const quiet = await rpc<PodSandboxStatusResponse__Output>((cb) =>
      g.runtime.PodSandboxStatus({ pod_sandbox_id: id }, cb),
    );
    expect(quiet.info).toEqual({});
  });

  it('answers NOT_FOUND for an unknown id, naming it', async () => {
    await expectStatus(
      rpc((cb) => g.runtime.PodSandboxStatus({ pod_sandbox_id: 'deadbeef' }, cb)),
      grpc.status.NOT_FOUND,
      'deadbeef',
    );
  });

  it('answers INVALID_ARGUMENT for an empty or malformed id', async () => {
    await expectStatus(
      rpc((cb) => g.runtime.PodSandboxStatus({ pod_sandbox_id: '' }, cb)),
      grpc.status.INVALID_ARGUMENT,
      'pod_sandbox_id',
      'empty',
    );
    await expectStatus(
      rpc((cb) => g.runtime.PodSandboxStatus({ pod_sandbox_id: '../etc' }, cb)),
      grpc.status.INVALID_ARGUMENT,
      'pod_sandbox_id',
      '"../etc"',
    );
  });

  it('filters by id prefix, state and labels', async () => {
    const a = (await run(podConfig())).pod_sandbox_id;
    const other = podConfig();
    other.labels = { app: 'db' };
    const b = (await run(other)).pod_sandbox_id;
    await rpc((cb) => g.runtime.StopPodSandbox({ pod_sandbox_id: b }, cb));
    const list = async (filter: object) =>
      (await rpc<ListPodSandboxResponse__Output>((cb) => g.runtime.ListPodSandbox({ filter }, cb))).items.map(
        (i) => i.id,
      );
    expect((await list({})).sort()).toEqual([a, b].sort());
    expect(await list({ id: a.slice(0, 12) })).toEqual([a]);
    expect(await list({ state: { state: 'SANDBOX_NOTREADY' } })).toEqual([b]);
    expect(await list({ label_selector: { app: 'web' } })).toEqual([a]);
  });

  it('refuses an enum value the proto does not define, naming the field', async () => {
    await expectStatus(
      rpc((cb) => g.runtime.ListPodSandbox({ filter: { state: { state: 7 as 0 } } }, cb)),
      grpc.status.INVALID_ARGUMENT,
      'filter.state.state',
      '7',
    );
  });

  it('streams the same sandboxes with StreamPodSandboxes', async () => {
    const ids = [(await run(podConfig())).pod_sandbox_id, (await run(podConfig())).pod_sandbox_id];
    const got: string[] = [];
    const stream = g.runtime.StreamPodSandboxes({});
    stream.on('data', (m: { pod_sandboxes: { id: string }[] }) =>
      got.push(...m.pod_sandboxes.map((p) => p.id)),
    );
    await new Promise((resolve, reject) => stream.on('end', resolve).on('error', reject));
    expect(got.sort()).toEqual(ids.sort());
  });
});

describe('StopPodSandbox and RemovePodSandbox', () => {
  it('stop and remove of an unknown sandbox succeed (idempotent, as kubelet expects)', async () => {
    await rpc((cb) => g.runtime.StopPodSandbox({ pod_sandbox_id: 'feedface' }, cb));
    await rpc((cb) => g.runtime.RemovePodSandbox({ pod_sandbox_id: 'feedface' }, cb));
    expect(g.backend.callsTo('stopPodSandbox')).toHaveLength(1);
    expect(g.backend.callsTo('removePodSandbox')).toHaveLength(1);
  });

  it('removing twice succeeds both times', async () => {
    const { pod_sandbox_id: id } = await run(podConfig());
    await rpc((cb) => g.runtime.StopPodSandbox({ pod_sandbox_id: id }, cb));
    await rpc((cb) => g.runtime.RemovePodSandbox({ pod_sandbox_id: id }, cb));
    await rpc((cb) => g.runtime.RemovePodSandbox({ pod_sandbox_id: id }, cb));
    expect(g.backend.sandboxes.size).toBe(0);
  });

  it('still refuses an empty id', async () => {
    await expectStatus(
      rpc((cb) => g.runtime.RemovePodSandbox({ pod_sandbox_id: '' }, cb)),
      grpc.status.INVALID_ARGUMENT,
      'pod_sandbox_id',
    );
  });

  it('UpdatePodSandboxResources is UNIMPLEMENTED with a reason when the backend lacks it', async () => {
    const { pod_sandbox_id: id } = await run(podConfig());
    await expectStatus(
      rpc((cb) =>
        g.runtime.UpdatePodSandboxResources({ pod_sandbox_id: id, resources: { cpu_shares: 100 } }, cb),
      ),
      grpc.status.UNIMPLEMENTED,
      'does not resize pod sandboxes',
    );
  });
});
