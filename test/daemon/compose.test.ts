import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { execFile } from '../../src/common/exec.js';
import { REPO } from '../helpers/berthd.js';
import { TOOL_VERSIONS } from '../helpers/versions.js';

interface Compose {
  services: Record<string, { image: string; command?: string[] }>;
}

const versions = TOOL_VERSIONS;

describe('docker-compose.test.yml', () => {
  const compose = parse(readFileSync(`${REPO}/docker-compose.test.yml`, 'utf8')) as Compose;

  it('parses and describes the Temporal dev server, NATS with JetStream and a registry', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['nats', 'registry', 'temporal']);
    expect(compose.services.temporal!.command).toContain('start-dev');
    expect(compose.services.nats!.command).toContain('-js');
  });

  it('names the same versions the setup script installs', () => {
    expect(compose.services.temporal!.image).toBe(`temporalio/temporal:${versions.TEMPORAL_CLI_VERSION}`);
    expect(compose.services.nats!.image).toBe(`nats:${versions.NATS_SERVER_VERSION}`);
    expect(compose.services.registry!.image).toBe(`registry:${versions.REGISTRY_VERSION}`);
  });

  it('matches what is installed on this machine', async () => {
    expect(await execFile('nats-server', ['--version'])).toContain(versions.NATS_SERVER_VERSION);
    expect(await execFile('dpkg-query', ['-W', '-f=${Version}', 'docker-registry'])).toMatch(
      new RegExp(`^${versions.REGISTRY_VERSION!.replace(/\./g, '\\.')}`),
    );
  });
});
