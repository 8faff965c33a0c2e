/**
 * The real crictl v1.36 (built by the setup script into .tools/bin) against the gateway over
 * the fake backend: checks that what crictl prints is what the backend holds.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileCapture, type ExecResult } from '../../src/common/exec.js';
import type { CreateContainerResponse__Output } from '../../src/cri/generated/runtime/v1/CreateContainerResponse.js';
import type { RunPodSandboxResponse__Output } from '../../src/cri/generated/runtime/v1/RunPodSandboxResponse.js';
import { rpc, startGateway, type Gateway } from './harness.js';
import { containerConfig, podConfig } from './requests.js';

const CRICTL = join(process.cwd(), '.tools/bin/crictl');

let g: Gateway;
let config: string;
let podId: string;
let containerId: string;

async function crictl(...args: string[]): Promise<ExecResult> {
  return execFileCapture(CRICTL, ['--config', config, ...args], { timeoutMs: 30_000 });
}

async function ok(...args: string[]): Promise<string> {
  const r = await crictl(...args);
  expect(r.code, `crictl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
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

  const pod = podConfig();
  pod.metadata = { name: 'web', uid: 'uid-web', namespace: 'shop', attempt: 2 };
  podId = (await rpc<RunPodSandboxResponse__Output>((cb) => g.runtime.RunPodSandbox({ config: pod }, cb)))
    .pod_sandbox_id;
  const container = containerConfig();
  container.labels = { 'io.kubernetes.pod.name': 'web', 'io.kubernetes.pod.namespace': 'shop' };
  containerId = (
    await rpc<CreateContainerResponse__Output>((cb) =>
      g.runtime.CreateContainer({ pod_sandbox_id: podId, config: container }, cb),
    )
  ).container_id;
  await rpc((cb) => g.runtime.StartContainer({ container_id: containerId }, cb));
  await rpc((cb) => g.image.PullImage({ image: { image: 'busybox:1.36' } }, cb));
});

afterAll(async () => {
  await g?.close();
});

describe('crictl v1.36 against the gateway', () => {
  it('version', async () => {
    const out = await ok('version');
    expect(out).toMatch(/RuntimeName:\s+berth/);
    expect(out).toMatch(/RuntimeVersion:\s+9\.9\.9-test/);
    expect(out).toMatch(/RuntimeApiVersion:\s+v1/);
  });

  it('info', async () => {
    const info = JSON.parse(await ok('info')) as {
      status: { conditions: { type: string; status: boolean; reason: string }[] };
      runtimeHandlers: { name: string }[];
      config: { root: string };
    };
    expect(info.status.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['RuntimeReady', true, ''],
      ['NetworkReady', false, 'NetworkPluginNotReady'],
    ]);
    expect(info.runtimeHandlers.map((h) => h.name)).toEqual(['runc']);
    expect(info.config).toEqual({ root: '/tmp/fake' });
  });

  it('pods', async () => {
    const lines = (await ok('pods')).trim().split('\n');
    expect(lines[0]).toMatch(/^POD ID\s+CREATED\s+STATE\s+NAME\s+NAMESPACE\s+ATTEMPT\s+RUNTIME/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(
      new RegExp(`^${podId.slice(0, 13)}\\s+.*Ready\\s+web\\s+shop\\s+2\\s+\\(default\\)`),
    );
    expect((await ok('pods', '-q')).trim()).toBe(podId);
    expect((await ok('pods', '-q', '--state', 'notready')).trim()).toBe('');
  });

  it('ps', async () => {
    const lines = (await ok('ps')).trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(
      new RegExp(
        `^${containerId.slice(0, 13)}\\s+busybox:latest\\s+.*Running\\s+app\\s+1\\s+${podId.slice(0, 13)}\\s+web\\s+shop`,
      ),
    );
    expect((await ok('ps', '-q', '--pod', podId)).trim()).toBe(containerId);
    expect((await ok('ps', '-q', '--state', 'exited')).trim()).toBe('');
  });

  it('images', async () => {
    const lines = (await ok('images')).trim().split('\n');
    expect(lines[0]).toMatch(/^IMAGE\s+TAG\s+IMAGE ID\s+SIZE/);
    expect(lines[1]).toMatch(/^busybox\s+1\.36\s+[0-9a-f]{13}\s+1\.23MB/);
  });

  it('inspectp, inspect and imagefsinfo print the backend state', async () => {
    const pod = JSON.parse(await ok('inspectp', podId.slice(0, 10))) as {
      status: { id: string; state: string };
    };
    expect(pod.status).toMatchObject({ id: podId, state: 'SANDBOX_READY' });
    const container = JSON.parse(await ok('inspect', containerId)) as { status: { state: string } };
    expect(container.status.state).toBe('CONTAINER_RUNNING');
    const fs = JSON.parse(await ok('imagefsinfo')) as {
      status: { imageFilesystems: { fsId: { mountpoint: string } }[] };
    };
    expect(fs.status.imageFilesystems[0]!.fsId.mountpoint).toBe('/var/lib/berth/content');
  });

  it('reports NotFound for an unknown container', async () => {
    const r = await crictl('inspect', 'ffffffffffff');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/NotFound/);
    expect(r.stderr).toContain('ffffffffffff');
  });

  // Last: it empties the backend.
  it('stopp and rmp remove the pod and its containers', async () => {
    await ok('stopp', podId);
    expect((await ok('pods', '-q', '--state', 'notready')).trim()).toBe(podId);
    await ok('rmp', podId);
    expect((await ok('pods', '-q')).trim()).toBe('');
    expect((await ok('ps', '-qa')).trim()).toBe('');
  });
});
