import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, NotFoundError } from '../../src/common/errors.js';
import { capabilitiesFromMask, type HostFacts } from '../../src/runtime/host.js';
import { resolveInRoot } from '../../src/runtime/rootfs-path.js';
import { buildSpec, deviceNumbers, type ContainerRequest } from '../../src/runtime/spec.js';

const host: HostFacts = {
  boundingCapabilities: capabilitiesFromMask('000001fffeffffff'),
  canLowerOomScoreAdj: false,
  ownOomScoreAdj: 0,
  hardRlimits: new Map(),
  canRaiseRlimits: false,
  arch: 'x86_64',
  hugetlbController: true,
};

let dir: string;
let rootfs: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-spec-'));
  rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await mkdir(join(rootfs, 'srv/app'), { recursive: true });
  await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/srv:/bin/sh\n');
  await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\nweb:x:33:\n');
  await writeFile(join(rootfs, 'srv/file'), 'x');
  // A hostile image: symlinks that would leave the rootfs if followed on the host.
  await symlink('/etc/shadow', join(rootfs, 'abs-escape'));
  await symlink('../../../../../../etc', join(rootfs, 'rel-escape'));
  await symlink('/srv', join(rootfs, 'srvlink'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function request(extra: Partial<ContainerRequest> = {}): ContainerRequest {
  return { id: 'c1', rootfsPath: rootfs, cgroupParent: '/berth-test', image: { cmd: ['sh'] }, ...extra };
}

describe('resolveInRoot keeps image symlinks inside the rootfs', () => {
  it('resolves an absolute symlink relative to the rootfs', async () => {
    expect(await resolveInRoot(rootfs, '/abs-escape')).toBe(join(rootfs, 'etc/shadow'));
  });
  it('clamps .. at the rootfs', async () => {
    expect(await resolveInRoot(rootfs, '/rel-escape/passwd')).toBe(join(rootfs, 'etc/passwd'));
  });
  it('follows an in-root link and keeps missing tails', async () => {
    expect(await resolveInRoot(rootfs, '/srvlink/app/missing/x')).toBe(join(rootfs, 'srv/app/missing/x'));
  });
});

describe('buildSpec reads the image and checks host paths', () => {
  it('resolves the user from the image /etc/passwd', async () => {
    const { spec } = await buildSpec(request({ user: 'web', workingDir: '/srvlink/app' }), host);
    expect(spec.process.user).toMatchObject({ uid: 33, gid: 33 });
    expect(spec.process.env).toContain('HOME=/srv');
  });
  it('a user missing from the image is a NotFound', async () => {
    await expect(buildSpec(request({ user: 'nginx' }), host)).rejects.toThrow(NotFoundError);
  });
  it('a working directory that is a file is an InvalidArgument', async () => {
    await expect(buildSpec(request({ workingDir: '/srv/file' }), host)).rejects.toThrow(
      /workingDir: "\/srv\/file"/,
    );
  });
  it('a bind source that does not exist is an InvalidArgument naming it', async () => {
    const bad = request({ binds: [{ hostPath: join(dir, 'nope'), containerPath: '/data' }] });
    await expect(buildSpec(bad, host)).rejects.toThrow(InvalidArgumentError);
    await expect(buildSpec(bad, host)).rejects.toThrow(/binds\[0\].hostPath/);
  });
  it('a namespace file that does not exist is an InvalidArgument', async () => {
    await expect(buildSpec(request({ namespaces: { network: join(dir, 'netns') } }), host)).rejects.toThrow(
      /namespaces.network/,
    );
  });
  it('a missing rootfs is a NotFound', async () => {
    await expect(buildSpec(request({ rootfsPath: join(dir, 'none') }), host)).rejects.toThrow(NotFoundError);
  });
  it('stats a device node for its numbers; a regular file is refused', async () => {
    const { spec } = await buildSpec(
      request({ devices: [{ hostPath: '/dev/null', containerPath: '/dev/xnull' }] }),
      host,
    );
    expect(spec.linux.devices).toEqual([
      expect.objectContaining({ path: '/dev/xnull', type: 'c', major: 1, minor: 3 }),
    ]);
    await expect(
      buildSpec(request({ devices: [{ hostPath: join(rootfs, 'srv/file') }] }), host),
    ).rejects.toThrow(/not a device node/);
  });
  it('splits large dev_t values', () => {
    expect(deviceNumbers(0x103)).toEqual({ major: 1, minor: 3 });
    expect(deviceNumbers(259 * 256 + 5)).toEqual({ major: 259, minor: 5 });
    // makedev(8, 0x1234): the minor's high bits live above bit 20.
    expect(deviceNumbers(0x1200834)).toEqual({ major: 8, minor: 0x1234 });
  });
});
