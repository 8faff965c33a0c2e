/**
 * Berth on a cgroup v2 node: boots the qemu guest of vm.ts and runs the guest suites
 * (test/cgroup-v2/guest) there. They run nowhere else: this host's cgroups are v1 and must stay so.
 */
import { describe, expect, it } from 'vitest';
import { runInGuest } from './vm.js';

describe('a cgroup v2 node (qemu guest)', () => {
  it(
    'passes the guest suites: limits, freeze, kill, OOM, stats, pod cgroups, no leaks',
    async () => {
      const run = await runInGuest({
        config: 'test/cgroup-v2/vitest.guest.config.ts',
        timeoutMs: 25 * 60_000,
      });
      const why = `guest vitest output:\n${run.vitestLog.slice(-6000)}\nconsole:\n${run.console.slice(-3000)}`;
      expect(run.exitCode, why).toBe(0);
      const report = run.report!;
      expect(report.numFailedTests, why).toBe(0);
      expect(report.numPendingTests + report.numTodoTests, 'nothing may be skipped in the guest').toBe(0);
      expect(report.numPassedTests).toBeGreaterThanOrEqual(6);
      console.log(
        `cgroup v2 guest: ${report.numPassedTests} tests passed in ${run.seconds.toFixed(0)} s (boot included)`,
      );
    },
    30 * 60_000,
  );
});
