import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeSandboxConfig, type SandboxConfig } from '../../src/sandbox/config.js';
import { SandboxFiles, renderHosts, renderResolvConf } from '../../src/sandbox/files.js';

const base: SandboxConfig = {
  metadata: { name: 'web', uid: 'uid-1', namespace: 'default', attempt: 0 },
  hostname: 'web-0',
};

function withConfig(patch: Partial<SandboxConfig>): SandboxConfig {
  return { ...base, ...patch };
}

describe('sandbox config validation', () => {
  it('accepts a full valid config and fills defaults', () => {
    const n = normalizeSandboxConfig(
      withConfig({
        dnsConfig: {
          servers: ['10.96.0.10', 'fd00::a'],
          searches: ['default.svc.cluster.local', 'cluster.local.'],
          options: ['ndots:5', 'edns0'],
        },
        portMappings: [
          { protocol: 'TCP', containerPort: 80, hostPort: 8080 },
          { protocol: 'UDP', containerPort: 53 },
        ],
        linux: {
          resources: { cpuShares: 512, memoryLimitBytes: 1 << 26 },
          namespaceOptions: { ipc: 'node' },
        },
      }),
    );
    expect(n.hostname).toBe('web-0');
    expect(n.hostNetwork).toBe(false);
    expect(n.hostIpc).toBe(true);
    expect(n.portMappings).toEqual([
      { protocol: 'TCP', containerPort: 80, hostPort: 8080, hostIp: '' },
      { protocol: 'UDP', containerPort: 53, hostPort: 0, hostIp: '' },
    ]);
    expect(normalizeSandboxConfig({ ...base, hostname: undefined }).hostname).toBe('web');
  });

  const rejects: [string, SandboxConfig, RegExp][] = [
    [
      'hostname with an underscore',
      withConfig({ hostname: 'bad_host' }),
      /^hostname "bad_host" is invalid: label "bad_host"/,
    ],
    ['hostname starting with a hyphen', withConfig({ hostname: '-x' }), /^hostname "-x"/],
    ['hostname longer than 64', withConfig({ hostname: 'a'.repeat(65) }), /^hostname .* 1-64 characters/],
    ['hostname with an empty label', withConfig({ hostname: 'a..b' }), /^hostname "a..b"/],
    [
      'DNS server not an IP',
      withConfig({ dnsConfig: { servers: ['dns.example'] } }),
      /^dnsConfig.servers\[0\] "dns.example"/,
    ],
    [
      'four DNS servers',
      withConfig({ dnsConfig: { servers: ['1.1.1.1', '1.1.1.2', '1.1.1.3', '1.1.1.4'] } }),
      /^dnsConfig.servers .*at most 3/,
    ],
    [
      'DNS option with a space',
      withConfig({ dnsConfig: { options: ['ndots 5'] } }),
      /^dnsConfig.options\[0\] "ndots 5"/,
    ],
    [
      'DNS option injecting a line',
      withConfig({ dnsConfig: { options: ['edns0\nnameserver 6.6.6.6'] } }),
      /^dnsConfig.options\[0\]/,
    ],
    [
      'DNS option with an empty value',
      withConfig({ dnsConfig: { options: ['ndots:'] } }),
      /^dnsConfig.options\[0\] "ndots:"/,
    ],
    [
      'search domain with a slash',
      withConfig({ dnsConfig: { searches: ['a/b'] } }),
      /^dnsConfig.searches\[0\] "a\/b"/,
    ],
    [
      'container port 0',
      withConfig({ portMappings: [{ protocol: 'TCP', containerPort: 0 }] }),
      /^portMappings\[0\].containerPort 0/,
    ],
    [
      'container port 65536',
      withConfig({ portMappings: [{ protocol: 'TCP', containerPort: 65536 }] }),
      /^portMappings\[0\].containerPort 65536/,
    ],
    [
      'host port 70000',
      withConfig({ portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: 70000 }] }),
      /^portMappings\[0\].hostPort 70000/,
    ],
    [
      'negative host port',
      withConfig({ portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: -1 }] }),
      /^portMappings\[0\].hostPort -1/,
    ],
    [
      'fractional port',
      withConfig({ portMappings: [{ protocol: 'TCP', containerPort: 80.5 }] }),
      /^portMappings\[0\].containerPort 80.5/,
    ],
    [
      'unknown protocol',
      withConfig({ portMappings: [{ protocol: 'ICMP' as 'TCP', containerPort: 80 }] }),
      /^portMappings\[0\].protocol "ICMP"/,
    ],
    [
      'bad host IP',
      withConfig({ portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: 80, hostIp: '1.2.3' }] }),
      /^portMappings\[0\].hostIp "1.2.3"/,
    ],
    [
      'the same host port twice',
      withConfig({
        portMappings: [
          { protocol: 'TCP', containerPort: 80, hostPort: 8080 },
          { protocol: 'tcp' as 'TCP', containerPort: 81, hostPort: 8080 },
        ],
      }),
      /^portMappings\[1\].hostPort 8080 .*mapped twice/,
    ],
    ['pod name with ;', { ...base, metadata: { ...base.metadata, name: 'a;b' } }, /^metadata.name "a;b"/],
    ['empty uid', { ...base, metadata: { ...base.metadata, uid: '' } }, /^metadata.uid ""/],
    ['negative attempt', { ...base, metadata: { ...base.metadata, attempt: -1 } }, /^metadata.attempt -1/],
    [
      'cpu shares too small',
      withConfig({ linux: { resources: { cpuShares: 1 } } }),
      /^resources.cpuShares 1/,
    ],
    ['relative log directory', withConfig({ logDirectory: 'logs/pod' }), /^logDirectory "logs\/pod"/],
    [
      'log directory with ..',
      withConfig({ logDirectory: '/var/log/pods/../../etc' }),
      /^logDirectory .*absolute path without/,
    ],
    [
      'network namespace mode container',
      withConfig({ linux: { namespaceOptions: { network: 'container' } } }),
      /^linux.namespaceOptions.network/,
    ],
  ];
  for (const [name, config, message] of rejects) {
    it(`rejects ${name} with an invalid_argument error naming the field`, () => {
      let caught: unknown;
      try {
        normalizeSandboxConfig(config);
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(message) });
    });
  }

  it('pid mode POD asks for a pod-shared PID namespace; NODE for the host one; CONTAINER for neither', () => {
    const pid = (mode: 'pod' | 'node' | 'container') =>
      normalizeSandboxConfig(withConfig({ linux: { namespaceOptions: { pid: mode } } }));
    expect(pid('pod')).toMatchObject({ podPid: true, hostPid: false });
    expect(pid('node')).toMatchObject({ podPid: false, hostPid: true });
    expect(pid('container')).toMatchObject({ podPid: false, hostPid: false });
  });

  it('host networking requires hostPort to equal containerPort', () => {
    expect(() =>
      normalizeSandboxConfig(
        withConfig({
          linux: { namespaceOptions: { network: 'node' } },
          portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: 81 }],
        }),
      ),
    ).toThrow(/hostPort must equal containerPort/);
  });
});

describe('sandbox files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-files-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('renders resolv.conf from search, servers and options', () => {
    expect(
      renderResolvConf({
        servers: ['10.96.0.10'],
        searches: ['ns.svc.cluster.local', 'cluster.local'],
        options: ['ndots:5'],
      }),
    ).toBe('search ns.svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n');
    expect(renderResolvConf({})).toBe('');
  });

  it('renders hosts with localhost and the pod addresses', () => {
    const hosts = renderHosts('web-0', ['10.1.0.5']);
    expect(hosts.startsWith('127.0.0.1\tlocalhost\n')).toBe(true);
    expect(hosts.endsWith('10.1.0.5\tweb-0\n')).toBe(true);
  });

  it('writes hostname, resolv.conf and hosts and removes them idempotently', async () => {
    const files = new SandboxFiles();
    const sb = path.join(dir, 'sb1');
    const p = await files.write(sb, {
      hostname: 'web-0',
      hostNetwork: false,
      dnsConfig: { servers: ['10.0.0.10'] },
      ips: ['10.1.0.7'],
    });
    expect(await readFile(p.hostname, 'utf8')).toBe('web-0\n');
    expect(await readFile(p.resolvConf, 'utf8')).toBe('nameserver 10.0.0.10\n');
    expect(await readFile(p.hosts, 'utf8')).toContain('10.1.0.7\tweb-0\n');
    await files.remove(sb);
    await files.remove(sb);
    expect(await readdir(sb)).toEqual([]);
  });

  it('copies the host files for host networking and when no DNS config is given', async () => {
    const hostResolv = path.join(dir, 'host-resolv.conf');
    const hostHosts = path.join(dir, 'host-hosts');
    await writeFile(hostResolv, 'nameserver 192.0.2.1\n');
    await writeFile(hostHosts, '127.0.0.1 localhost\n192.0.2.9 node\n');
    const files = new SandboxFiles({ resolvConf: hostResolv, hosts: hostHosts });
    const p = await files.write(path.join(dir, 'sb2'), { hostname: 'ignored', hostNetwork: true });
    expect(await readFile(p.resolvConf, 'utf8')).toBe('nameserver 192.0.2.1\n');
    expect(await readFile(p.hosts, 'utf8')).toBe('127.0.0.1 localhost\n192.0.2.9 node\n');
    expect(await readFile(p.hostname, 'utf8')).toBe(`${os.hostname()}\n`);
  });
});
