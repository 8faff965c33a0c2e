/**
 * Malformed and impossible requests to a real berthd's CRI socket answer INVALID_ARGUMENT or
 * NOT_FOUND with a message naming the problem, and create nothing (no pod, no container,
 * nothing left in the projections).
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageServiceClient } from '../../../src/cri/generated/runtime/v1/ImageService.js';
import type { ListContainersResponse__Output } from '../../../src/cri/generated/runtime/v1/ListContainersResponse.js';
import type { ListPodSandboxResponse__Output } from '../../../src/cri/generated/runtime/v1/ListPodSandboxResponse.js';
import type { RunPodSandboxResponse__Output } from '../../../src/cri/generated/runtime/v1/RunPodSandboxResponse.js';
import type { RuntimeServiceClient } from '../../../src/cri/generated/runtime/v1/RuntimeService.js';
import { criClients, expectStatus, rpc } from '../harness.js';
import { containerConfig, podConfig } from '../requests.js';
import { startCriEnv, type CriEnv } from './env.js';

let env: CriEnv;
let runtime: RuntimeServiceClient;
let image: ImageServiceClient;
let podId = '';

function pod(): ReturnType<typeof podConfig> {
  const p = podConfig();
  p.port_mappings = [];
  p.log_directory = '';
  p.dns_config = null;
  p.linux = {};
  return p;
}

function container(): ReturnType<typeof containerConfig> {
  const c = containerConfig();
  c.image = { image: env.image };
  c.mounts = [];
  c.working_dir = '';
  return c;
}

beforeAll(async () => {
  env = await startCriEnv();
  ({ runtime, image } = criClients(env.criSocket));
  await rpc((cb) => image.PullImage({ image: { image: env.image } }, cb));
  podId = (await rpc<RunPodSandboxResponse__Output>((cb) => runtime.RunPodSandbox({ config: pod() }, cb)))
    .pod_sandbox_id;
}, 180_000);

afterAll(async () => {
  runtime?.close();
  image?.close();
  if (env && podId) {
    await env.crictl(['stopp', podId]);
    await env.crictl(['rmp', '-f', podId]);
  }
  await env?.cleanup();
}, 120_000);

describe('bad CRI input against berthd', () => {
  it('RunPodSandbox without metadata, or with an unknown runtime handler', async () => {
    const noMetadata = pod();
    noMetadata.metadata = null;
    await expectStatus(
      rpc((cb) => runtime.RunPodSandbox({ config: noMetadata }, cb)),
      grpc.status.INVALID_ARGUMENT,
      'config.metadata',
    );
    await expectStatus(
      rpc((cb) => runtime.RunPodSandbox({ config: pod(), runtime_handler: 'kata' }, cb)),
      grpc.status.NOT_FOUND,
      'runtime handler "kata" is not configured',
    );
  });

  it('CreateContainer with an empty image, an unknown image, impossible resources, an unknown pod', async () => {
    const empty = container();
    empty.image = { image: '' };
    await expectStatus(
      rpc((cb) =>
        runtime.CreateContainer({ pod_sandbox_id: podId, config: empty, sandbox_config: pod() }, cb),
      ),
      grpc.status.INVALID_ARGUMENT,
      'image',
    );
    const unknown = container();
    unknown.image = { image: `${env.reg.host}/cri/absent:1` };
    await expectStatus(
      rpc((cb) => runtime.CreateContainer({ pod_sandbox_id: podId, config: unknown }, cb)),
      grpc.status.NOT_FOUND,
      'cri/absent',
    );
    const impossible = container();
    impossible.linux = { resources: { memory_limit_in_bytes: -5, cpu_shares: 2 } };
    await expectStatus(
      rpc((cb) => runtime.CreateContainer({ pod_sandbox_id: podId, config: impossible }, cb)),
      grpc.status.INVALID_ARGUMENT,
      'memory_limit_in_bytes',
    );
    const hugeShares = container();
    hugeShares.linux = { resources: { cpu_shares: 1 << 30 } };
    await expectStatus(
      rpc((cb) => runtime.CreateContainer({ pod_sandbox_id: podId, config: hugeShares }, cb)),
      grpc.status.INVALID_ARGUMENT,
      'cpu_shares',
    );
    await expectStatus(
      rpc((cb) => runtime.CreateContainer({ pod_sandbox_id: 'f'.repeat(64), config: container() }, cb)),
      grpc.status.NOT_FOUND,
      'f'.repeat(64),
    );
  });

  it('bad and unknown ids', async () => {
    await expectStatus(
      rpc((cb) => runtime.PodSandboxStatus({ pod_sandbox_id: '../etc' }, cb)),
      grpc.status.INVALID_ARGUMENT,
      'pod_sandbox_id',
    );
    await expectStatus(
      rpc((cb) => runtime.ContainerStatus({ container_id: 'deadbeef' }, cb)),
      grpc.status.NOT_FOUND,
      'deadbeef',
    );
    await expectStatus(
      rpc((cb) => runtime.StartContainer({ container_id: 'deadbeef' }, cb)),
      grpc.status.NOT_FOUND,
      'deadbeef',
    );
    await expectStatus(
      rpc((cb) => runtime.Exec({ container_id: 'deadbeef', cmd: ['sh'], stdout: true }, cb)),
      grpc.status.NOT_FOUND,
      'deadbeef',
    );
    // Idempotent stops and removals of what does not exist succeed, as the CRI says.
    await rpc((cb) => runtime.StopContainer({ container_id: 'deadbeef', timeout: 0 }, cb));
    await rpc((cb) => runtime.RemoveContainer({ container_id: 'deadbeef' }, cb));
    await rpc((cb) => runtime.StopPodSandbox({ pod_sandbox_id: 'f'.repeat(64) }, cb));
  });

  it('nothing was created by the failed calls', async () => {
    const containers = await rpc<ListContainersResponse__Output>((cb) => runtime.ListContainers({}, cb));
    expect(containers.containers).toEqual([]);
    const pods = await rpc<ListPodSandboxResponse__Output>((cb) => runtime.ListPodSandbox({}, cb));
    expect(pods.items.map((p) => p.id)).toEqual([podId]);
    const out = await env.crictl(['ps', '-a', '-q']);
    expect(out.stdout).toBe('');
  });
});
