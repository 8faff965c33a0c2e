/**
 * berthd against the real Temporal dev server and nats-server it embeds: readiness, the node:info
 * workflow, supervision, clean stop, the root lock, external addresses, and bad invocations.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeInfo } from '../../src/api/types.js';
import {
  descendants,
  isGone,
  makeRoots,
  runBerthd,
  runCli,
  startBerthd,
  type RunningBerthd,
} from '../helpers/berthd.js';
import { execFile } from '../../src/common/exec.js';

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('berthd with embedded Temporal and NATS', () => {
  let d: RunningBerthd;
  beforeAll(async () => {
    d = await startBerthd();
  });
  afterAll(async () => {
    await d?.stop();
    await d?.cleanup();
  });

  it('reports ready with both services healthy, through `berth info`', async () => {
    const r = await runCli(d.socket, ['info', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout) as NodeInfo;
    expect(info.nodeId).toBe(d.nodeId);
    expect(info.taskQueue).toBe(`berth.${d.nodeId}`);
    expect(info.services.map((s) => [s.name, s.mode, s.health])).toEqual([
      ['temporal', 'embedded', 'healthy'],
      ['nats', 'embedded', 'healthy'],
    ]);
    expect(info.services.find((s) => s.name === 'nats')!.version).toMatch(/^2\.\d+\.\d+/);
    expect(info.runtimes.find((r) => r.name === 'runc')!.version).toMatch(/^1\.\d+/);
    expect(info.paths.root).toBe(d.root);
    const table = await runCli(d.socket, ['info']);
    expect(table.stdout).toMatch(/SERVICE\s+VERSION\s+MODE\s+ADDRESS\s+HEALTH/);
    expect(table.stdout).toMatch(/temporal\s+\S+\s+embedded\s+127\.0\.0\.1:\d+\s+healthy/);
  });

  it('keeps Temporal history and NATS data under its root', async () => {
    expect(existsSync(join(d.root, 'temporal/temporal.db'))).toBe(true);
    expect(readdirSync(join(d.root, 'nats')).length).toBeGreaterThan(0);
  });

  it('runs the node:info workflow end to end', async () => {
    const result = await d.client.post<{ nodeId: string; runtimes: { name: string }[] }>('/v1/node-info');
    expect(result.nodeId).toBe(d.nodeId);
    expect(result.runtimes.map((r) => r.name)).toEqual(['runc', 'runc-debian', 'crun', 'runsc', 'conmon']);
  });

  it('refuses a second daemon on the same root, naming the holder, and changes nothing', async () => {
    const before = await readFile(join(d.root, 'berthd.lock'), 'utf8');
    const r = await runBerthd(['--root', d.root, '--state', d.state + '-2', '--node-id', 'second']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`another berthd (pid ${d.proc.pid}`);
    expect(await readFile(join(d.root, 'berthd.lock'), 'utf8')).toBe(before);
    expect(existsSync(d.state + '-2')).toBe(false);
  });

  it('with --temporal-address and --nats-url, starts no service children and uses them', async () => {
    const info = await d.client.get<NodeInfo>('/v1/info');
    const [temporal, nats] = info.services;
    const other = await startBerthd({
      args: ['--temporal-address', temporal!.address, '--nats-url', nats!.address],
    });
    try {
      // Its only child is the spawner it runs programs through (src/common/spawner.ts).
      const children = descendants(other.proc.pid!).map((pid) =>
        readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).at(-1),
      );
      expect(children).toEqual([expect.stringMatching(/spawner-child\.js$/)]);
      const otherInfo = await other.client.get<NodeInfo>('/v1/info');
      expect(otherInfo.services.map((s) => [s.mode, s.health])).toEqual([
        ['external', 'healthy'],
        ['external', 'healthy'],
      ]);
      const result = await other.client.post<{ nodeId: string }>('/v1/node-info');
      expect(result.nodeId).toBe(other.nodeId);
    } finally {
      expect(await other.stop()).toBe(0);
      await other.cleanup();
    }
  });

  it('refuses a node id another berthd holds on the same NATS, naming the holder, and writes nothing', async () => {
    const info = await d.client.get<NodeInfo>('/v1/info');
    const nats = info.services.find((s) => s.name === 'nats')!.address;
    const { root, state } = await makeRoots();
    try {
      const r = await runBerthd([
        '--root',
        root,
        '--state',
        state,
        '--node-id',
        d.nodeId,
        '--nats-url',
        nats,
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(
        `node id "${d.nodeId}" is already in use on this NATS cluster by berthd pid ${d.proc.pid} on`,
      );
      expect(r.stderr).toContain(`--root ${d.root}`);
      expect(existsSync(root) || existsSync(state)).toBe(false);
    } finally {
      await rm(join(root, '..'), { recursive: true, force: true });
    }
    // The holder keeps serving.
    expect((await d.client.post<{ nodeId: string }>('/v1/node-info')).nodeId).toBe(d.nodeId);
  });

  it('restarts a killed Temporal child, and the next workflow succeeds', async () => {
    const before = await d.client.get<NodeInfo>('/v1/info');
    const pid = Number(/pid (\d+)/.exec(before.services[0]!.detail ?? '')![1]);
    process.kill(pid, 'SIGKILL');
    await waitFor(
      async () => {
        const info = await d.client.get<NodeInfo>('/v1/info');
        return info.services[0]!.health === 'healthy' && info.services[0]!.restarts === 1;
      },
      90_000,
      'temporal to be restarted',
    );
    const result = await d.client.post<{ nodeId: string }>('/v1/node-info');
    expect(result.nodeId).toBe(d.nodeId);
  });
});

describe('berthd stop', () => {
  it('on SIGTERM leaves no child process, no socket and no lock', async () => {
    const d = await startBerthd();
    const children = descendants(d.proc.pid!);
    expect(children.length).toBeGreaterThanOrEqual(2);
    expect(await d.stop()).toBe(0);
    for (const pid of children) expect(isGone(pid), `child ${pid} still alive`).toBe(true);
    expect(existsSync(d.socket)).toBe(false);
    expect(existsSync(join(d.root, 'berthd.lock'))).toBe(false);
    await d.cleanup();
  });

  it(
    'restarts on the same root after SIGKILL, with its embedded services taken down by the kernel',
    { timeout: 240_000 },
    async () => {
      const d = await startBerthd();
      const children = descendants(d.proc.pid!);
      d.proc.kill('SIGKILL');
      await d.stop();
      await waitFor(() => children.every(isGone), 30_000, 'children to exit');
      const again = await startBerthd({ root: d.root, state: d.state, nodeId: d.nodeId });
      const result = await again.client.post<{ nodeId: string }>('/v1/node-info');
      expect(result.nodeId).toBe(d.nodeId);
      expect(await again.stop()).toBe(0);
      await again.cleanup();
    },
  );
});

/** A nats-server stand-in that exits with code 1 for its first `failures` starts, recording each start's args. */
async function flakyNatsServer(
  failures: number,
): Promise<{ bin: string; starts: () => Promise<string[]>; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-flaky-nats-'));
  const bin = join(dir, 'nats-server');
  const log = join(dir, 'starts');
  await writeFile(
    bin,
    [
      '#!/bin/sh',
      `echo "$*" >> ${log}`,
      `if [ "$(wc -l < ${log})" -le ${failures} ]; then exit 1; fi`,
      'exec nats-server "$@"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  const starts = async () => (await readFile(log, 'utf8')).trim().split('\n');
  return { bin, starts, dir };
}

describe('berthd startup when an embedded service dies before it is healthy', () => {
  it('tries again on fresh ports (another process may have bound the chosen one first)', async () => {
    const nats = await flakyNatsServer(1);
    const d = await startBerthd({ args: ['--nats-server-bin', nats.bin] });
    try {
      const starts = await nats.starts();
      expect(starts).toHaveLength(2);
      expect(d.output()).toContain('embedded service exited during startup; retrying on fresh ports');
      const info = await d.client.get<NodeInfo>('/v1/info');
      expect(info.services[1]!.health).toBe('healthy');
      const port = (args: string) => / -p (\d+)/.exec(` ${args}`)![1];
      expect(info.services[1]!.address).toBe(`nats://127.0.0.1:${port(starts[1]!)}`);
    } finally {
      expect(await d.stop()).toBe(0);
      await d.cleanup();
      await rm(nats.dir, { recursive: true, force: true });
    }
  });

  it('gives up after three starts, its last line naming the service and its log', async () => {
    const nats = await flakyNatsServer(1000);
    const { root, state } = await makeRoots();
    try {
      const r = await runBerthd([
        '--root',
        root,
        '--state',
        state,
        '--node-id',
        'n1',
        '--nats-server-bin',
        nats.bin,
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n').at(-1)).toMatch(
        /^berthd: embedded nats exited during startup \(exited with code 1\); see .*nats\.log$/,
      );
      expect(await nats.starts()).toHaveLength(3);
    } finally {
      await rm(nats.dir, { recursive: true, force: true });
      await rm(join(root, '..'), { recursive: true, force: true });
    }
  });
});

describe('berthd bad invocations: one line naming the problem, non-zero exit, nothing on disk', () => {
  const bases: string[] = [];
  /** makeRoots, removed again after the test (the refused berthd leaves them for the assertions). */
  const freshRoots = async (): Promise<{ root: string; state: string }> => {
    const roots = await makeRoots();
    bases.push(join(roots.root, '..'));
    return roots;
  };
  afterEach(async () => {
    for (const base of bases.splice(0)) await rm(base, { recursive: true, force: true });
  });

  it('an unknown flag', async () => {
    const { root, state } = await freshRoots();
    const r = await runBerthd(['--root', root, '--state', state, '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("berthd: Unknown option '--frobnicate'\n");
    expect(existsSync(root) || existsSync(state)).toBe(false);
  });

  it('an unwritable root', async () => {
    const { root, state } = await freshRoots();
    const ro = join(root, '..', 'ro');
    await mkdir(ro);
    await execFile('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'berth-test-ro', ro]);
    try {
      const r = await runBerthd(['--root', join(ro, 'berth'), '--state', state, '--node-id', 'n1']);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/--root .*ro\/berth is not writable/);
      expect(existsSync(state)).toBe(false);
    } finally {
      await execFile('umount', [ro]);
    }
  });

  it.each([
    [
      'an unreachable --temporal-address',
      ['--temporal-address', '127.0.0.1:1'],
      /cannot reach Temporal at --temporal-address 127\.0\.0\.1:1/,
    ],
    [
      'an unreachable --nats-url (a cluster list, named whole)',
      ['--nats-url', 'nats://127.0.0.1:1,nats://127.0.0.1:2', '--nats-replicas', '3'],
      /cannot reach NATS at --nats-url nats:\/\/127\.0\.0\.1:1,nats:\/\/127\.0\.0\.1:2/,
    ],
  ])('%s', async (_name, flags, message) => {
    const { root, state } = await freshRoots();
    const r = await runBerthd(['--root', root, '--state', state, '--node-id', 'n1', ...flags]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(existsSync(root) || existsSync(state)).toBe(false);
  });

  it("an event log directory that is not Berth's: refused, never reinitialised", async () => {
    const { root, state } = await freshRoots();
    await mkdir(join(root, 'events'), { recursive: true });
    await writeFile(join(root, 'events', 'notes.txt'), 'not an event log\n');
    const r = await runBerthd(['--root', root, '--state', state, '--node-id', 'n1']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/event log .*events is not a level database .*refusing to reinitialise it/);
    expect(readdirSync(join(root, 'events'))).toEqual(['notes.txt']);
    expect(await readFile(join(root, 'events', 'notes.txt'), 'utf8')).toBe('not an event log\n');
  });
});
