// @vitest-environment node
// Server-side rendering: importing the SDK where there is no window must work, and the
// tracker it gives must do nothing, quietly.
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

describe('without a window', () => {
  it('imports from source and returns an inert tracker', async () => {
    expect(typeof window).toBe('undefined')
    const { createTracker } = await import('../../src/index')
    const tracker = createTracker({ collector: 'https://c.example', writeKey: 'k' })
    tracker.track('E')
    tracker.identify('ada@example.com')
    expect(await tracker.flush()).toEqual({ sent: 0, pending: 0 })
    expect(tracker.user()).toEqual({ anonymousId: '' })
  })

  it.runIf(existsSync('dist/waymark.cjs'))('the built CommonJS and ESM files load in Node', async () => {
    const require = createRequire(import.meta.url)
    const cjs = require('../../dist/waymark.cjs')
    expect(cjs.createTracker({ collector: 'x', writeKey: 'k' }).user()).toEqual({ anonymousId: '' })
    const esm = await import('../../dist/waymark.mjs')
    expect(typeof esm.createTracker).toBe('function')
  })
})
