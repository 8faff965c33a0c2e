import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/common/errors.js';
import type { ListMetricDescriptorsResponse__Output } from '../../src/cri/generated/runtime/v1/ListMetricDescriptorsResponse.js';
import type { ListPodSandboxMetricsResponse__Output } from '../../src/cri/generated/runtime/v1/ListPodSandboxMetricsResponse.js';
import type { RuntimeConfigResponse__Output } from '../../src/cri/generated/runtime/v1/RuntimeConfigResponse.js';
import type { StatusResponse__Output } from '../../src/cri/generated/runtime/v1/StatusResponse.js';
import type { StreamPodSandboxMetricsResponse__Output } from '../../src/cri/generated/runtime/v1/StreamPodSandboxMetricsResponse.js';
import { expectStatus, rpc, startGateway, type Gateway } from './harness.js';

let g: Gateway;
beforeAll(async () => {
  g = await startGateway();
});
afterAll(async () => {
  await g.close();
});

describe('Status', () => {
  it('reports RuntimeReady and NetworkReady with reasons, handlers and features', async () => {
    const r = await rpc<StatusResponse__Output>((cb) => g.runtime.Status({ verbose: false }, cb));
    expect(r.status?.conditions).toEqual([
      { type: 'RuntimeReady', status: true, reason: '', message: '' },
      { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: 'no CNI config yet' },
    ]);
    expect(r.runtime_handlers).toEqual([
      { name: 'runc', features: { recursive_read_only_mounts: true, user_namespaces: false } },
    ]);
    expect(r.features).toEqual({ supplemental_groups_policy: true, user_namespaces_host_network: false });
    expect(r.info).toEqual({});
  });

  it('adds the info map only when verbose', async () => {
    const r = await rpc<StatusResponse__Output>((cb) => g.runtime.Status({ verbose: true }, cb));
    expect(r.info).toEqual({ config: '{"root":"/tmp/fake"}', note: 'fake backend' });
  });

  it('reports a condition the backend left out as not ready, never as ready', async () => {
    const saved = g.backend.runtimeStatus;
    g.backend.runtimeStatus = {
      ...saved,
      conditions: [{ type: 'RuntimeReady', status: true, reason: '', message: '' }],
    };
    try {
      const r = await rpc<StatusResponse__Output>((cb) => g.runtime.Status({}, cb));
      expect(r.status?.conditions.find((c) => c.type === 'NetworkReady')).toMatchObject({
        status: false,
        reason: 'NotReported',
      });
    } finally {
      g.backend.runtimeStatus = saved;
    }
  });

  it('answers not ready with the cause when the backend cannot report', async () => {
    const original = g.backend.status.bind(g.backend);
    g.backend.override('status', async () => {
      throw new UnavailableError('Temporal at 127.0.0.1:7233 does not answer');
    });
    try {
      const r = await rpc<StatusResponse__Output>((cb) => g.runtime.Status({}, cb));
      expect(r.status?.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
        ['RuntimeReady', false, 'StatusUnavailable'],
        ['NetworkReady', false, 'StatusUnavailable'],
      ]);
      expect(r.status?.conditions[0]?.message).toContain('Temporal at 127.0.0.1:7233 does not answer');
    } finally {
      g.backend.override('status', original);
    }
  });
});

describe('RuntimeConfig and UpdateRuntimeConfig', () => {
  it('tells kubelet to use the cgroupfs driver', async () => {
    const r = await rpc<RuntimeConfigResponse__Output>((cb) => g.runtime.RuntimeConfig({}, cb));
    expect(r.linux?.cgroup_driver).toBe('CGROUPFS');
  });

  it('hands the pod CIDR to the backend', async () => {
    await rpc((cb) =>
      g.runtime.UpdateRuntimeConfig(
        { runtime_config: { network_config: { pod_cidr: '10.244.1.0/24,fd00::/64' } } },
        cb,
      ),
    );
    expect(g.backend.podCidr).toBe('10.244.1.0/24,fd00::/64');
  });

  it('accepts an empty pod CIDR without calling the backend', async () => {
    const before = g.backend.callsTo('updateRuntimeConfig').length;
    await rpc((cb) => g.runtime.UpdateRuntimeConfig({}, cb));
    expect(g.backend.callsTo('updateRuntimeConfig')).toHaveLength(before);
  });

  it('rejects a malformed pod CIDR naming the field', async () => {
    const before = g.backend.callsTo('updateRuntimeConfig').length;
    await expectStatus(
      rpc((cb) =>
        g.runtime.UpdateRuntimeConfig(
          { runtime_config: { network_config: { pod_cidr: '10.0.0.0/33' } } },
          cb,
        ),
      ),
      grpc.status.INVALID_ARGUMENT,
      'runtime_config.network_config.pod_cidr',
      '10.0.0.0/33',
    );
    expect(g.backend.callsTo('updateRuntimeConfig')).toHaveLength(before);
  });
});

describe('metrics', () => {
  it('has no metric descriptors and no pod metrics', async () => {
    const d = await rpc<ListMetricDescriptorsResponse__Output>((cb) =>
      g.runtime.ListMetricDescriptors({}, cb),
    );
    expect(d.descriptors).toEqual([]);
    const m = await rpc<ListPodSandboxMetricsResponse__Output>((cb) =>
      g.runtime.ListPodSandboxMetrics({}, cb),
    );
    expect(m.pod_metrics).toEqual([]);
  });

  it('ends StreamPodSandboxMetrics at once with no message', async () => {
    const messages: StreamPodSandboxMetricsResponse__Output[] = [];
    const stream = g.runtime.StreamPodSandboxMetrics({});
    stream.on('data', (m: StreamPodSandboxMetricsResponse__Output) => messages.push(m));
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    expect(messages).toEqual([]);
  });
});
