#!/usr/bin/env node
// Records a fresh history of every workflow into test/fixtures/histories/, for the replay tests.
// Run it (after the build) when a workflow changes on purpose:
//   node scripts/record-histories.mjs
// It overwrites <name>.json. When the change is guarded by patched() (runs recorded before it must
// still replay), first keep the old history as <name>.vN.json: the replay test replays every file.
// It starts the built berthd with test hooks on a temporary root, runs each workflow once through
// the API, and saves each run's history as JSON.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { ApiClient } from '../dist/src/api/client.js';
import { prepareImageHistories } from './record-image-histories.mjs';
import { prepareContainerHistories } from './record-container-histories.mjs';
import { prepareSandboxHistories } from './record-sandbox-histories.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(repo, 'test/fixtures/histories');
const base = await mkdtemp(join(tmpdir(), 'berth-record-'));
const socket = join(base, 'state/berth.sock');
const nodeId = 'record';
const only = process.env.BERTH_RECORD_ONLY?.split(',');
const images = await prepareImageHistories(base);
// Adds its registry to <base>/registries.json (berthd's registry config; see record-image-histories).
const containers = await prepareContainerHistories(base, join(base, 'registries.json'));
const sandboxes = prepareSandboxHistories(base, containers.image);
const berthd = spawn(
  process.execPath,
  [
    join(repo, 'dist/src/daemon/main.js'),
    '--root',
    join(base, 'root'),
    '--state',
    join(base, 'state'),
    '--node-id',
    nodeId,
    '--log-level',
    'warn',
  ],
  {
    env: { ...process.env, BERTH_TEST_HOOKS: '1', PATH: `${join(repo, '.tools/bin')}:${process.env.PATH}` },
    stdio: 'inherit',
  },
);
try {
  const api = new ApiClient(socket);
  for (let i = 0; ; i++) {
    if (existsSync(socket)) break;
    if (i > 1200 || berthd.exitCode !== null) throw new Error('berthd did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  const info = await api.get('/v1/info');
  const address = info.services[0].address;
  // The temporal CLI writes histories in the JSON form every Temporal tool (and historyFromJSON) reads.
  const historyJson = (workflowId, runId) =>
    execFileSync(join(repo, '.tools/bin/temporal'), [
      'workflow',
      'show',
      '--address',
      address,
      '--output',
      'json',
      '--workflow-id',
      workflowId,
      ...(runId ? ['--run-id', runId] : []),
    ]);
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const runs = [
    {
      name: 'demo-completed',
      workflowId: 'demo:record-ok',
      run: () => api.post('/v1/test/demo', { id: 'record-ok' }),
    },
    {
      name: 'demo-compensated',
      workflowId: 'demo:record-undo',
      run: () => api.post('/v1/test/demo', { id: 'record-undo', refuseAt: 'publish' }).catch(() => undefined),
    },
  ];
  const noop = (local) => async () => {
    await client.workflow.execute('noopTransition', {
      taskQueue: `berth.${nodeId}`,
      workflowId: `noop:${local}`,
      args: [local],
    });
  };
  runs.push({ name: 'noop-activity', workflowId: 'noop:false', run: noop(false) });
  runs.push({ name: 'noop-local-activity', workflowId: 'noop:true', run: noop(true) });
  runs.push(...images.runs(api));
  runs.push(...containers.runs(api));
  runs.push(...sandboxes.runs(api));
  for (const r of runs) {
    await r.run();
    // Ids of later steps (a container's) are known only once earlier runs finished.
    const workflowId = typeof r.workflowId === 'function' ? r.workflowId() : r.workflowId;
    // BERTH_RECORD_ONLY=name,…: every run still happens (later ones need earlier ones), only these are saved.
    if (only && !only.includes(r.name)) continue;
    await writeFile(join(out, `${r.name}.json`), historyJson(workflowId));
    console.log(`recorded ${r.name}`);
  }
  // node:info runs under a generated id: find the one berthd ran at start-up.
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'nodeInfo'` })) {
    if (only && !only.includes('node-info')) break;
    await writeFile(join(out, 'node-info.json'), historyJson(wf.workflowId, wf.runId));
    console.log('recorded node-info');
    break;
  }
  await connection.close();
} finally {
  berthd.kill('SIGTERM');
  await new Promise((r) => berthd.once('exit', r));
  await images.stop();
  await containers.stop();
  await sandboxes.stop();
  await rm(base, { recursive: true, force: true });
}
