import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttachmentCache } from '../../src/network/cache.js';
import { kubeletCniArgs, pluginConfig, portMappingCapability, resultIps } from '../../src/network/cni.js';
import { confFiles, defaultConfList, parseConfList } from '../../src/network/conflist.js';
import { CniPluginError } from '../../src/network/errors.js';
import { pluginFailure } from '../../src/network/plugin.js';

describe('CNI protocol logic (pure)', () => {
  it('builds kubelet CNI_ARGS', () => {
    expect(kubeletCniArgs('abc', { namespace: 'ns', name: 'p', uid: 'u' })).toBe(
      'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u',
    );
  });

  it('injects name, version, prevResult and only the capabilities a plugin declares', () => {
    const list = { name: 'net', cniVersion: '1.0.0' };
    const prev = { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] };
    const caps = {
      portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }],
      bandwidth: { rate: 1 },
    };
    const portmap = pluginConfig(list, { type: 'portmap', capabilities: { portMappings: true } }, prev, caps);
    expect(portmap).toMatchObject({ type: 'portmap', name: 'net', cniVersion: '1.0.0', prevResult: prev });
    expect(portmap['runtimeConfig']).toEqual({ portMappings: caps.portMappings });
    const bridge = pluginConfig(list, { type: 'bridge' }, undefined, caps);
    expect(bridge).not.toHaveProperty('runtimeConfig');
    expect(bridge).not.toHaveProperty('prevResult');
    // 0.2.0 predates chaining: no prevResult.
    expect(pluginConfig({ name: 'n', cniVersion: '0.2.0' }, { type: 'x' }, prev, {})).not.toHaveProperty(
      'prevResult',
    );
  });

  it('passes only published ports to portmap, in its field names', () => {
    expect(portMappingCapability([{ protocol: 'UDP', containerPort: 53 }])).toEqual({});
    expect(
      portMappingCapability([{ protocol: 'UDP', containerPort: 53, hostPort: 5353, hostIp: '127.0.0.1' }]),
    ).toEqual({
      portMappings: [{ hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' }],
    });
  });

  it('reads IPs and families from a result', () => {
    expect(
      resultIps({ ips: [{ address: '10.1.0.2/16', gateway: '10.1.0.1' }, { address: 'fd00::2/64' }] }),
    ).toEqual([
      { address: '10.1.0.2/16', ip: '10.1.0.2', family: 4, gateway: '10.1.0.1' },
      { address: 'fd00::2/64', ip: 'fd00::2', family: 6 },
    ]);
  });

  it('takes a plugin failure reason from its JSON error, else from stderr', () => {
    expect(pluginFailure('{"code":11,"msg":"busy","details":"retry"}', '', null, 1)).toEqual({
      reason: 'busy: retry',
      code: 11,
    });
    expect(pluginFailure('garbage', 'panic: boom\n', null, 2)).toEqual({ reason: 'panic: boom' });
    expect(pluginFailure('', '', 'SIGKILL', -1)).toEqual({ reason: 'killed by SIGKILL' });
    expect(pluginFailure('', '', null, 3)).toEqual({ reason: 'exit status 3' });
    expect(new CniPluginError('p', 'ADD', 'n', 'busy', 11).code).toBe('unavailable');
  });

  it('validates conflists and wraps a single-plugin .conf into a list', () => {
    expect(
      parseConfList({ cniVersion: '0.4.0', name: 'one', type: 'bridge', bridge: 'b0' }, 'f.conf'),
    ).toEqual({
      cniVersion: '0.4.0',
      name: 'one',
      plugins: [{ type: 'bridge', bridge: 'b0' }],
      source: 'f.conf',
    });
    expect(() => parseConfList([], 'a')).toThrow(/CNI network config a is invalid: not a JSON object/);
    expect(() => parseConfList({ plugins: [{ type: 'x' }] }, 'b')).toThrow(/missing "name"/);
    expect(() => parseConfList({ name: 'n', plugins: [] }, 'c')).toThrow(/non-empty array/);
    expect(() => parseConfList({ name: 'n', plugins: [{ type: '/bin/sh' }] }, 'd')).toThrow(
      /plugins\[0\].type "\/bin\/sh" is not a plugin name/,
    );
    expect(defaultConfList({ name: 'x', bridge: 'b9', subnet: '10.9.0.0/16' }).plugins[0]).toMatchObject({
      type: 'bridge',
      bridge: 'b9',
      isGateway: true,
      ipMasq: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.9.0.0/16' }]] },
    });
  });
});

describe('conf dir and cache files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-cnilogic-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lists .conf, .conflist and .json files in lexical order, ignoring others', async () => {
    const d = path.join(dir, 'net.d');
    await mkdir(d);
    for (const f of ['20-b.conflist', '10-a.conf', '30-c.json', 'README', '05-x.conflist.tmp-1'])
      await writeFile(path.join(d, f), '{}');
    expect((await confFiles(d)).map((f) => path.basename(f))).toEqual([
      '10-a.conf',
      '20-b.conflist',
      '30-c.json',
    ]);
    expect(await confFiles(path.join(dir, 'absent'))).toEqual([]);
  });

  it('a corrupted cache entry is an error naming the file', async () => {
    const cache = new AttachmentCache(path.join(dir, 'cache'));
    await mkdir(path.join(dir, 'cache', 'sb1'), { recursive: true });
    await writeFile(path.join(dir, 'cache', 'sb1', 'eth0.json'), '{truncated');
    await expect(cache.read('sb1', 'eth0')).rejects.toThrow(
      /CNI attachment cache .*sb1\/eth0.json is unreadable/,
    );
    expect(await cache.read('sb2', 'eth0')).toBeUndefined();
    expect(await cache.list()).toEqual([{ containerId: 'sb1', ifName: 'eth0' }]);
    await cache.remove('sb1', 'eth0');
    expect(await cache.list()).toEqual([]);
  });
});
