/**
 * `berth images`, `berth ps` and `berth pods` against a real berthd holding records in two
 * namespaces: `default` (the CLI's) and `k8s.io` (the CRI's). One namespace at a time, `default`
 * unless -n names another; -A lists both with a NAMESPACE column first; -n with -A is a usage error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerStatus } from '../../src/daemon/containers.js';
import type { SandboxView } from '../../src/daemon/sandboxes.js';
import type { ImageRecord } from '../../src/events/projections/state.js';
import { runCli } from '../helpers/berthd.js';
import { startContainerEnv, type ContainerEnv } from '../containers/support.js';
import { pullViaApi } from '../images/support.js';

const CRI = 'k8s.io';
let env: ContainerEnv;
let criOnly: string;
const made: { containers: string[]; pods: string[] } = { containers: [], pods: [] };
const cli = (...args: string[]) => runCli(env.berthd.socket, args);
const rowsOf = (stdout: string) => stdout.trimEnd().split('\n').slice(1);
const headerOf = (stdout: string) => stdout.split('\n')[0]!;

const hostPod = (name: string) => ({
  metadata: { name, namespace: 'ns-test', uid: `uid-${name}`, attempt: 0 },
  // Host networking: no CNI network is needed for a listing.
  linux: { namespaceOptions: { network: 'node' } },
});

beforeAll(async () => {
  env = await startContainerEnv();
  const api = env.berthd.client;
  // The same image in both namespaces (as after `berth pull` and a kubelet pull), and one more
  // name in k8s.io only.
  for (const namespace of ['default', CRI]) {
    const pulled = await pullViaApi(api, env.image, { namespace });
    expect(pulled.error).toBeUndefined();
  }
  criOnly = `${env.reg.host}/test/cri-only:1`;
  await api.post(`/v1/images/${encodeURIComponent(env.image)}/tag`, { target: criOnly, namespace: CRI });
  for (const [name, namespace] of [
    ['ns-cli-ctr', 'default'],
    ['ns-cri-ctr', CRI],
  ] as const) {
    const c = await api.post<ContainerStatus>('/v1/containers', {
      name,
      image: env.image,
      namespace,
      args: ['true'],
    });
    made.containers.push(c.id);
  }
  for (const [name, namespace] of [
    ['ns-cli-pod', 'default'],
    ['ns-cri-pod', CRI],
  ] as const) {
    const sb = await api.post<SandboxView>('/v1/sandboxes', { config: hostPod(name), namespace });
    made.pods.push(sb.id);
  }
}, 180_000);

afterAll(async () => {
  if (!env) return;
  try {
    for (const id of made.containers) await env.berthd.client.delete(`/v1/containers/${id}?force=true`);
    for (const id of made.pods) await env.berthd.client.delete(`/v1/sandboxes/${id}`);
  } finally {
    // Stops berthd, sweeps what a failed test left (conmons, mounts), removes the roots and registry.
    await env.cleanup();
  }
}, 60_000);

describe('berth images', () => {
  it('lists the namespace default by default: the image once, not the k8s.io-only one', async () => {
    const r = await cli('images');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(headerOf(r.stdout)).toMatch(/^NAME\s+IMAGE ID/);
    const rows = rowsOf(r.stdout);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain(env.image);
    expect(r.stdout).not.toContain(criOnly);
  });

  it('-n k8s.io lists what the CRI namespace has', async () => {
    const r = await cli('images', '-n', CRI);
    expect(r.code).toBe(0);
    const rows = rowsOf(r.stdout);
    expect(rows).toHaveLength(2);
    expect(r.stdout).toContain(criOnly);
    expect(r.stdout).toContain(env.image);
  });

  it('-A lists both namespaces with a NAMESPACE column first; --json -A is every record', async () => {
    const r = await cli('images', '-A');
    expect(r.code).toBe(0);
    expect(headerOf(r.stdout)).toMatch(/^NAMESPACE\s+NAME\s+IMAGE ID/);
    const rows = rowsOf(r.stdout).map((l) => l.split(/\s+/).slice(0, 2));
    expect(rows).toHaveLength(3);
    expect(rows).toEqual(
      expect.arrayContaining([
        ['default', env.image],
        [CRI, env.image],
        [CRI, criOnly],
      ]),
    );
    const json = JSON.parse((await cli('images', '--all-namespaces', '--json')).stdout) as ImageRecord[];
    expect(json.map((i) => [i.namespace, i.name]).sort()).toEqual(
      [
        ['default', env.image],
        [CRI, env.image],
        [CRI, criOnly],
      ].sort(),
    );
    const defaultJson = JSON.parse((await cli('images', '--json')).stdout) as ImageRecord[];
    expect(defaultJson.map((i) => [i.namespace, i.name])).toEqual([['default', env.image]]);
  });

  it('refuses -n with -A: exit 2 and a message naming both flags', async () => {
    const r = await cli('images', '-n', CRI, '-A');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'berth: berth images: --namespace and --all-namespaces cannot be used together (give one)\n',
    );
  });
});

describe('berth ps', () => {
  it('lists one namespace: default by default, another with -n, both with -A', async () => {
    const mine = await cli('ps', '-a');
    expect(mine.code).toBe(0);
    expect(rowsOf(mine.stdout)).toHaveLength(1);
    expect(mine.stdout).toContain('ns-cli-ctr');
    expect(mine.stdout).not.toContain('ns-cri-ctr');

    const cri = await cli('ps', '-a', '--namespace', CRI);
    expect(rowsOf(cri.stdout)).toHaveLength(1);
    expect(cri.stdout).toContain('ns-cri-ctr');
    expect(cri.stdout).not.toContain('ns-cli-ctr');

    const all = await cli('ps', '-a', '-A');
    expect(headerOf(all.stdout)).toMatch(/^NAMESPACE\s+CONTAINER ID/);
    expect(
      rowsOf(all.stdout)
        .map((l) => l.split(/\s+/)[0])
        .sort(),
    ).toEqual(['default', CRI]);
    const json = JSON.parse((await cli('ps', '-a', '-A', '--json')).stdout) as ContainerStatus[];
    expect(json.map((c) => [c.namespace, c.name]).sort()).toEqual([
      ['default', 'ns-cli-ctr'],
      [CRI, 'ns-cri-ctr'],
    ]);
  });

  it('refuses -n with -A', async () => {
    const r = await cli('ps', '-A', '-n', 'default');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--namespace and --all-namespaces cannot be used together');
  });
});

describe('berth pods', () => {
  it('lists one namespace: default by default, another with -n, both with -A', async () => {
    const mine = await cli('pods');
    expect(mine.code).toBe(0);
    expect(headerOf(mine.stdout)).toMatch(/^POD ID\s+NAME/);
    expect(rowsOf(mine.stdout)).toHaveLength(1);
    expect(mine.stdout).toContain('ns-cli-pod');
    expect(mine.stdout).not.toContain('ns-cri-pod');

    const cri = await cli('pods', '-n', CRI);
    expect(rowsOf(cri.stdout)).toHaveLength(1);
    expect(cri.stdout).toContain('ns-cri-pod');

    const all = await cli('pods', '--all-namespaces');
    expect(headerOf(all.stdout)).toMatch(/^NAMESPACE\s+POD ID/);
    const nsAndName = rowsOf(all.stdout).map((l) => {
      const [ns, , name] = l.split(/\s+/);
      return [ns, name];
    });
    expect(nsAndName.sort()).toEqual([
      ['default', 'ns-cli-pod'],
      [CRI, 'ns-cri-pod'],
    ]);
    expect(rowsOf(all.stdout)).toHaveLength(2);
    const json = JSON.parse((await cli('pods', '-A', '--json')).stdout) as SandboxView[];
    expect(json.map((s) => s.namespace).sort()).toEqual(['default', CRI]);
  });

  it('refuses -n with -A', async () => {
    const r = await cli('pods', '-n', CRI, '--all-namespaces');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--namespace and --all-namespaces cannot be used together');
  });
});
