import { mkdtemp, rm, stat, readlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from '../../src/common/exec.js';
import { NamespacePinner } from '../../src/sandbox/namespaces.js';
import { mountsUnder } from '../../src/sandbox/mounts.js';

let root: string;
let pinner: NamespacePinner;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'berth-ns-'));
  pinner = new NamespacePinner(root);
});

afterAll(async () => {
  for (const m of await mountsUnder(root)) await execFile('umount', [m.mountPoint]).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
});

async function nsInode(file: string): Promise<number> {
  return (await stat(file)).ino;
}

describe('NamespacePinner', () => {
  it('pins net, ipc and uts as bind mounts with the hostname set, without a process', async () => {
    const pins = await pinner.pin('sb1', { network: 'pod', ipc: 'pod', hostname: 'pod-one' });
    expect(Object.keys(pins).sort()).toEqual(['ipc', 'net', 'uts']);
    const mounts = await mountsUnder(pinner.nsDir);
    const nsfs = mounts
      .filter((m) => m.fsType === 'nsfs')
      .map((m) => m.mountPoint)
      .sort();
    expect(nsfs).toEqual([pins.ipc, pins.net, pins.uts].sort());
    expect((await execFile('nsenter', [`--uts=${pins.uts}`, 'hostname'])).trim()).toBe('pod-one');
    expect((await execFile('hostname', [])).trim()).not.toBe('pod-one');
    // A new namespace, not the host's.
    const hostNet = await readlink('/proc/self/ns/net');
    const inner = (await execFile('nsenter', [`--net=${pins.net}`, 'readlink', '/proc/self/ns/net'])).trim();
    expect(inner).not.toBe(hostNet);
    // The ns dir is a shared mount point of its own, as ip netns makes /run/netns.
    const nsDirMount = mounts.find((m) => m.mountPoint === pinner.nsDir);
    expect(nsDirMount?.propagation.some((p) => p.startsWith('shared:'))).toBe(true);
  });

  it('pinning again is idempotent and keeps the same namespaces', async () => {
    const before = await nsInode(pinner.pathOf('net', 'sb1'));
    await pinner.pin('sb1', { network: 'pod', ipc: 'pod', hostname: 'pod-one' });
    expect(await nsInode(pinner.pathOf('net', 'sb1'))).toBe(before);
    expect((await mountsUnder(pinner.nsDir)).filter((m) => m.fsType === 'nsfs')).toHaveLength(3);
  });

  it('two sandboxes get distinct network namespaces', async () => {
    await pinner.pin('sb2', { network: 'pod', ipc: 'pod', hostname: 'pod-two' });
    expect(await nsInode(pinner.pathOf('net', 'sb2'))).not.toBe(await nsInode(pinner.pathOf('net', 'sb1')));
  });

  it('host network and host IPC pin nothing', async () => {
    const pins = await pinner.pin('hostpod', { network: 'host', ipc: 'host', hostname: 'ignored' });
    expect(pins).toEqual({});
    const onlyIpcHost = await pinner.pin('ipchost', { network: 'pod', ipc: 'host', hostname: 'x' });
    expect(Object.keys(onlyIpcHost).sort()).toEqual(['net', 'uts']);
    await pinner.release('ipchost');
  });

  it('a half-pinned sandbox (crash between mounts) is repinned from scratch', async () => {
    await pinner.pin('half', { network: 'pod', ipc: 'pod', hostname: 'half' });
    await execFile('umount', [pinner.pathOf('ipc', 'half')]);
    const pins = await pinner.pin('half', { network: 'pod', ipc: 'pod', hostname: 'half' });
    expect((await pinner.pinnedKinds('half')).size).toBe(3);
    expect(pins.ipc).toBe(pinner.pathOf('ipc', 'half'));
    await pinner.release('half');
  });

  it('release unmounts and deletes the pins, and is idempotent', async () => {
    await pinner.release('sb1');
    await pinner.release('sb2');
    await pinner.release('sb1');
    await pinner.release('never-created');
    expect((await mountsUnder(pinner.nsDir)).filter((m) => m.fsType === 'nsfs')).toEqual([]);
    await expect(stat(pinner.pathOf('net', 'sb1'))).rejects.toThrow(/ENOENT/);
    await pinner.dispose();
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('rejects sandbox ids that could escape the state dir', async () => {
    await expect(pinner.pin('../evil', { network: 'pod', ipc: 'pod', hostname: 'x' })).rejects.toThrow(
      /sandbox id "..\/evil"/,
    );
    await expect(pinner.release('a/b')).rejects.toMatchObject({ code: 'invalid_argument' });
  });
});
