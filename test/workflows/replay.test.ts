/**
 * Replays recorded histories of every workflow against the current workflow bundle, so a change
 * that breaks determinism fails CI. Record fresh histories with `node scripts/record-histories.mjs`
 * when a workflow changes on purpose.
 */
import { TransitionRunner } from '../../src/daemon/transitions.js';
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { REPO } from '../helpers/berthd.js';

const dir = join(REPO, 'test/fixtures/histories');
const load = (file: string) => historyFromJSON(JSON.parse(readFileSync(join(dir, file), 'utf8')));
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
const workflowBundle = { codePath: join(REPO, 'dist/workflow-bundle.js') };

describe('workflow replay', () => {
  it('has a recorded history for every workflow the bundle exports', async () => {
    const exported = Object.keys(await import('../../src/workflows/index.js')).sort();
    const recorded = new Set(
      files.map((f) => load(f).events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name),
    );
    expect(exported.filter((name) => !recorded.has(name))).toEqual([]);
  });

  it.each(files)('replays %s against the current code', async (file) => {
    // berthd's sinks, so a workflow that calls one replays as it runs in berthd.
    const { sinks } = new TransitionRunner(
      () => {
        throw new Error('replay starts nothing');
      },
      'replay',
      'replay',
    );
    await Worker.runReplayHistory({ workflowBundle, sinks }, load(file), file);
  });

  it('fails when a workflow changes non-deterministically', { timeout: 120_000 }, async () => {
    const replay = Worker.runReplayHistory(
      { workflowsPath: join(REPO, 'test/fixtures/nondeterministic/workflows.ts') },
      load('demo-completed.json'),
      'demo-completed',
    );
    await expect(replay).rejects.toBeInstanceOf(DeterminismViolationError);
  });
});
