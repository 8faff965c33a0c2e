import { defineConfig } from 'vitest/config';

// The documented full run in the cgroup v2 guest (node dist/test/cgroup-v2/full-run.js): the
// runtime and sandbox suites as they are, one file at a time, with the guest's long timeouts.
export default defineConfig({
  test: {
    include: [
      'test/runtime/**/*.test.ts',
      'test/sandbox/**/*.test.ts',
      'test/cgroup-v2/guest/**/*.guest-test.ts',
    ],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
