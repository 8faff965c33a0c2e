/**
 * Test-only crash points, active only when the process runs with BERTH_TEST_HOOKS=1 (never in
 * production): BERTH_TEST_CRASH_AT="<point>[,...]" makes the process SIGKILL itself on reaching
 * each of those points, once each per root (a marker file under the root remembers), so crash
 * tests can prove a transition resumes from there and completes exactly once.
 *
 * Points are activity boundaries (`<activityType>:before|after`, see daemon/test-hooks.ts) and
 * named places inside a step where the node has changed but the log not yet:
 * `sandboxAttachNetwork:attached` (CNI ADD done, the sandbox record not), `unpack:applied` (a
 * layer written into its active snapshot, not committed), `unpack:committed` (the snapshot
 * committed, `/snapshot/commit` not recorded), `snapshot:commit-written` (inside the snapshotter's
 * commit: the committed record written, the active one not yet removed), `gc:removed` (content and snapshots removed, their
 * removal not recorded), `task:recorded` (task.json written, conmon not started) and
 * `task:created` (the runtime created the container, the create step not finished).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function testHooksEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.BERTH_TEST_HOOKS === '1';
}

export function armedCrashPoints(env: NodeJS.ProcessEnv = process.env): string[] {
  if (!testHooksEnabled(env)) return [];
  return (env.BERTH_TEST_CRASH_AT ?? '').split(',').filter(Boolean);
}

/** SIGKILLs this process at `point` if it is armed and has not fired on this root before. */
export function crashPoint(root: string, point: string, armed: readonly string[] = armedCrashPoints()): void {
  if (!armed.includes(point)) return;
  const marker = crashMarker(root, point);
  if (existsSync(marker)) return; // already crashed here once on this root
  mkdirSync(join(root, 'test-hooks'), { recursive: true });
  writeFileSync(marker, '');
  process.kill(process.pid, 'SIGKILL');
}

/** The file that records that the process crashed at `point` on this root. */
export function crashMarker(root: string, point: string): string {
  return join(root, 'test-hooks', `crashed-${point.replace(/[^a-zA-Z0-9-]/g, '_')}`);
}
