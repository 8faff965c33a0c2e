/** Starts a CriServer over a FakeBackend on a temporary unix socket, with real gRPC clients. */
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ImageServiceClient } from '../../src/cri/generated/runtime/v1/ImageService.js';
import type { RuntimeServiceClient } from '../../src/cri/generated/runtime/v1/RuntimeService.js';
import { loadCriProto } from '../../src/cri/proto.js';
import { CriServer } from '../../src/cri/server.js';
import { FakeBackend } from './fake-backend.js';

export interface Gateway {
  backend: FakeBackend;
  server: CriServer;
  dir: string;
  socket: string;
  runtime: RuntimeServiceClient;
  image: ImageServiceClient;
  close(): Promise<void>;
}

/** gRPC clients of both CRI services on a unix socket; close them when done. */
export function criClients(socket: string): { runtime: RuntimeServiceClient; image: ImageServiceClient } {
  const proto = loadCriProto();
  return {
    runtime: new proto.runtime.v1.RuntimeService(`unix://${socket}`, grpc.credentials.createInsecure()),
    image: new proto.runtime.v1.ImageService(`unix://${socket}`, grpc.credentials.createInsecure()),
  };
}

export async function startGateway(backend = new FakeBackend()): Promise<Gateway> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-cri-'));
  const socket = join(dir, 'cri.sock');
  const server = new CriServer({ backend, runtimeVersion: '9.9.9-test', closeGraceMs: 2_000 });
  await server.listen(socket);
  const { runtime, image } = criClients(socket);
  return {
    backend,
    server,
    dir,
    socket,
    runtime,
    image,
    async close() {
      runtime.close();
      image.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Turns a callback-style grpc-js call into a promise. */
export function rpc<T>(
  invoke: (callback: (err: grpc.ServiceError | null, value?: T) => void) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    invoke((err, value) => (err ? reject(err) : resolve(value as T)));
  });
}

/** Asserts the call failed with `code` and a message containing every one of `parts`. */
export async function expectStatus(
  promise: Promise<unknown>,
  code: grpc.status,
  ...parts: string[]
): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e as grpc.ServiceError,
  );
  expect(err, `expected ${grpc.status[code]}, got success`).toBeDefined();
  expect(grpc.status[err!.code]).toBe(grpc.status[code]);
  for (const part of parts) expect(err!.details).toContain(part);
}
