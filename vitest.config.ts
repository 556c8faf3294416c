import { defineConfig } from 'vitest/config'

// One `vitest run` covers the whole repository: the SDK's unit tests on both DOM
// emulations, the real-Chromium end-to-end tests, and the collector against real databases.
const unit = (environment: 'jsdom' | 'happy-dom') => ({
  test: {
    name: `unit-${environment}`,
    environment,
    include: ['tests/unit/**/*.test.ts'],
    setupFiles: ['tests/unit/setup.ts'],
  },
})

export default defineConfig({
  test: {
    // CI also keeps a machine-readable record, from which .ci/run prints its summary line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-artifacts/results.json' },
    projects: [
      unit('jsdom'),
      unit('happy-dom'),
      {
        test: {
          name: 'browser',
          environment: 'node',
          include: ['tests/browser/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'collector',
          environment: 'node',
          include: ['collector/test/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
})
