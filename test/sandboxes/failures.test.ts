/**
 * What goes wrong must say why and leave nothing: a conflist naming a missing plugin, an exhausted
 * IP range (both compensated by the create workflow: no netns, no IP, no rule, no record), and
 * bad input (refused before any workflow starts, or by the register step for a duplicate).
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BerthError } from '../../src/common/errors.js';
import type { SandboxView } from '../../src/daemon/sandboxes.js';
import type { SandboxConfig } from '../../src/sandbox/config.js';
import type { RunningBerthd } from '../helpers/berthd.js';
import {
  disposeDaemon,
  hostFootprint,
  idOf,
  podConfig,
  runPod,
  setupNetwork,
  startSandboxBerthd,
  teardownNetwork,
  type SandboxTestEnv,
} from './support.js';

async function failure(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (err) {
    return err as BerthError;
  }
  throw new Error('expected the request to fail');
}

async function eventsAbout(d: RunningBerthd, id: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of d.client.stream<{ topic: string }>('/v1/events', { entity: id })) out.push(e.topic);
  return out;
}

describe('a conflist naming a missing plugin', () => {
  let env: SandboxTestEnv;
  let d: RunningBerthd;
  beforeAll(async () => {
    env = await setupNetwork('miss', { extraPlugins: [{ type: 'berth-no-such-plugin' }] });
    d = await startSandboxBerthd(env);
  }, 120_000);
  afterAll(async () => {
    await disposeDaemon(d);
    await teardownNetwork(env);
  }, 120_000);

  it('fails naming the plugin and the reason, and the compensated create leaves nothing', async () => {
    const config = podConfig('missing-plugin');
    const id = idOf(d, config);
    const before = await hostFootprint(env, d, [id]);
    const err = await failure(runPod(d, config));
    expect(err.code).toBe('failed_precondition');
    expect(err.message).toContain('CNI plugin "berth-no-such-plugin" failed ADD');
    expect(err.message).toMatch(/not found|no such file/i);
    expect(await hostFootprint(env, d, [id])).toEqual(before);
    expect(await readdir(path.join(d.state, 'ns', 'net')).catch(() => [])).toEqual([]);
    expect(await d.client.get<SandboxView[]>('/v1/sandboxes')).toEqual([]);
    // The log shows the attempt and its undo.
    expect(await eventsAbout(d, id)).toEqual(['/sandboxes/create', '/sandboxes/delete']);
  }, 120_000);
});

describe('an exhausted IP range, and bad input', () => {
  let env: SandboxTestEnv;
  let d: RunningBerthd;
  let first: SandboxView;
  let before: Record<string, unknown>;
  const only = podConfig('only-ip');
  beforeAll(async () => {
    env = await setupNetwork('full');
    // A range of exactly one address.
    const { writeTestConflist } = await import('../network/host-state.js');
    await writeTestConflist(env.confDir, env.net, env.dataDir, {
      rangeStart: `${env.net.prefix}10`,
      rangeEnd: `${env.net.prefix}10`,
    });
    d = await startSandboxBerthd(env);
    before = await hostFootprint(env, d, [idOf(d, only), idOf(d, podConfig('no-ip-left'))]);
    first = await runPod(d, only);
  }, 120_000);
  afterAll(async () => {
    await d?.client.delete(`/v1/sandboxes/${idOf(d, only)}`).catch(() => undefined);
    await disposeDaemon(d);
    await teardownNetwork(env);
  }, 120_000);

  it('the second pod fails naming host-local and the range, and leaves nothing of itself', async () => {
    expect(first.ips[0]!.ip).toBe(`${env.net.prefix}10`);
    const config = podConfig('no-ip-left');
    const ids = [idOf(d, only), idOf(d, config)];
    const withFirst = await hostFootprint(env, d, ids);
    const err = await failure(runPod(d, config));
    expect(err.code).toBe('failed_precondition');
    expect(err.message).toContain('CNI plugin "bridge" failed ADD');
    expect(err.message).toMatch(/no IP addresses available/);
    expect(await hostFootprint(env, d, ids)).toEqual(withFirst);
    expect((await d.client.get<SandboxView[]>('/v1/sandboxes')).map((s) => s.id)).toEqual([first.id]);
  }, 120_000);

  const bad: [string, SandboxConfig, RegExp][] = [
    [
      'a bad hostname',
      podConfig('bad-host', { hostname: 'no_underscores' }),
      /^hostname "no_underscores" is invalid/,
    ],
    [
      'malformed DNS options',
      podConfig('bad-dns', { dnsConfig: { options: ['ndots:5\nnameserver 6.6.6.6'] } }),
      /^dnsConfig\.options\[0\] .* is invalid/,
    ],
    [
      'a host port out of range',
      podConfig('bad-port', { portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: 70000 }] }),
      /^portMappings\[0\]\.hostPort 70000 is invalid/,
    ],
    [
      'a container port out of range',
      podConfig('bad-cport', { portMappings: [{ protocol: 'TCP', containerPort: 0, hostPort: 8080 }] }),
      /^portMappings\[0\]\.containerPort 0 is invalid/,
    ],
    [
      'a bad pod name',
      { metadata: { name: 'a;b', namespace: 'x', uid: 'u', attempt: 0 } },
      /^metadata\.name "a;b" is invalid/,
    ],
  ];
  for (const [what, config, message] of bad) {
    it(`refuses ${what} with invalid_argument and creates nothing`, async () => {
      const err = await failure(runPod(d, config));
      expect(err.code).toBe('invalid_argument');
      expect(err.message).toMatch(message);
      expect(await eventsAbout(d, idOf(d, config))).toEqual([]);
      expect(await readdir(path.join(d.state, 'sandboxes'))).toEqual([first.id]);
    });
  }

  it('refuses an unknown runtime handler before anything is created', async () => {
    const config = podConfig('bad-handler');
    const err = await failure(d.client.post('/v1/sandboxes', { config, runtimeHandler: 'kata' }));
    expect(err.code).toBe('not_found');
    expect(err.message).toContain('kata');
    expect(await eventsAbout(d, idOf(d, config))).toEqual([]);
  });

  it('refuses the same pod uid and attempt with another configuration, leaving the first as it was', async () => {
    const err = await failure(runPod(d, { ...only, hostname: 'another-name' }));
    expect(err.code).toBe('already_exists');
    expect(err.message).toContain(
      `sandbox sbx-test/only-ip (uid uid-only-ip, attempt 0) already exists as ${first.id}`,
    );
    const again = await d.client.get<SandboxView>(`/v1/sandboxes/${first.id}`);
    expect(again.state).toBe('ready');
    expect(again.ips).toEqual(first.ips);
  }, 60_000);

  it('refuses a stopped pod attempt until it is removed, then creates it afresh', async () => {
    await d.client.post(`/v1/sandboxes/${first.id}/stop`);
    const err = await failure(runPod(d, only));
    expect(err.code).toBe('already_exists');
    expect(err.message).toContain('is stopped; remove it first');
    await d.client.delete(`/v1/sandboxes/${first.id}`);
    expect(await hostFootprint(env, d, [first.id, idOf(d, podConfig('no-ip-left'))])).toEqual(before);
    const again = await runPod(d, only);
    expect(again.id).toBe(first.id);
    expect(again.state).toBe('ready');
  }, 120_000);

  it('stop and remove of an unknown sandbox are not_found', async () => {
    expect((await failure(d.client.post('/v1/sandboxes/feedbeef/stop'))).code).toBe('not_found');
    expect((await failure(d.client.delete('/v1/sandboxes/feedbeef'))).message).toBe(
      'sandbox feedbeef not found',
    );
  });
});
