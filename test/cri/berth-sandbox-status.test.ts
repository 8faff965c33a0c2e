/**
 * BerthCriBackend.podSandboxStatus over stand-in services: the live CNI CHECK (SandboxService.status,
 * a run of the plugin chain) only for the verbose info that shows it, never for kubelet's plain
 * status calls, which come on every pod sync and PLEG relist.
 */
import { describe, expect, it } from 'vitest';
import { BerthCriBackend } from '../../src/cri/berth-backend.js';
import type { BerthCriDeps } from '../../src/cri/berth/deps.js';
import type { SandboxStatusView, SandboxView } from '../../src/daemon/sandboxes.js';

const view = {
  id: 'a'.repeat(64),
  namespace: 'k8s.io',
  state: 'ready',
  createdAt: '2026-12-08T00:00:00.000Z',
  labels: {},
  metadata: { name: 'web', uid: 'uid-1', namespace: 'default', attempt: 0 },
  ips: [{ ip: '10.88.0.7', family: 4 }],
  namespaces: { net: '/run/berth/ns/net/a' },
} as unknown as SandboxView;

function backendCounting(): { backend: BerthCriBackend; calls: string[] } {
  const calls: string[] = [];
  const sandboxes = {
    get: async () => {
      calls.push('get');
      return view;
    },
    status: async (): Promise<SandboxStatusView> => {
      calls.push('status');
      return { ...view, networkCheck: { check: 'ok' } };
    },
  };
  const node = () => ({ events: { log: { visibleBeforeMs: () => 1_796_000_000_000 } } });
  const deps = { sandboxes, containers: { list: () => [] }, node } as unknown as BerthCriDeps;
  return { backend: new BerthCriBackend(deps), calls };
}

describe('PodSandboxStatus', () => {
  it('answers a plain call from the record, without checking the network', async () => {
    const { backend, calls } = backendCounting();
    const result = await backend.podSandboxStatus(view.id, false);
    expect(calls).toEqual(['get']);
    expect(result.info).toEqual({});
    expect(result.status.state).toBe('ready');
    expect(result.status.network.ip).toBe('10.88.0.7');
    // Stamped with the event log's visibility bound, not the clock (see the event log's test).
    expect(result.readAtMs).toBe(1_796_000_000_000);
  });

  it('checks the network for a verbose call and shows the outcome in its info', async () => {
    const { backend, calls } = backendCounting();
    const result = await backend.podSandboxStatus(view.id, true);
    expect(calls).toEqual(['status']);
    expect(JSON.parse(result.info.info!)).toMatchObject({ network: { check: 'ok' }, ips: view.ips });
    expect(result.status.network.ip).toBe('10.88.0.7');
  });
});
