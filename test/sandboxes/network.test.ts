/**
 * Sandboxes through a real berthd with real CNI plugins: two pods get distinct IPs and reach each
 * other and the gateway, a hostPort reaches a listener inside the pod from the host, the CLI lists
 * and inspects them, stop and remove release everything, and the events tell the story.
 */
import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from '../../src/common/exec.js';
import type { SandboxStatusView, SandboxView } from '../../src/daemon/sandboxes.js';
import { runCli, type RunningBerthd } from '../helpers/berthd.js';
import { listenIn, sendFrom } from '../sandbox/netns-tools.js';
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

let env: SandboxTestEnv;
let d: RunningBerthd;
const hostPort = 30000 + Math.floor(Math.random() * 20000);
const a = podConfig('net-a', {
  hostname: 'pod-a',
  labels: { app: 'a' },
  dnsConfig: { servers: ['10.0.0.10'], searches: ['svc.cluster.local'], options: ['ndots:5'] },
  portMappings: [{ protocol: 'TCP', containerPort: 8080, hostPort }],
});
const b = podConfig('net-b', { labels: { app: 'b' } });
let ids: string[] = [];

beforeAll(async () => {
  env = await setupNetwork('net');
  d = await startSandboxBerthd(env);
  ids = [idOf(d, a), idOf(d, b)];
}, 120_000);

afterAll(async () => {
  for (const id of ids) await d?.client.delete(`/v1/sandboxes/${id}`).catch(() => undefined);
  await disposeDaemon(d);
  await teardownNetwork(env);
}, 120_000);

describe('sandboxes on a real bridge', () => {
  let before: Record<string, unknown>;
  let sa: SandboxView;
  let sb: SandboxView;

  it('two sandboxes get distinct IPs on the bridge and reach each other and the gateway', async () => {
    before = await hostFootprint(env, d, ids);
    [sa, sb] = await Promise.all([runPod(d, a), runPod(d, b)]);
    expect(sa.id).toBe(ids[0]);
    expect(sa.state).toBe('ready');
    expect(sb.state).toBe('ready');
    const ipA = sa.ips[0]!.ip;
    const ipB = sb.ips[0]!.ip;
    expect(ipA.startsWith(env.net.prefix)).toBe(true);
    expect(ipB.startsWith(env.net.prefix)).toBe(true);
    expect(ipA).not.toBe(ipB);
    expect(sa.network?.ips).toEqual([ipA]);
    expect(sa.netns).toBeDefined();

    // a → b and b → a over TCP, and each pings the gateway.
    for (const [from, to, ip] of [
      [sa, sb, ipB],
      [sb, sa, ipA],
    ] as const) {
      const l = await listenIn(to.netns!, 7000);
      await sendFrom(from.netns!, ip, 7000, `hello from ${from.id.slice(0, 6)}`);
      expect(await l.received).toBe(`hello from ${from.id.slice(0, 6)}`);
      await execFile('nsenter', [
        `--net=${from.netns!}`,
        'busybox',
        'ping',
        '-c',
        '1',
        '-W',
        '5',
        env.net.gateway,
      ]);
    }
  }, 120_000);

  it('writes the hostname, resolv.conf and hosts the pod asked for, and exposes what containers join', async () => {
    const files = sa.files!;
    expect((await readFile(files.hostname, 'utf8')).trim()).toBe('pod-a');
    const resolv = await readFile(files.resolvConf, 'utf8');
    expect(resolv).toContain('nameserver 10.0.0.10');
    expect(resolv).toContain('search svc.cluster.local');
    expect(resolv).toContain('options ndots:5');
    expect(await readFile(files.hosts, 'utf8')).toContain(sa.ips[0]!.ip);
    expect(Object.keys(sa.namespaces).sort()).toEqual(['ipc', 'net', 'uts']);
    expect(sa.cgroupParent).toBe(`/berth/pod-${sa.id}`);
    const uts = await execFile('nsenter', [`--uts=${sa.namespaces.uts!}`, 'hostname']);
    expect(uts.trim()).toBe('pod-a');
  });

  it('maps a hostPort: a connection from the host to the bridge address reaches the listener in the pod', async () => {
    const l = await listenIn(sa.netns!, 8080);
    await new Promise<void>((resolve, reject) => {
      const s = connect({ host: env.net.gateway, port: hostPort }, () => s.end('through the host port'));
      s.on('error', reject);
      s.on('close', () => resolve());
    });
    expect(await l.received).toBe('through the host port');
  }, 60_000);

  it('status runs CNI CHECK; the CLI lists and inspects the pods', async () => {
    const st = await d.client.get<SandboxStatusView>(`/v1/sandboxes/${sa.id.slice(0, 10)}`);
    expect(st.networkCheck).toEqual({ check: 'ok' });
    const table = await runCli(d.socket, ['pods']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/POD ID\s+NAME/);
    expect(table.stdout).toContain('net-a');
    expect(table.stdout).toContain(sb.ips[0]!.ip);
    const json = await runCli(d.socket, ['pods', '--json', '--label', 'app=b']);
    expect((JSON.parse(json.stdout) as SandboxView[]).map((s) => s.id)).toEqual([sb.id]);
    const inspect = await runCli(d.socket, ['pod', 'inspect', 'net-a']);
    expect(inspect.code).toBe(0);
    expect((JSON.parse(inspect.stdout) as SandboxStatusView).id).toBe(sa.id);
    const missing = await runCli(d.socket, ['pod', 'inspect', 'no-such-pod']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('sandbox no-such-pod not found');
  });

  it('a repeated identical request returns the same sandbox; stop releases the network; rm removes the rest', async () => {
    expect((await runPod(d, a)).id).toBe(sa.id);
    const stopped = await runCli(d.socket, ['pod', 'stop', sa.id, '--json']);
    expect(stopped.code).toBe(0);
    const view = JSON.parse(stopped.stdout) as SandboxView;
    expect(view.state).toBe('notready');
    expect(view.network).toBeUndefined();
    // Stopping again is harmless (a new run of the transition).
    await d.client.post(`/v1/sandboxes/${sa.id}/stop`);
    const st = await d.client.get<SandboxStatusView>(`/v1/sandboxes/${sa.id}`);
    expect(st.networkCheck).toEqual({ check: 'none' });
    expect((await runCli(d.socket, ['pod', 'rm', sa.id, sb.id])).code).toBe(0);
    expect(await d.client.get<SandboxView[]>('/v1/sandboxes')).toEqual([]);
    expect(await hostFootprint(env, d, ids)).toEqual(before);
  }, 120_000);

  it('recorded /sandboxes and /network events with their workflow causes', async () => {
    const events: string[] = [];
    for await (const e of d.client.stream<{ topic: string; subject: string; cause: { workflowId?: string } }>(
      '/v1/events',
      { entity: sa.id },
    )) {
      events.push(`${e.topic} ${e.cause.workflowId?.split(':').slice(0, 1).join('') ?? ''}`);
    }
    expect(events).toEqual([
      '/sandboxes/create sandbox',
      '/network/attach sandbox',
      '/sandboxes/start sandbox',
      '/network/detach sandbox',
      '/sandboxes/stop sandbox',
      '/sandboxes/delete sandbox',
    ]);
  });
});
