import { defineConfig } from 'vitest/config';

// The suites that run inside the cgroup v2 guest (test/cgroup-v2/vm.ts). Under software emulation
// everything is about ten times slower than on the host, so one file at a time and long timeouts.
export default defineConfig({
  test: {
    include: ['test/cgroup-v2/guest/**/*.guest-test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
