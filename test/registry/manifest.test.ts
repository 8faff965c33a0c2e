// Unit tests for manifest parsing, platform selection and registry config validation.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/common/errors.js';
import {
  MediaTypes,
  loadRegistryConfig,
  parseManifest,
  parsePlatform,
  parseRegistryConfig,
  selectPlatform,
  type ImageIndex,
} from '../../src/registry/index.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const manifestBody = (extra: object = {}): Buffer =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      config: { mediaType: MediaTypes.ociConfig, digest: d('a'), size: 10 },
      layers: [{ mediaType: MediaTypes.ociLayerGzip, digest: d('b'), size: 20 }],
      ...extra,
    }),
  );

describe('parseManifest', () => {
  it('recognises an OCI manifest without mediaType by shape, and from a generic content type', () => {
    const p = parseManifest(manifestBody(), 'application/json', 'm');
    expect(p.kind).toBe('manifest');
    expect(p.kind === 'manifest' && p.manifest.mediaType).toBe(MediaTypes.ociManifest);
  });

  it('takes the Content-Type (parameters ignored) and rejects a body that disagrees', () => {
    const body = manifestBody({ mediaType: MediaTypes.dockerManifest });
    expect(parseManifest(body, `${MediaTypes.dockerManifest}; charset=utf-8`, 'm').kind).toBe('manifest');
    expect(() => parseManifest(body, MediaTypes.ociManifest, 'm')).toThrow(
      /claims media type .* but was served as/,
    );
  });

  it('refuses malformed manifests naming the field', () => {
    expect(() => parseManifest(Buffer.from('{'), undefined, 'm')).toThrow(/not valid JSON/);
    expect(() =>
      parseManifest(
        manifestBody({ layers: [{ mediaType: 'x', digest: 'sha256:zz', size: 1 }] }),
        undefined,
        'm',
      ),
    ).toThrow(/malformed at layers.0.digest/);
    expect(() => parseManifest(manifestBody({ schemaVersion: 1 }), undefined, 'm')).toThrow(/schemaVersion/);
  });
});

describe('selectPlatform', () => {
  const index: ImageIndex = {
    mediaType: MediaTypes.ociIndex,
    manifests: [
      {
        mediaType: MediaTypes.ociManifest,
        digest: d('1') as never,
        size: 1,
        platform: { os: 'linux', architecture: 'amd64' },
      },
      {
        mediaType: MediaTypes.ociManifest,
        digest: d('2') as never,
        size: 1,
        platform: { os: 'linux', architecture: 'arm', variant: 'v6' },
      },
      {
        mediaType: MediaTypes.ociManifest,
        digest: d('3') as never,
        size: 1,
        platform: { os: 'linux', architecture: 'arm' },
      },
      {
        mediaType: MediaTypes.ociManifest,
        digest: d('4') as never,
        size: 1,
        platform: { os: 'linux', architecture: 'arm64' },
      },
      {
        mediaType: 'application/vnd.in-toto+json',
        digest: d('5') as never,
        size: 1,
        platform: { os: 'unknown', architecture: 'unknown' },
      },
    ],
  };
  it.each([
    ['linux/amd64', d('1')],
    ['linux/arm/v6', d('2')],
    ['linux/arm/v7', d('3')],
    ['linux/arm64/v8', d('4')],
    ['linux/arm64', d('4')],
  ])('%s', (want, digest) => {
    expect(selectPlatform(index, parsePlatform(want), 'img').digest).toBe(digest);
  });

  it('lists what is available when nothing matches (attestations are not images)', () => {
    expect(() => selectPlatform(index, parsePlatform('windows/amd64'), 'img')).toThrow(
      'img has no image for platform windows/amd64 (available: linux/amd64, linux/arm/v6, linux/arm, linux/arm64)',
    );
  });

  it('refuses malformed platform strings', () => {
    expect(() => parsePlatform('linux')).toThrow(InvalidArgumentError);
    expect(() => parsePlatform('linux//v7')).toThrow(InvalidArgumentError);
  });
});

describe('registry config', () => {
  it('validates fields and names the offending one', () => {
    expect(() => parseRegistryConfig({ hosts: { 'a:1': { plainHttp: 'yes' } } })).toThrow(
      /hosts.a:1.plainHttp/,
    );
    expect(() => parseRegistryConfig({ hosts: { a: { mirror: ['x'] } } })).toThrow(InvalidArgumentError);
    expect(parseRegistryConfig(undefined)).toEqual({ hosts: {} });
  });

  it('loads YAML from a file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-regcfg-'));
    try {
      const file = path.join(dir, 'registries.yaml');
      await writeFile(
        file,
        'hosts:\n  docker.io:\n    mirrors: ["http://127.0.0.1:5001"]\n  127.0.0.1:5000:\n    plainHttp: true\n    username: u\n    password: p\nmaxManifestBytes: 1048576\n',
      );
      expect(await loadRegistryConfig(file)).toEqual({
        hosts: {
          'docker.io': { mirrors: ['http://127.0.0.1:5001'] },
          '127.0.0.1:5000': { plainHttp: true, username: 'u', password: 'p' },
        },
        maxManifestBytes: 1048576,
      });
      await writeFile(file, 'hosts: [');
      await expect(loadRegistryConfig(file)).rejects.toThrow(/not valid YAML/);
      await expect(loadRegistryConfig(path.join(dir, 'missing.yaml'))).rejects.toThrow(
        /cannot read registry config/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
