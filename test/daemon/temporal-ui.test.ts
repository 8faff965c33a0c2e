/**
 * The embedded Temporal server's Web UI (--temporal-ui-port): served on loopback only, its address
 * in `berth info`, a node's workflow found in it by id from headless Chromium; absent without the
 * flag; a taken port refused with a message naming the flag and the port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import type { NodeInfo } from '../../src/api/types.js';
import { freePort } from '../../src/daemon/endpoints.js';
import {
  TOOLS_BIN,
  makeRoots,
  runBerthd,
  runCli,
  startBerthd,
  type RunningBerthd,
} from '../helpers/berthd.js';
import { launchChromium, waitForPageText } from '../helpers/browser.js';
import { listenersOn } from '../helpers/listeners.js';

const NAMESPACE = 'berth-ui-test';

/** The pid of the embedded Temporal dev server, from `berth info`'s detail ("pid N, restarts M"). */
function temporalPid(info: NodeInfo): number {
  return Number(/pid (\d+)/.exec(info.services.find((s) => s.name === 'temporal')!.detail ?? '')![1]);
}

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

describe('berthd with --temporal-ui-port', () => {
  let d: RunningBerthd | undefined;
  let uiPort: number;
  let ui: string;
  let artifacts: string;
  let keepArtifacts = false;
  let browser: Browser | undefined;

  beforeAll(async () => {
    artifacts = await mkdtemp(join(tmpdir(), 'berth-ui-test-'));
    uiPort = await freePort();
    ui = `http://127.0.0.1:${uiPort}`;
    d = await startBerthd({
      args: ['--temporal-ui-port', String(uiPort), '--temporal-namespace', NAMESPACE],
      env: { BERTH_TEST_HOOKS: '1' },
    });
  });
  afterAll(async () => {
    await browser?.close();
    await d?.stop();
    await d?.cleanup();
    if (!keepArtifacts) await rm(artifacts, { recursive: true, force: true });
  });

  it('`berth info` prints the UI address, and --json carries it', async () => {
    const table = await runCli(d!.socket, ['info']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split('\n')).toContain(`temporal ui: ${ui}`);
    const json = await runCli(d!.socket, ['info', '--json']);
    expect((JSON.parse(json.stdout) as NodeInfo).temporalUi).toBe(ui);
  });

  it('serves the UI from the Temporal child on 127.0.0.1 only', async () => {
    const pid = temporalPid(await d!.client.get<NodeInfo>('/v1/info'));
    expect(cmdline(pid)).not.toContain('--headless');
    const listeners = await listenersOn(uiPort);
    expect(listeners).toEqual([{ address: '127.0.0.1', port: uiPort, pids: [pid] }]);
    const res = await fetch(`${ui}/`);
    expect(res.ok).toBe(true);
    await res.body?.cancel();
    const endpoints = JSON.parse(await readFile(join(d!.root, 'endpoints.json'), 'utf8')) as {
      temporal: { uiPort?: number };
    };
    expect(endpoints.temporal.uiPort).toBe(uiPort);
  });

  it("finds a transition's workflow by its id in the UI, from headless Chromium", async () => {
    await d!.client.post('/v1/test/demo', { id: 'ui-a' });
    // The workflow id as berthd's event log records it, the cause of the transition's events.
    const events = await runCli(d!.socket, ['events', '--json']);
    expect(events.code, events.stderr).toBe(0);
    const causes = events.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { cause: { kind: string; workflowId?: string } }).cause);
    const workflowId = causes.find((c) => c.kind === 'workflow')?.workflowId;
    expect(workflowId).toBe('demo:ui-a');

    browser = await launchChromium();
    const page = await browser.newPage();
    const query = encodeURIComponent(`WorkflowId="${workflowId}"`);
    const url = `${ui}/namespaces/${NAMESPACE}/workflows?query=${query}`;
    await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
    const screenshotFile = join(artifacts, 'temporal-ui-workflows.png');
    try {
      // In the list of workflows (the filter above it shows the id whether found or not).
      await waitForPageText(page, workflowId!, {
        within: 'table',
        timeoutMs: 45_000,
        reloadEveryMs: 10_000,
        screenshotFile,
      });
    } catch (err) {
      keepArtifacts = true;
      throw err;
    }
  }, 120_000);

  it('restarted on the same root without the flag, serves no UI (headless) and `berth info` has no address', async () => {
    const { root, state, nodeId } = d!;
    expect(await d!.stop()).toBe(0);
    const old = d!;
    d = undefined;
    try {
      d = await startBerthd({ root, state, nodeId, args: ['--temporal-namespace', NAMESPACE] });
    } finally {
      if (!d) await old.cleanup();
    }
    const info = await d.client.get<NodeInfo>('/v1/info');
    expect(info).not.toHaveProperty('temporalUi');
    const pid = temporalPid(info);
    const args = cmdline(pid);
    expect(args).toContain('--headless');
    expect(args).not.toContain('--ui-port');
    // The dev server's UI would otherwise be on --port + 1000 (8233 for the default 7233).
    const frontendPort = Number(info.services.find((s) => s.name === 'temporal')!.address.split(':')[1]);
    for (const port of [uiPort, frontendPort + 1000, 8233]) {
      const held = (await listenersOn(port)).filter((l) => l.pids.includes(pid));
      expect(held, `temporal listens on ${port}`).toEqual([]);
    }
    expect(await listenersOn(uiPort)).toEqual([]);
    const endpoints = JSON.parse(await readFile(join(root, 'endpoints.json'), 'utf8')) as {
      temporal: Record<string, unknown>;
    };
    expect(endpoints.temporal).not.toHaveProperty('uiPort');
    const table = await runCli(d.socket, ['info']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).not.toMatch(/temporal ui/i);
    const json = await runCli(d.socket, ['info', '--json']);
    expect(JSON.parse(json.stdout)).not.toHaveProperty('temporalUi');
  }, 120_000);
});

describe('berthd with --temporal-ui-port on a port already taken', () => {
  const bases: string[] = [];
  const freshRoots = async () => {
    const roots = await makeRoots();
    bases.push(join(roots.root, '..'));
    return roots;
  };
  afterAll(async () => {
    for (const base of bases) await rm(base, { recursive: true, force: true });
  });

  it('fails to start, naming --temporal-ui-port and the port, starting no Temporal', async () => {
    const port = await freePort();
    const holder = await listen(port);
    try {
      const { root, state } = await freshRoots();
      const r = await runBerthd([
        '--root',
        root,
        '--state',
        state,
        '--node-id',
        'ui-taken',
        '--temporal-ui-port',
        String(port),
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n').at(-1)).toBe(
        `berthd: --temporal-ui-port ${port}: 127.0.0.1:${port} is already in use by another process; ` +
          `choose a free port, or stop what listens there (ss -ltnp 'sport = :${port}' names it)`,
      );
      expect(existsSync(join(root, 'logs/temporal.log'))).toBe(false);
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });

  it('taken while the dev server starts: fails once, without retrying on other ports', async () => {
    // A temporal that finds its UI port taken just before it binds it (taken by a process it starts).
    const dir = await mkdtemp(join(tmpdir(), 'berth-ui-taken-'));
    bases.push(dir);
    const port = await freePort();
    const holderPid = join(dir, 'holder.pid');
    const starts = join(dir, 'starts');
    const bin = join(dir, 'temporal');
    const holder =
      `require('net').createServer().listen(${port}, '127.0.0.1', () => ` +
      `require('fs').writeFileSync('${holderPid}', String(process.pid))); setTimeout(() => process.exit(0), 60000)`;
    await writeFile(
      bin,
      [
        '#!/bin/sh',
        `echo "$*" >> ${starts}`,
        `${process.execPath} -e "${holder}" &`,
        `i=0; while [ ! -s ${holderPid} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done`,
        `exec ${join(TOOLS_BIN, 'temporal')} "$@"`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const { root, state } = await freshRoots();
    try {
      const r = await runBerthd([
        '--root',
        root,
        '--state',
        state,
        '--node-id',
        'ui-raced',
        '--temporal-ui-port',
        String(port),
        '--temporal-bin',
        bin,
      ]);
      expect(r.code).toBe(1);
      const last = r.stderr.trim().split('\n').at(-1)!;
      expect(last).toContain(`berthd: --temporal-ui-port ${port}: 127.0.0.1:${port} is already in use`);
      expect(last).toMatch(
        /embedded temporal exited during startup \(exited with code 1\); see \S+temporal\.log$/,
      );
      expect((await readFile(starts, 'utf8')).trim().split('\n')).toHaveLength(1);
      expect(await readFile(join(root, 'logs/temporal.log'), 'utf8')).toContain(`can't set UI port ${port}`);
    } finally {
      if (existsSync(holderPid)) {
        try {
          process.kill(Number(await readFile(holderPid, 'utf8')), 'SIGTERM');
        } catch {
          // already gone
        }
      }
    }
  });
});
