// Lets the collector's suite run on its own: `npx vitest run --config collector/vitest.config.ts`.
// The root vitest.config.ts runs the same files as the `collector` project.
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    name: 'collector',
    root: new URL('.', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
})
