/**
 * Sweeps every RPC of the loaded api.proto against a backend that has nothing wired
 * (UnimplementedBackend): each answers UNIMPLEMENTED with a reason, except those the gateway
 * answers itself. The request table must cover the proto, so an RPC added by a new cri-api
 * version fails here until it is handled.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCriProto } from '../../src/cri/proto.js';
import { CriServer } from '../../src/cri/server.js';
import { UnimplementedBackend } from '../../src/cri/unimplemented-backend.js';
import { containerConfig, podConfig } from './requests.js';

const id = { container_id: 'c1' };
const pod = { pod_sandbox_id: 'p1' };
const image = { image: { image: 'busybox' } };

/** A valid request per RPC, and whether the gateway answers it without the backend. */
const REQUESTS: Record<string, { request: object; answeredByGateway?: boolean }> = {
  Version: { request: {}, answeredByGateway: true },
  Status: { request: { verbose: true }, answeredByGateway: true },
  ListMetricDescriptors: { request: {}, answeredByGateway: true },
  ListPodSandboxMetrics: { request: {}, answeredByGateway: true },
  StreamPodSandboxMetrics: { request: {}, answeredByGateway: true },
  RuntimeConfig: { request: {} },
  UpdateRuntimeConfig: { request: { runtime_config: { network_config: { pod_cidr: '10.1.0.0/16' } } } },
  RunPodSandbox: { request: { config: podConfig() } },
  StopPodSandbox: { request: pod },
  RemovePodSandbox: { request: pod },
  PodSandboxStatus: { request: pod },
  ListPodSandbox: { request: {} },
  StreamPodSandboxes: { request: {} },
  UpdatePodSandboxResources: { request: pod },
  CreateContainer: { request: { ...pod, config: containerConfig() } },
  StartContainer: { request: id },
  StopContainer: { request: id },
  RemoveContainer: { request: id },
  ListContainers: { request: {} },
  StreamContainers: { request: {} },
  ContainerStatus: { request: id },
  UpdateContainerResources: { request: { ...id, linux: {} } },
  ReopenContainerLog: { request: id },
  ExecSync: { request: { ...id, cmd: ['true'] } },
  Exec: { request: { ...id, cmd: ['sh'], stdout: true } },
  Attach: { request: { ...id, stdout: true } },
  PortForward: { request: { ...pod, port: [80] } },
  ContainerStats: { request: id },
  ListContainerStats: { request: {} },
  StreamContainerStats: { request: {} },
  PodSandboxStats: { request: pod },
  ListPodSandboxStats: { request: {} },
  StreamPodSandboxStats: { request: {} },
  CheckpointContainer: { request: { ...id, location: '/tmp/c.tar' } },
  GetContainerEvents: { request: {} },
  ListImages: { request: {} },
  StreamImages: { request: {} },
  ImageStatus: { request: image },
  PullImage: { request: image },
  RemoveImage: { request: image },
  ImageFsInfo: { request: {} },
};

let dir: string;
let server: CriServer;
let clients: grpc.Client[];
const proto = loadCriProto();
const services = [proto.runtime.v1.RuntimeService, proto.runtime.v1.ImageService];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-cri-every-'));
  server = new CriServer({ backend: new UnimplementedBackend() });
  await server.listen(join(dir, 'cri.sock'));
  clients = services.map((S) => new S(`unix://${join(dir, 'cri.sock')}`, grpc.credentials.createInsecure()));
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

type Outcome = { code: grpc.status; details: string };

function invoke(client: grpc.Client, method: string, streaming: boolean, request: object): Promise<Outcome> {
  const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!.bind(client);
  return new Promise((resolve) => {
    const fail = (err: grpc.ServiceError) => resolve({ code: err.code, details: err.details });
    if (!streaming) {
      fn(request, (err: grpc.ServiceError | null) =>
        err ? fail(err) : resolve({ code: grpc.status.OK, details: '' }),
      );
      return;
    }
    const stream = fn(request) as grpc.ClientReadableStream<unknown>;
    stream.on('data', () => undefined);
    stream.on('error', fail);
    stream.on('end', () => resolve({ code: grpc.status.OK, details: '' }));
  });
}

describe('every RPC of api.proto', () => {
  const methods = services.flatMap((S, i) =>
    Object.entries(S.service).map(([name, def]) => ({ name, streaming: def.responseStream, client: i })),
  );

  it('has a request in this table (and the table names no RPC the proto lacks)', () => {
    expect(methods.map((m) => m.name).sort()).toEqual(Object.keys(REQUESTS).sort());
  });

  for (const { name, streaming, client } of methods) {
    const entry = REQUESTS[name];
    it(`${name}: ${entry?.answeredByGateway ? 'answered by the gateway' : 'UNIMPLEMENTED with a reason'}`, async () => {
      const outcome = await invoke(clients[client]!, name, streaming, entry!.request);
      if (entry!.answeredByGateway) {
        expect(outcome).toEqual({ code: grpc.status.OK, details: '' });
      } else {
        expect(grpc.status[outcome.code]).toBe('UNIMPLEMENTED');
        expect(outcome.details).toMatch(new RegExp(`^${name}: .+`));
      }
    });
  }
});
