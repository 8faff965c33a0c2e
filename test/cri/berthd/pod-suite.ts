/**
 * One berthd (env.ts) for a test file, with gRPC clients of its CRI services, its busybox image
 * pulled and one pod made: the hooks are registered here, the fields filled before the tests run.
 * afterAll stops and removes the pod, closes the clients and cleans the environment up.
 */
import { afterAll, beforeAll } from 'vitest';
import type { ContainerConfig } from '../../../src/cri/generated/runtime/v1/ContainerConfig.js';
import type { CreateContainerResponse__Output } from '../../../src/cri/generated/runtime/v1/CreateContainerResponse.js';
import type { ImageServiceClient } from '../../../src/cri/generated/runtime/v1/ImageService.js';
import type { LinuxPodSandboxConfig } from '../../../src/cri/generated/runtime/v1/LinuxPodSandboxConfig.js';
import type { PodSandboxMetadata } from '../../../src/cri/generated/runtime/v1/PodSandboxMetadata.js';
import type { RunPodSandboxResponse__Output } from '../../../src/cri/generated/runtime/v1/RunPodSandboxResponse.js';
import type { RuntimeServiceClient } from '../../../src/cri/generated/runtime/v1/RuntimeService.js';
import { criClients, rpc } from '../harness.js';
import { startCriEnv, type CriEnv } from './env.js';

export interface CriPodSuite {
  env: CriEnv;
  runtime: RuntimeServiceClient;
  images: ImageServiceClient;
  podId: string;
  /** The pod's metadata, which CreateContainer's sandbox_config must repeat. */
  metadata: PodSandboxMetadata;
}

export function criPodSuite(
  metadata: PodSandboxMetadata,
  opts: { runtimeHandler?: string; linux?: LinuxPodSandboxConfig } = {},
): CriPodSuite {
  const suite = { metadata } as CriPodSuite;
  beforeAll(async () => {
    suite.env = await startCriEnv();
    ({ runtime: suite.runtime, image: suite.images } = criClients(suite.env.criSocket));
    await rpc((cb) => suite.images.PullImage({ image: { image: suite.env.image } }, cb));
    suite.podId = (
      await rpc<RunPodSandboxResponse__Output>((cb) =>
        suite.runtime.RunPodSandbox(
          {
            config: { metadata, ...(opts.linux ? { linux: opts.linux } : {}) },
            ...(opts.runtimeHandler ? { runtime_handler: opts.runtimeHandler } : {}),
          },
          cb,
        ),
      )
    ).pod_sandbox_id;
  }, 180_000);
  afterAll(async () => {
    suite.runtime?.close();
    suite.images?.close();
    if (suite.env && suite.podId) {
      await suite.env.crictl(['stopp', suite.podId]);
      await suite.env.crictl(['rmp', '-f', suite.podId]);
    }
    await suite.env?.cleanup();
  }, 120_000);
  return suite;
}

/** CreateContainer in the suite's pod (its metadata sent along, as kubelet does); the new id. */
export async function createInPod(suite: CriPodSuite, config: ContainerConfig): Promise<string> {
  const created = await rpc<CreateContainerResponse__Output>((cb) =>
    suite.runtime.CreateContainer(
      { pod_sandbox_id: suite.podId, config, sandbox_config: { metadata: suite.metadata } },
      cb,
    ),
  );
  return created.container_id;
}
