// @vitest-environment node
// Server-side rendering: importing the SDK where there is no window must work, and the
// tracker it gives must do nothing, quietly.
import { createRequire } from 'node:module'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { spawnSync } from 'node:child_process'
import nodeResolve from '@rollup/plugin-node-resolve'
import { rollup } from 'rollup'
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

  // Edge runtimes and workers have no window, and their bundlers pick the dependencies' browser
  // builds: nothing in those may run at import (ulid 2.x's ESM build made an id at import, and
  // threw there without a window).
  it.runIf(existsSync('dist/waymark.mjs'))('bundled with browser builds of its dependencies, it imports without a window', async () => {
    const bundle = await rollup({
      input: resolve('dist/waymark.mjs'),
      plugins: [nodeResolve({ browser: true, exportConditions: ['worker'] })],
    })
    const { output } = await bundle.generate({ format: 'es' })
    await bundle.close()
    const file = join(mkdtempSync(join(tmpdir(), 'waymark-ssr-')), 'edge.mjs')
    writeFileSync(file, output[0].code)
    // A fresh ES-module process: no window, no require (vitest's own globals would hide a crash).
    const probe = `import { createTracker } from ${JSON.stringify(pathToFileURL(file).href)}
      const tracker = createTracker({ collector: 'x', writeKey: 'k' }); tracker.track('E')
      console.log(JSON.stringify(tracker.user()))`
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' })
    expect(run.stderr).toBe('')
    expect(JSON.parse(run.stdout)).toEqual({ anonymousId: '' })
  })
})
