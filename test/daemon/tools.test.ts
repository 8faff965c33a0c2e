import { afterEach, describe, expect, it } from 'vitest';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDaemonArgs, type DaemonConfig } from '../../src/daemon/config.js';
import { resolveBinaries, resolveTool } from '../../src/daemon/tools.js';
import { FailedPreconditionError } from '../../src/common/errors.js';
import { startBerthd, TOOLS_BIN } from '../helpers/berthd.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A tools folder holding executables with these names, as ./scripts/setup would leave it. */
async function toolsFolder(...names: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-tools-'));
  dirs.push(dir);
  await mkdir(join(dir, 'bin'));
  for (const name of names) {
    await writeFile(join(dir, 'bin', name), '#!/bin/sh\n');
    await chmod(join(dir, 'bin', name), 0o755);
  }
  return dir;
}

const config = (argv: string[] = []) => parseDaemonArgs(['--node-id', 'n1', ...argv], {}) as DaemonConfig;

describe('finding the programs berthd runs', () => {
  it('takes a bare name from the tools folder before PATH, with no PATH change', async () => {
    const tools = await toolsFolder('temporal');
    const path = await toolsFolder('temporal');
    const env = { BERTH_TOOLS_DIR: tools, PATH: join(path, 'bin') };
    expect(resolveTool('temporal', env)).toBe(join(tools, 'bin', 'temporal'));
  });

  it('refuses to start without a program every start needs, naming it and the setup command', async () => {
    const tools = await toolsFolder('runc', 'conmon', 'nats-server');
    const env = { BERTH_TOOLS_DIR: tools, PATH: '/nonexistent' };
    const missing = () =>
      resolveBinaries({ ...config(), binaries: { ...config().binaries, temporal: 'temporal-missing' } }, env);
    expect(missing).toThrow(FailedPreconditionError);
    expect(missing).toThrow(
      /temporal-missing \(the embedded Temporal server; or give --temporal-address\) not found in .*: run \.\/scripts\/setup/,
    );
  });

  it("does not need the embedded services' programs when both are external", async () => {
    const tools = await toolsFolder('runc', 'conmon');
    const env = { BERTH_TOOLS_DIR: tools, PATH: '/nonexistent' };
    const c = config(['--temporal-address', '127.0.0.1:7233', '--nats-url', 'nats://127.0.0.1:4222']);
    const b = resolveBinaries(
      { ...c, binaries: { ...c.binaries, temporal: 'no-temporal', natsServer: 'no-nats' } },
      env,
    );
    expect(b.runc).toBe(join(tools, 'bin', 'runc'));
    expect(b.conmon).toBe(join(tools, 'bin', 'conmon'));
    expect(b.temporal).toBe('no-temporal');
  });

  it('names a configured path that does not exist', async () => {
    const tools = await toolsFolder('runc', 'temporal', 'nats-server');
    const c = config();
    expect(() =>
      resolveBinaries(
        { ...c, binaries: { ...c.binaries, conmon: '/nonexistent/conmon' } },
        { BERTH_TOOLS_DIR: tools, PATH: '' },
      ),
    ).toThrow(/\/nonexistent\/conmon is not an executable file: run \.\/scripts\/setup/);
  });
});

describe('berthd started by hand', () => {
  it('runs with no tools folder on PATH, finding what setup installed', async () => {
    const d = await startBerthd({ env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    try {
      const info = await d.client.get<{
        runtimes: { name: string; path: string }[];
        services: { name: string; health: string }[];
      }>('/v1/info');
      expect(info.services.map((s) => [s.name, s.health])).toEqual([
        ['temporal', 'healthy'],
        ['nats', 'healthy'],
      ]);
      // The default handler is setup's runc 1.5, not Debian's on PATH.
      expect(info.runtimes.find((r) => r.name === 'runc')?.path).toBe(join(TOOLS_BIN, 'runc'));
    } finally {
      await d.stop();
      await d.cleanup();
    }
  }, 120_000);
});
