import { defineConfig } from 'vitest/config';

// Integration tests start real services (Temporal, NATS, registry, runc) and are
// heavy on a 2-core machine, so files run in at most two forked workers.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Removes the default CNI network's bridge and IPAM folder the run made (test/global-setup.ts).
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
  },
});
