/**
 * The real crictl v1.36 driving a pod and container lifecycle through the gateway over the
 * fake backend: runp, create, start, exec -s, stats, statsp, update, stop, rm, pull,
 * inspecti, rmi and events. It checks that crictl's requests arrive converted as sent.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileCapture, type ExecResult } from '../../src/common/exec.js';
import type { ContainerSpec, LinuxResources } from '../../src/cri/types/container.js';
import type { PodSandboxSpec } from '../../src/cri/types/sandbox.js';
import { startGateway, type Gateway } from './harness.js';

const CRICTL = join(process.cwd(), '.tools/bin/crictl');

let g: Gateway;
let config: string;
let podFile: string;
let containerFile: string;

const crictl = (...args: string[]): Promise<ExecResult> =>
  execFileCapture(CRICTL, ['--config', config, ...args], { timeoutMs: 30_000 });

async function ok(...args: string[]): Promise<string> {
  const r = await crictl(...args);
  expect(r.code, `crictl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

beforeAll(async () => {
  if (!existsSync(CRICTL)) {
    throw new Error(
      `crictl is not at ${CRICTL}: run the setup script (scripts/setup) to build cri-tools v1.36`,
    );
  }
  g = await startGateway();
  const endpoint = `unix://${g.socket}`;
  config = join(g.dir, 'crictl.yaml');
  await writeFile(config, `runtime-endpoint: ${endpoint}\nimage-endpoint: ${endpoint}\ntimeout: 10\n`);
  podFile = join(g.dir, 'pod.json');
  await writeFile(
    podFile,
    JSON.stringify({
      metadata: { name: 'nginx', namespace: 'web', uid: 'u-123', attempt: 1 },
      log_directory: '/tmp/berth-crictl-logs',
      port_mappings: [{ protocol: 1, container_port: 53, host_port: 5353 }],
      labels: { app: 'nginx' },
      linux: { security_context: { namespace_options: { network: 0, pid: 1, ipc: 0 } } },
    }),
  );
  containerFile = join(g.dir, 'container.json');
  await writeFile(
    containerFile,
    JSON.stringify({
      metadata: { name: 'server' },
      image: { image: 'busybox:1.36' },
      command: ['sleep', '3600'],
      envs: [{ key: 'MODE', value: 'test' }],
      log_path: 'server.0.log',
      linux: { resources: { memory_limit_in_bytes: 33554432 } },
    }),
  );
});

afterAll(async () => {
  await g?.close();
});

describe('crictl v1.36 lifecycle against the gateway', () => {
  let podId = '';
  let containerId = '';

  it('pull and inspecti', async () => {
    expect(await ok('pull', 'busybox:1.36')).toMatch(/^Image is up to date for sha256:[0-9a-f]{64}$/);
    const image = JSON.parse(await ok('inspecti', 'busybox:1.36')) as { status: { repoTags: string[] } };
    expect(image.status.repoTags).toEqual(['busybox:1.36']);
  });

  it('runp sends the pod config as written', async () => {
    podId = await ok('runp', podFile);
    expect(podId).toMatch(/^[0-9a-f]{64}$/);
    const spec = g.backend.callsTo('runPodSandbox')[0]!.args[0] as PodSandboxSpec;
    expect(spec.metadata).toEqual({ name: 'nginx', namespace: 'web', uid: 'u-123', attempt: 1 });
    expect(spec.portMappings).toEqual([{ protocol: 'udp', containerPort: 53, hostPort: 5353, hostIp: '' }]);
    expect(spec.linux.securityContext.namespaces).toMatchObject({ network: 'pod', pid: 'container' });
  });

  it('create (image already present) and start', async () => {
    containerId = await ok('create', podId, containerFile, podFile);
    const spec = g.backend.callsTo('createContainer')[0]!.args[1] as ContainerSpec;
    expect(spec).toMatchObject({ command: ['sleep', '3600'], envs: [{ key: 'MODE', value: 'test' }] });
    expect(spec.linux.resources?.memoryLimitBytes).toBe(33554432);
    await ok('start', containerId);
    expect(await ok('ps', '-q', '--state', 'running')).toBe(containerId);
  });

  it('exec -s runs ExecSync: output on success, exit code and stderr on failure', async () => {
    const failed = await crictl('exec', '-s', containerId, 'echo', 'hi');
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain("command 'echo hi' exited with 3: err");
    const original = g.backend.execSync.bind(g.backend);
    g.backend.override('execSync', async (_id, cmd) => ({
      stdout: Buffer.from(`${cmd.slice(1).join(' ')}\n`),
      stderr: Buffer.alloc(0),
      exitCode: 0,
    }));
    try {
      expect(await ok('exec', '-s', containerId, 'echo', 'hello', 'world')).toBe('hello world');
    } finally {
      g.backend.override('execSync', original);
    }
  });

  it('stats and statsp', async () => {
    const stats = await ok('stats');
    expect(stats.split('\n')[1]).toMatch(new RegExp(`^${containerId.slice(0, 13)}\\s+server\\s+`));
    const statsp = await ok('statsp');
    expect(statsp).toContain('nginx');
  });

  it('update sends validated resources', async () => {
    await ok('update', '--cpu-share', '512', '--memory', '67108864', containerId);
    const [, update] = g.backend.callsTo('updateContainerResources')[0]!.args as [
      string,
      { linux: LinuxResources },
    ];
    expect(update.linux).toMatchObject({ cpuShares: 512, memoryLimitBytes: 67108864 });
    const bad = await crictl('update', '--cpu-share', '1', containerId);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('linux.cpu_shares');
  });

  it('stop, rm, stopp, rmp, rmi', async () => {
    await ok('stop', '--timeout', '7', containerId);
    expect(g.backend.callsTo('stopContainer').at(-1)!.args).toEqual([containerId, 7]);
    await ok('rm', containerId);
    await ok('stopp', podId);
    await ok('rmp', podId);
    await ok('rmi', 'busybox:1.36');
    expect(await ok('images', '-q')).toBe('');
  });

  it('events streams what the backend emits', async () => {
    const child = spawn(CRICTL, [
      '--config',
      config,
      'events',
      '-o',
      'go-template',
      '--template',
      '{{.containerId}} {{.containerEventType}}\n',
    ]);
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise((r) => child.on('exit', r));
    try {
      await g.backend.waitForSubscribers(1);
      g.backend.emit({ containerId: 'c-77', type: 'started', createdAt: 1n, containersStatuses: [] });
      await expect.poll(() => out, { timeout: 10_000 }).toContain('c-77 CONTAINER_STARTED_EVENT');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
