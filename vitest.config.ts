import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Headroom for a loaded machine (CI may share both cores with other work): tests wait on conditions,
    // so a generous limit costs nothing when things are fast.
    testTimeout: 240_000,
    hookTimeout: 300_000,
    // Tests share two database servers and one control plane on a 2-core machine.
    maxWorkers: 2,
  },
});
