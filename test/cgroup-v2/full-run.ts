/**
 * The full run on a cgroup v2 node, too slow for every CI run: Berth's runtime and sandbox suites
 * as they are, in the qemu guest of vm.ts. Prints each file's result, the failures and the time.
 * Usage: node dist/test/cgroup-v2/full-run.js [test files...]
 */
import { runInGuest } from './vm.js';

const run = await runInGuest({
  config: 'test/cgroup-v2/vitest.guest-full.config.ts',
  files: process.argv.slice(2),
  timeoutMs: 3 * 60 * 60_000,
  memoryMiB: 4096,
});
const report = run.report;
if (!report) {
  console.log(run.vitestLog.slice(-8000), run.console.slice(-4000));
  console.log(`cgroup v2 full run: no report after ${run.seconds.toFixed(0)} s`);
  process.exit(1);
}
for (const file of report.testResults) {
  const counts = new Map<string, number>();
  for (const a of file.assertionResults) counts.set(a.status, (counts.get(a.status) ?? 0) + 1);
  console.log(
    `${file.name.replace(/^.*?\/test\//, 'test/')}: ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}`,
  );
  for (const a of file.assertionResults.filter((x) => x.status === 'failed'))
    console.log(`  FAILED ${a.fullName}: ${(a.failureMessages[0] ?? '').split('\n')[0]}`);
}
console.log(
  `cgroup v2 full run: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests} skipped, of ${report.numTotalTests}, in ${run.seconds.toFixed(0)} s (boot included)`,
);
process.exit(run.exitCode === 0 ? 0 : 1);
