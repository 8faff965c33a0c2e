/**
 * Container stop signals (KEP-4960) against a real berthd's CRI socket: the container config's
 * stop_signal wins over the image's STOPSIGNAL, which wins over SIGTERM; StopContainer sends it
 * first; ContainerStatus reports the one in force. An image whose STOPSIGNAL names no signal is
 * refused at create, naming it, with nothing created.
 */
import * as grpc from '@grpc/grpc-js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ContainerStatusResponse__Output } from '../../../src/cri/generated/runtime/v1/ContainerStatusResponse.js';
import type { CreateContainerResponse__Output } from '../../../src/cri/generated/runtime/v1/CreateContainerResponse.js';
import type { ListContainersResponse__Output } from '../../../src/cri/generated/runtime/v1/ListContainersResponse.js';
import type { Signal } from '../../../src/cri/generated/runtime/v1/Signal.js';
import { expectStatus, rpc } from '../harness.js';
import { pushBusyboxImage } from './env.js';
import { criPodSuite } from './pod-suite.js';

const suite = criPodSuite({ name: 'stopsig', namespace: 'stopsig', uid: 'uid-stopsig', attempt: 0 });
let quitImage = '';
let badImage = '';

/** Exits 21 on SIGUSR1, 22 on SIGQUIT, 23 on SIGTERM: the exit code names the signal stop sent. */
const SIGNAL_REPORTER =
  'trap "exit 21" USR1; trap "exit 22" QUIT; trap "exit 23" TERM; echo ready; while true; do sleep 0.1; done';

beforeAll(async () => {
  const { env } = suite;
  quitImage = await pushBusyboxImage(env.reg, env.work, 'cri/busybox-quit', [], { stopSignal: 'SIGQUIT' });
  badImage = await pushBusyboxImage(env.reg, env.work, 'cri/busybox-bad', [], { stopSignal: 'SIGNOPE' });
  for (const image of [quitImage, badImage])
    await rpc((cb) => suite.images.PullImage({ image: { image } }, cb));
}, 180_000);

async function create(name: string, image: string, stopSignal?: Signal): Promise<string> {
  const config = {
    metadata: { name, attempt: 0 },
    image: { image },
    command: ['sh', '-c', SIGNAL_REPORTER],
    ...(stopSignal ? { stop_signal: stopSignal } : {}),
  };
  return (
    await rpc<CreateContainerResponse__Output>((cb) =>
      suite.runtime.CreateContainer(
        { pod_sandbox_id: suite.podId, config, sandbox_config: { metadata: suite.metadata } },
        cb,
      ),
    )
  ).container_id;
}

const status = async (id: string): Promise<ContainerStatusResponse__Output['status']> =>
  (
    await rpc<ContainerStatusResponse__Output>((cb) =>
      suite.runtime.ContainerStatus({ container_id: id }, cb),
    )
  ).status;

/** Starts the container, waits for its traps, stops it with a grace period; returns its exit code. */
async function startAndStop(id: string): Promise<number> {
  await rpc((cb) => suite.runtime.StartContainer({ container_id: id }, cb));
  const deadline = Date.now() + 30_000;
  while (!(await suite.env.crictl(['logs', id])).stdout.includes('ready')) {
    if (Date.now() > deadline) throw new Error(`container ${id} never printed "ready"`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await rpc((cb) => suite.runtime.StopContainer({ container_id: id, timeout: 20 }, cb));
  return (await status(id))!.exit_code;
}

describe('container stop signals through the CRI', () => {
  it("the config's stop_signal wins over the image's STOPSIGNAL, and stop sends it", async () => {
    const id = await create('own-signal', quitImage, 'SIGUSR1');
    expect((await status(id))!.stop_signal).toBe('SIGUSR1');
    expect(await startAndStop(id)).toBe(21);
    expect((await status(id))!.stop_signal).toBe('SIGUSR1');
  });

  it("without one, the image's STOPSIGNAL is used and reported", async () => {
    const id = await create('image-signal', quitImage);
    expect((await status(id))!.stop_signal).toBe('SIGQUIT');
    expect(await startAndStop(id)).toBe(22);
  });

  it('with neither, SIGTERM is used and reported', async () => {
    const id = await create('default-signal', suite.env.image);
    expect((await status(id))!.stop_signal).toBe('SIGTERM');
    expect(await startAndStop(id)).toBe(23);
  });

  it('an image whose STOPSIGNAL names no signal is refused at create, naming it; nothing is created', async () => {
    const before = await rpc<ListContainersResponse__Output>((cb) => suite.runtime.ListContainers({}, cb));
    await expectStatus(
      rpc((cb) =>
        suite.runtime.CreateContainer(
          {
            pod_sandbox_id: suite.podId,
            config: { metadata: { name: 'bad-signal', attempt: 0 }, image: { image: badImage } },
            sandbox_config: { metadata: suite.metadata },
          },
          cb,
        ),
      ),
      grpc.status.INVALID_ARGUMENT,
      'StopSignal "SIGNOPE" is not a signal',
    );
    const after = await rpc<ListContainersResponse__Output>((cb) => suite.runtime.ListContainers({}, cb));
    expect(after.containers.map((c) => c.id).sort()).toEqual(before.containers.map((c) => c.id).sort());
  });

  it('a bad image that carries a stop signal of its own is created with it', async () => {
    const id = await create('bad-image-own-signal', badImage, 'SIGUSR1');
    expect((await status(id))!.stop_signal).toBe('SIGUSR1');
  });
});
