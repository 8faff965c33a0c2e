// The listings' namespace flags against a stand-in API client: which namespace each command asks
// berthd for (the query it sends), the NAMESPACE column with -A, --json unchanged, -n with -A refused.
import { describe, expect, it } from 'vitest';
import type { ApiClient } from '../../src/api/client.js';
import { BerthError } from '../../src/common/errors.js';
import type { Command } from '../../src/cli/command.js';
import { psCommand } from '../../src/cli/commands/containers.js';
import { imagesCommand } from '../../src/cli/commands/images.js';
import { podsCommand } from '../../src/cli/commands/pods.js';

/** A client whose GETs answer `records` filtered as berthd does (no ?namespace=: every namespace). */
function fakeClient(records: { namespace: string }[]) {
  const requests: URL[] = [];
  const client = {
    async get(path: string, query?: Record<string, string | undefined>) {
      const url = new URL(path, 'http://berthd');
      for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
      requests.push(url);
      const ns = url.searchParams.get('namespace');
      return records.filter((r) => ns === null || r.namespace === ns);
    },
  };
  return { client: client as unknown as ApiClient, requests };
}

async function run(command: Command, argv: string[], records: { namespace: string }[]) {
  const { client, requests } = fakeClient(records);
  const lines: string[] = [];
  const code = await command.run(argv, { client, out: (t) => lines.push(t) });
  return { code, stdout: lines.join('\n'), requests };
}

const image = (namespace: string, name: string) => ({
  namespace,
  name,
  target: { digest: `sha256:${'a'.repeat(64)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
  labels: {},
  configDigest: `sha256:${'b'.repeat(64)}`,
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:00.000Z',
});
const IMAGES = [
  image('default', '127.0.0.1:5000/tiny:1'),
  image('k8s.io', '127.0.0.1:5000/tiny:1'),
  image('k8s.io', '127.0.0.1:5000/only-cri:1'),
];

const container = (namespace: string, id: string, name: string) => ({
  namespace,
  id,
  name,
  image: '127.0.0.1:5000/tiny:1',
  state: 'running',
  createdAt: new Date().toISOString(),
  pid: 42,
});
const CONTAINERS = [
  container('default', 'c0ffee000000000000000001', 'cli-made'),
  container('k8s.io', 'c0ffee000000000000000002', 'cri-made'),
];

const pod = (namespace: string, id: string, name: string) => ({
  namespace,
  id,
  name,
  metadata: { name, namespace: 'kube-system', uid: `uid-${name}`, attempt: 0 },
  state: 'ready',
  ips: [],
  namespaces: {},
  labels: {},
  createdAt: '2025-01-01T00:00:00.000Z',
});
const PODS = [
  pod('default', 'feed00000000000000000001', 'cli-pod'),
  pod('k8s.io', 'feed00000000000000000002', 'cri-pod'),
];

const lines = (text: string) => text.split('\n');

describe.each([
  { command: imagesCommand, records: IMAGES, path: '/v1/images', mine: 'tiny:1', other: 'only-cri:1' },
  { command: psCommand, records: CONTAINERS, path: '/v1/containers', mine: 'cli-made', other: 'cri-made' },
  { command: podsCommand, records: PODS, path: '/v1/sandboxes', mine: 'cli-pod', other: 'cri-pod' },
])('berth $command.name', ({ command, records, path, mine, other }) => {
  it('lists the namespace default without flags, with no NAMESPACE column', async () => {
    const r = await run(command, [], records);
    expect(r.code).toBe(0);
    expect(r.requests).toHaveLength(1);
    expect(r.requests[0]!.pathname).toBe(path);
    expect(r.requests[0]!.searchParams.getAll('namespace')).toEqual(['default']);
    expect(r.stdout).toContain(mine);
    expect(r.stdout).not.toContain(other);
    expect(lines(r.stdout)[0]!.split(/\s{2,}/)).not.toContain('NAMESPACE');
    expect(lines(r.stdout)).toHaveLength(2); // header and the one record of default
  });

  it('-n and --namespace list that namespace only', async () => {
    for (const flags of [['-n', 'k8s.io'], ['--namespace', 'k8s.io'], ['--namespace=k8s.io']]) {
      const r = await run(command, flags, records);
      expect(r.code).toBe(0);
      expect(r.requests[0]!.searchParams.getAll('namespace')).toEqual(['k8s.io']);
      expect(r.stdout).toContain(other);
      const k8s = records.filter((x) => x.namespace === 'k8s.io').length;
      expect(lines(r.stdout)).toHaveLength(1 + k8s);
    }
  });

  it('-A and --all-namespaces list every namespace with NAMESPACE as the first column', async () => {
    for (const flag of ['-A', '--all-namespaces']) {
      const r = await run(command, [flag], records);
      expect(r.code).toBe(0);
      expect(r.requests[0]!.searchParams.has('namespace')).toBe(false);
      const [header, ...rows] = lines(r.stdout);
      expect(header).toMatch(/^NAMESPACE\s/);
      expect(rows).toHaveLength(records.length);
      // Each row starts with its record's namespace, in the order berthd gave them.
      expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(records.map((x) => x.namespace));
      expect(r.stdout).toContain(mine);
      expect(r.stdout).toContain(other);
    }
  });

  it('--json follows the same filter: one namespace by default, every record (each with its namespace) with -A', async () => {
    const one = await run(command, ['--json'], records);
    expect(JSON.parse(one.stdout)).toEqual(records.filter((x) => x.namespace === 'default'));
    const all = await run(command, ['--json', '-A'], records);
    expect(JSON.parse(all.stdout)).toEqual(records);
    const cri = await run(command, ['--json', '-n', 'k8s.io'], records);
    expect(JSON.parse(cri.stdout)).toEqual(records.filter((x) => x.namespace === 'k8s.io'));
  });

  it('refuses -n with -A as a usage error, before asking berthd anything', async () => {
    for (const flags of [
      ['-n', 'k8s.io', '-A'],
      ['--all-namespaces', '--namespace', 'default'],
    ]) {
      const { client, requests } = fakeClient(records);
      const err = await command.run(flags, { client, out: () => {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BerthError);
      expect(err).toMatchObject({
        code: 'invalid_argument',
        message: `berth ${command.name}: --namespace and --all-namespaces cannot be used together (give one)`,
      });
      expect(requests).toHaveLength(0);
    }
  });

  it('refuses an empty --namespace rather than listing every namespace', async () => {
    const { client, requests } = fakeClient(records);
    await expect(command.run(['--namespace='], { client, out: () => {} })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: `berth ${command.name}: --namespace needs a name`,
    });
    expect(requests).toHaveLength(0);
  });

  it('says so in its usage', () => {
    expect(command.usage).toContain('--namespace NS | --all-namespaces');
    expect(command.usage).toMatch(/-A, --all-namespaces/);
  });
});

describe('berth ps -q -A', () => {
  it('prints every namespace’s container ids, without a column', async () => {
    const r = await run(psCommand, ['-q', '-A'], CONTAINERS);
    expect(r.stdout).toBe(CONTAINERS.map((c) => c.id).join('\n'));
  });
});
