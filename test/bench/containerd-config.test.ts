/** The isolated containerd's config: registry mirrors only when asked for, as hosts.toml files. */
import { describe, expect, it } from 'vitest';
import { containerdConfig, hostsToml, layoutFor } from '../../bench/containerd/config.js';

const layout = (): ReturnType<typeof layoutFor> => layoutFor('/tmp/cd', 'abcd', '10.99.0.0/24', 'pause:1');

describe('containerd config', () => {
  it('has no registry section unless a registry config folder is set', () => {
    expect(containerdConfig(layout())).not.toContain('.registry]');
    const l = { ...layout(), registryConfigDir: '/tmp/cd/certs.d' };
    expect(containerdConfig(l)).toContain(
      '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/tmp/cd/certs.d"\n',
    );
  });

  it('containerd 2.x gets schema v3: the sandbox image pinned and the registry under the images plugin', () => {
    const l = {
      ...layoutFor('/tmp/cd', 'abcd', '10.99.0.0/24', 'pause:1', '2.x'),
      registryConfigDir: '/tmp/cd/certs.d',
    };
    const config = containerdConfig(l);
    expect(config).toMatch(/^version = 3\n/);
    expect(config).toContain(
      '[plugins.\'io.containerd.cri.v1.images\'.pinned_images]\n  sandbox = "pause:1"\n',
    );
    expect(config).toContain(
      '[plugins.\'io.containerd.cri.v1.images\'.registry]\n  config_path = "/tmp/cd/certs.d"\n',
    );
    expect(config).toContain('BinaryName = ');
    expect(config).not.toContain('io.containerd.grpc.v1.cri".');
  });

  it('hosts.toml sends pulls and resolves to the mirror, with the upstream as server', () => {
    expect(hostsToml('registry.k8s.io', 'http://127.0.0.1:5000')).toBe(
      'server = "https://registry.k8s.io"\n\n[host."http://127.0.0.1:5000"]\n  capabilities = ["pull", "resolve"]\n',
    );
  });
});
