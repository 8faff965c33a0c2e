import { describe, expect, it } from 'vitest';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../src/common/errors.js';
import {
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  resolveCapabilities,
} from '../../src/runtime/spec-capabilities.js';
import {
  capabilitiesFromMask,
  parseCapabilityStatus,
  hugetlbAvailable,
  parseHardLimits,
  type HostFacts,
} from '../../src/runtime/host.js';
import { mergeEnv, resolveArgs, resolveUser } from '../../src/runtime/spec-process.js';
import { generateSpec, type ContainerRequest, type SpecInputs } from '../../src/runtime/spec.js';
import { defaultSeccompProfile } from '../../src/runtime/spec-seccomp.js';

const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n';
const GROUP = 'root:x:0:\nnogroup:x:65534:\napp:x:1000:\naudio:x:29:app,other\nvideo:x:44:app\n';

const host: HostFacts = {
  boundingCapabilities: capabilitiesFromMask('000001fffeffffff'),
  canLowerOomScoreAdj: false,
  ownOomScoreAdj: 0,
  hardRlimits: new Map([['RLIMIT_NOFILE', 20000]]),
  canRaiseRlimits: false,
  arch: 'x86_64',
  hugetlbController: true,
};
const inputs: SpecInputs = { passwd: PASSWD, group: GROUP, devices: [] };

function request(extra: Partial<ContainerRequest> = {}): ContainerRequest {
  return {
    id: 'c1',
    rootfsPath: '/tmp/rootfs',
    cgroupParent: '/berth/pod1',
    image: { cmd: ['sh'] },
    ...extra,
  };
}

describe('argv merging (kubelet/Docker rules)', () => {
  const image = { entrypoint: ['/entry'], cmd: ['--default'] };
  it('uses entrypoint + cmd when the request gives neither', () => {
    expect(resolveArgs({}, image)).toEqual(['/entry', '--default']);
  });
  it('request args replace cmd but keep the entrypoint', () => {
    expect(resolveArgs({ args: ['x'] }, image)).toEqual(['/entry', 'x']);
  });
  it('request command replaces the entrypoint and drops the image cmd', () => {
    expect(resolveArgs({ command: ['/bin/echo'] }, image)).toEqual(['/bin/echo']);
  });
  it('request command and args are concatenated', () => {
    expect(resolveArgs({ command: ['/bin/echo'], args: ['hi'] }, image)).toEqual(['/bin/echo', 'hi']);
  });
  it('no command anywhere is an InvalidArgument naming the field', () => {
    expect(() => resolveArgs({}, {})).toThrow(InvalidArgumentError);
    expect(() => resolveArgs({}, {})).toThrow(/command/);
  });
});

describe('environment', () => {
  it('request overrides image by key, PATH and HOME are defaulted', () => {
    const env = mergeEnv(['A=1', 'B=2'], [{ key: 'B', value: 'x=y' }], '/home/app');
    expect(env).toEqual([
      'A=1',
      'B=x=y',
      `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      'HOME=/home/app',
    ]);
  });
  it('keeps the image PATH', () => {
    expect(mergeEnv(['PATH=/opt/bin'], [], '/')).toContain('PATH=/opt/bin');
  });
  it('rejects a variable name with =', () => {
    expect(() => mergeEnv([], [{ key: 'A=B', value: '' }], '/')).toThrow(/env\[0\]/);
  });
});

describe('user resolution', () => {
  it('resolves a name with its primary and supplementary groups', () => {
    expect(resolveUser('app', PASSWD, GROUP)).toEqual({
      uid: 1000,
      gid: 1000,
      additionalGids: [29, 44],
      home: '/home/app',
    });
  });
  it('accepts uid:gid without passwd entries', () => {
    expect(resolveUser('4242:4343', '', '')).toEqual({ uid: 4242, gid: 4343, additionalGids: [], home: '/' });
  });
  it('resolves name:group from /etc/group and adds requested groups', () => {
    expect(resolveUser('app:audio', PASSWD, GROUP, [7])).toMatchObject({
      uid: 1000,
      gid: 29,
      additionalGids: [7, 44],
    });
  });
  it("the strict groups policy leaves out the image's /etc/group memberships (KEP-3619)", () => {
    expect(resolveUser('1000', PASSWD, GROUP, [60000], 'strict')).toMatchObject({
      uid: 1000,
      gid: 1000,
      additionalGids: [60000],
    });
    expect(resolveUser('1000', PASSWD, GROUP, [60000], 'merge')).toMatchObject({
      additionalGids: [29, 44, 60000],
    });
  });
  it('defaults to root', () => {
    expect(resolveUser(undefined, PASSWD, GROUP)).toMatchObject({ uid: 0, gid: 0, home: '/root' });
  });
  it('a missing user name is a NotFound naming the user', () => {
    expect(() => resolveUser('ghost', PASSWD, GROUP)).toThrow(NotFoundError);
    expect(() => resolveUser('ghost', PASSWD, GROUP)).toThrow(/"ghost"/);
  });
  it('a missing group name is a NotFound naming the group', () => {
    expect(() => resolveUser('app:ghosts', PASSWD, GROUP)).toThrow(/group "ghosts"/);
  });
});

describe('capabilities', () => {
  it('gives the default set', () => {
    expect(new Set(resolveCapabilities(undefined, host.boundingCapabilities))).toEqual(
      new Set(DEFAULT_CAPABILITIES),
    );
  });
  it('adds and drops with or without the CAP_ prefix', () => {
    const caps = resolveCapabilities(
      { add: ['net_admin'], drop: ['CAP_CHOWN', 'kill'] },
      host.boundingCapabilities,
    );
    expect(caps).toContain('CAP_NET_ADMIN');
    expect(caps).not.toContain('CAP_CHOWN');
    expect(caps).not.toContain('CAP_KILL');
  });
  it('drop ALL then add gives exactly the added ones', () => {
    expect(
      resolveCapabilities({ drop: ['ALL'], add: ['NET_BIND_SERVICE'] }, host.boundingCapabilities),
    ).toEqual(['CAP_NET_BIND_SERVICE']);
  });
  it('add ALL gives everything the host bounding set allows', () => {
    const caps = resolveCapabilities({ add: ['ALL'], drop: ['SYS_ADMIN'] }, host.boundingCapabilities);
    expect(caps).not.toContain('CAP_SYS_RESOURCE');
    expect(caps).not.toContain('CAP_SYS_ADMIN');
    expect(caps.length).toBe(ALL_CAPABILITIES.length - 2);
  });
  it('a capability the host lacks is a FailedPrecondition naming it', () => {
    expect(() => resolveCapabilities({ add: ['SYS_RESOURCE'] }, host.boundingCapabilities)).toThrow(
      FailedPreconditionError,
    );
    expect(() => resolveCapabilities({ add: ['SYS_RESOURCE'] }, host.boundingCapabilities)).toThrow(
      /CAP_SYS_RESOURCE/,
    );
  });
  it('an unknown capability is an InvalidArgument naming the field', () => {
    expect(() => resolveCapabilities({ drop: ['FLY'] }, host.boundingCapabilities)).toThrow(
      /capabilities.drop\[0\]/,
    );
  });
});

describe('seccomp default profile', () => {
  const names = (caps: string[]): string[] =>
    defaultSeccompProfile(caps, 'x86_64').syscalls.flatMap((s) => s.names);
  it('denies namespace and mount syscalls with EPERM, allows the rest', () => {
    const p = defaultSeccompProfile(DEFAULT_CAPABILITIES, 'x86_64');
    expect(p.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(p.syscalls[0]).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 1 });
    expect(names([...DEFAULT_CAPABILITIES])).toEqual(
      expect.arrayContaining(['unshare', 'mount', 'keyctl', 'bpf', 'ptrace']),
    );
    expect(p.architectures).toContain('SCMP_ARCH_X86_64');
  });
  it('allows a group again when the container holds its capability', () => {
    expect(names(['CAP_SYS_ADMIN'])).not.toContain('mount');
    expect(names(['CAP_SYS_PTRACE'])).not.toContain('ptrace');
    expect(names(['CAP_SYS_ADMIN'])).toContain('keyctl');
  });
});

describe('generateSpec', () => {
  it('builds a complete spec with defaults', () => {
    const { spec, warnings } = generateSpec(request(), inputs, host);
    expect(warnings).toEqual([]);
    expect(spec.process.args).toEqual(['sh']);
    expect(spec.process.cwd).toBe('/');
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.root).toEqual({ path: '/tmp/rootfs', readonly: false });
    expect(spec.linux.cgroupsPath).toBe('/berth/pod1/c1');
    expect(spec.linux.namespaces.map((n) => n.type).sort()).toEqual([
      'ipc',
      'mount',
      'network',
      'pid',
      'uts',
    ]);
    expect(spec.mounts.map((m) => m.destination)).toEqual(
      expect.arrayContaining(['/proc', '/dev', '/dev/pts', '/dev/shm', '/sys', '/sys/fs/cgroup']),
    );
    expect(spec.linux.maskedPaths).toContain('/proc/kcore');
    expect(spec.linux.readonlyPaths).toContain('/proc/sys');
    expect(spec.linux.seccomp?.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(spec.linux.resources.devices).toEqual([{ allow: false, access: 'rwm' }]);
  });

  it('joins sandbox namespaces, shares the host where asked, and sets hostname only with its own UTS', () => {
    const { spec } = generateSpec(
      request({ namespaces: { network: '/run/netns/n1', ipc: '/run/ipc/1', uts: 'host' }, hostname: 'h' }),
      inputs,
      host,
    );
    expect(spec.linux.namespaces).toContainEqual({ type: 'network', path: '/run/netns/n1' });
    expect(spec.linux.namespaces).toContainEqual({ type: 'ipc', path: '/run/ipc/1' });
    expect(spec.linux.namespaces.some((n) => n.type === 'uts')).toBe(false);
    expect(spec.hostname).toBeUndefined();
    expect(generateSpec(request({ hostname: 'h' }), inputs, host).spec.hostname).toBe('h');
  });

  it('mounts binds with propagation, tmpfs and sandbox files, parents first', () => {
    const { spec } = generateSpec(
      request({
        binds: [
          { hostPath: '/data', containerPath: '/mnt/data/sub', readonly: true, propagation: 'rslave' },
          { hostPath: '/srv', containerPath: '/mnt/data' },
        ],
        tmpfs: [{ containerPath: '/run', sizeBytes: 1 << 20 }],
        sandboxFiles: {
          resolvConf: '/sb/resolv.conf',
          hosts: '/sb/hosts',
          hostname: '/sb/hostname',
          shm: '/sb/shm',
        },
      }),
      inputs,
      host,
    );
    const byDest = new Map(spec.mounts.map((m) => [m.destination, m]));
    expect(byDest.get('/mnt/data/sub')?.options).toEqual(['rbind', 'rslave', 'ro']);
    expect(byDest.get('/mnt/data')?.options).toEqual(['rbind', 'rprivate', 'rw']);
    expect(byDest.get('/run')).toMatchObject({
      type: 'tmpfs',
      options: expect.arrayContaining(['size=1048576']),
    });
    expect(byDest.get('/etc/resolv.conf')?.source).toBe('/sb/resolv.conf');
    expect(byDest.get('/dev/shm')).toMatchObject({ type: 'bind', source: '/sb/shm' });
    const order = spec.mounts.map((m) => m.destination);
    expect(order.indexOf('/mnt/data')).toBeLessThan(order.indexOf('/mnt/data/sub'));
    expect(spec.linux.rootfsPropagation).toBe('rslave');
  });

  it('maps resources and keeps them in the cgroup spec', () => {
    const { spec } = generateSpec(
      request({
        resources: {
          cpuShares: 512,
          cpuQuota: 50000,
          cpuPeriod: 100000,
          cpusetCpus: '0',
          memoryLimitBytes: 64 << 20,
          memorySwapLimitBytes: 64 << 20,
          pidsLimit: 20,
          hugepageLimits: [{ pageSize: '2MB', limitBytes: 0 }],
        },
      }),
      inputs,
      host,
    );
    expect(spec.linux.resources).toMatchObject({
      cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0' },
      memory: { limit: 64 << 20, swap: 64 << 20 },
      pids: { limit: 20 },
      hugepageLimits: [{ pageSize: '2MB', limit: 0 }],
    });
  });

  describe('hugepage limits without a hugetlb controller (hugetlb on the unified mount of a hybrid host)', () => {
    const noHugetlb: HostFacts = { ...host, hugetlbController: false };
    const zeroLimits = {
      hugepageLimits: [
        { pageSize: '2MB', limitBytes: 0 },
        { pageSize: '1GB', limitBytes: 0 },
      ],
    };

    it('leaves zero limits (what kubelet sends for every page size) out, with a warning', () => {
      const { spec, warnings } = generateSpec(
        request({ resources: { ...zeroLimits, pidsLimit: 20 } }),
        inputs,
        noHugetlb,
      );
      expect(spec.linux.resources.hugepageLimits).toBeUndefined();
      expect(spec.linux.resources.pids).toEqual({ limit: 20 });
      expect(warnings.join('\n')).toMatch(/hugepage limits \(2MB, 1GB, all 0\) left out/);
    });

    it('refuses a non-zero limit it could not enforce, naming the page size', () => {
      const run = (): unknown =>
        generateSpec(
          request({ resources: { hugepageLimits: [{ pageSize: '2MB', limitBytes: 4 << 20 }] } }),
          inputs,
          noHugetlb,
        );
      expect(run).toThrow(FailedPreconditionError);
      expect(run).toThrow(/2MB limit of 4194304 bytes cannot be set: this host has no hugetlb/);
    });

    it('keeps zero limits where the controller exists', () => {
      const { spec, warnings } = generateSpec(request({ resources: zeroLimits }), inputs, host);
      expect(spec.linux.resources.hugepageLimits).toEqual([
        { pageSize: '2MB', limit: 0 },
        { pageSize: '1GB', limit: 0 },
      ]);
      expect(warnings.join('\n')).not.toMatch(/hugepage/);
    });
  });

  it.each([
    [{ resources: { memoryLimitBytes: 1000 } }, /resources.memoryLimitBytes/],
    [{ resources: { memoryLimitBytes: 64 << 20, memorySwapLimitBytes: 1 << 20 } }, /memorySwapLimitBytes/],
    [{ resources: { cpuShares: 1 } }, /resources.cpuShares/],
    [{ resources: { cpuQuota: 5 } }, /resources.cpuQuota/],
    [{ resources: { cpusetCpus: 'all' } }, /resources.cpusetCpus/],
    [{ resources: { pidsLimit: -7 } }, /resources.pidsLimit/],
    [{ resources: { hugepageLimits: [{ pageSize: 'big', limitBytes: 1 }] } }, /pageSize/],
    [{ workingDir: 'relative/dir' }, /workingDir/],
    [{ binds: [{ hostPath: 'rel', containerPath: '/x' }] }, /binds\[0\].hostPath/],
    [{ binds: [{ hostPath: '/x', containerPath: '/a/../../etc' }] }, /binds\[0\].containerPath/],
    [{ tmpfs: [{ containerPath: 'tmp' }] }, /tmpfs\[0\].containerPath/],
    [{ sysctls: { 'kernel.panic': '1' } }, /kernel.panic/],
    [{ sysctls: { 'net.ipv4.ip_forward': '1' }, namespaces: { network: 'host' } }, /own network namespace/],
    [{ rlimits: [{ type: 'nofile', soft: 10, hard: 5 }] }, /soft limit/],
    [{ rlimits: [{ type: 'bogus', soft: 1, hard: 1 }] }, /rlimits\[0\].type/],
    [{ oomScoreAdj: 5000 }, /oomScoreAdj/],
    [{ id: '../evil' }, /id:/],
    [{ cgroupParent: 'relative' }, /cgroupParent/],
    [{ namespaces: { network: 'netns1' } }, /namespaces.network/],
  ] as [Partial<ContainerRequest>, RegExp][])(
    'rejects bad input %# with an InvalidArgument naming the field',
    (extra, field) => {
      const run = (): unknown => generateSpec(request(extra), inputs, host);
      expect(run).toThrow(InvalidArgumentError);
      expect(run).toThrow(field);
    },
  );

  it('accepts namespaced sysctls and normalises slashes', () => {
    const { spec } = generateSpec(
      request({ sysctls: { 'net/ipv4/ip_unprivileged_port_start': '0', 'kernel.shmmax': '1' } }),
      inputs,
      host,
    );
    expect(spec.linux.sysctl).toEqual({ 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shmmax': '1' });
  });

  it('refuses an rlimit above the host hard limit without CAP_SYS_RESOURCE', () => {
    expect(() =>
      generateSpec(request({ rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1, hard: 30000 }] }), inputs, host),
    ).toThrow(FailedPreconditionError);
    const { spec } = generateSpec(
      request({ rlimits: [{ type: 'nofile', soft: 1024, hard: 20000 }] }),
      inputs,
      host,
    );
    expect(spec.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 20000 }]);
  });

  it('clamps a negative oom_score_adj to the daemon value with a warning when the host forbids lowering it', () => {
    const clamped = generateSpec(request({ oomScoreAdj: -998 }), inputs, host);
    expect(clamped.spec.process.oomScoreAdj).toBe(0);
    expect(clamped.warnings[0]).toMatch(/-998 raised to 0/);
    const allowed = generateSpec(request({ oomScoreAdj: -998 }), inputs, {
      ...host,
      canLowerOomScoreAdj: true,
    });
    expect(allowed.spec.process.oomScoreAdj).toBe(-998);
    expect(allowed.warnings).toEqual([]);
    expect(generateSpec(request({ oomScoreAdj: 1000 }), inputs, host).spec.process.oomScoreAdj).toBe(1000);
  });

  it('sets user, read-only root, seccomp modes and capabilities from the request', () => {
    const { spec } = generateSpec(
      request({
        user: 'app',
        readonlyRootfs: true,
        seccomp: { kind: 'unconfined' },
        capabilities: { drop: ['ALL'] },
      }),
      inputs,
      host,
    );
    expect(spec.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [29, 44] });
    expect(spec.process.env).toContain('HOME=/home/app');
    expect(spec.root.readonly).toBe(true);
    expect(spec.linux.seccomp).toBeUndefined();
    expect(spec.process.capabilities?.bounding).toEqual([]);
  });

  it('adds device nodes and cgroup rules', () => {
    const { spec } = generateSpec(
      request(),
      {
        ...inputs,
        devices: [
          {
            hostPath: '/dev/fuse',
            containerPath: '/dev/fuse',
            type: 'c',
            major: 10,
            minor: 229,
            fileMode: 0o666,
            permissions: 'rw',
          },
        ],
      },
      host,
    );
    expect(spec.linux.devices).toEqual([
      { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 },
    ]);
    expect(spec.linux.resources.devices).toContainEqual({
      allow: true,
      type: 'c',
      major: 10,
      minor: 229,
      access: 'rw',
    });
  });
});

describe('host facts', () => {
  it('reads this machine-style bounding set without CAP_SYS_RESOURCE', () => {
    const caps = capabilitiesFromMask('000001fffeffffff');
    expect(caps.has('CAP_SYS_RESOURCE')).toBe(false);
    expect(caps.has('CAP_SYS_ADMIN')).toBe(true);
    expect(caps.has('CAP_CHECKPOINT_RESTORE')).toBe(true);
  });
  it('parses status and limits', () => {
    expect(parseCapabilityStatus('CapEff:\t00000000a80425fb\nCapBnd:\t000001ffffffffff\n')).toEqual({
      bounding: '000001ffffffffff',
      effective: '00000000a80425fb',
    });
    const limits = parseHardLimits(
      'Max open files            1024                 20000                files     \nMax cpu time              unlimited            unlimited            seconds\n',
    );
    expect(limits.get('RLIMIT_NOFILE')).toBe(20000);
    expect(limits.get('RLIMIT_CPU')).toBe(Infinity);
  });
});

describe('hugetlbAvailable', () => {
  const v1 = (controller: string): string =>
    `31 30 0:28 / /sys/fs/cgroup/${controller} rw,relatime - cgroup cgroup rw,${controller}`;
  const hybridMounts = [
    '30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    v1('memory'),
    v1('cpu'),
    '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  ];

  it('is false on a hybrid host whose hugetlb sits on the unified mount (this machine)', () => {
    expect(hugetlbAvailable(hybridMounts.join('\n'), undefined)).toBe(false);
  });

  it('is true with a v1 hugetlb hierarchy', () => {
    expect(hugetlbAvailable([...hybridMounts, v1('hugetlb')].join('\n'), undefined)).toBe(true);
  });

  it('on a unified host, follows the root cgroup.controllers', () => {
    const unified = '25 22 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate';
    expect(hugetlbAvailable(unified, 'cpuset cpu io memory hugetlb pids\n')).toBe(true);
    expect(hugetlbAvailable(unified, 'cpuset cpu io memory pids\n')).toBe(false);
  });
});

describe('user namespaces (KEP-127)', () => {
  const idMappings = {
    uids: [{ containerId: 0, hostId: 300000, size: 65536 }],
    gids: [{ containerId: 0, hostId: 400000, size: 65536 }],
  };

  it("joins the pod's user namespace first, leaving its mappings to the namespace, and idmaps volume binds only", () => {
    const { spec } = generateSpec(
      request({
        namespaces: { user: '/run/berth/ns/user/p1', network: '/run/berth/ns/net/p1' },
        idMappings,
        binds: [
          { hostPath: '/data', containerPath: '/vol' },
          { hostPath: '/dev/fuse', containerPath: '/dev/fuse' },
        ],
        sandboxFiles: { hosts: '/run/berth/sandboxes/p1/hosts' },
      }),
      inputs,
      host,
    );
    expect(spec.linux.namespaces[0]).toEqual({ type: 'user', path: '/run/berth/ns/user/p1' });
    expect(spec.linux.uidMappings).toBeUndefined();
    expect(spec.linux.gidMappings).toBeUndefined();
    const byDest = new Map(spec.mounts.map((mt) => [mt.destination, mt]));
    expect(byDest.get('/vol')?.uidMappings).toEqual([{ containerID: 0, hostID: 300000, size: 65536 }]);
    expect(byDest.get('/vol')?.gidMappings).toEqual([{ containerID: 0, hostID: 400000, size: 65536 }]);
    expect(byDest.get('/dev/fuse')?.uidMappings).toBeUndefined();
    expect(byDest.get('/etc/hosts')?.uidMappings).toBeUndefined();
  });

  it('gives a new user namespace (no path to join) its mappings', () => {
    const { spec } = generateSpec(request({ idMappings }), inputs, host);
    expect(spec.linux.namespaces[0]).toEqual({ type: 'user' });
    expect(spec.linux.uidMappings).toEqual([{ containerID: 0, hostID: 300000, size: 65536 }]);
    expect(spec.linux.gidMappings).toEqual([{ containerID: 0, hostID: 400000, size: 65536 }]);
  });

  it('has no user namespace or mappings without them, and refuses a user namespace without mappings', () => {
    const { spec } = generateSpec(
      request({ binds: [{ hostPath: '/data', containerPath: '/vol' }] }),
      inputs,
      host,
    );
    expect(spec.linux.namespaces.some((n) => n.type === 'user')).toBe(false);
    expect(spec.linux.uidMappings).toBeUndefined();
    expect(spec.mounts.find((mt) => mt.destination === '/vol')?.uidMappings).toBeUndefined();
    expect(() => generateSpec(request({ namespaces: { user: '/ns/user' } }), inputs, host)).toThrow(
      'namespaces.user: a user namespace needs its idMappings',
    );
    expect(() =>
      generateSpec(request({ idMappings: { uids: [], gids: idMappings.gids } }), inputs, host),
    ).toThrow('idMappings.uids: at least one mapping is required');
  });
});
