// Browser builds of the real third-party tracking libraries, for the compatibility pages of
// tests/browser/libraries.test.ts. Rollup (the project's bundler) turns each npm package into one
// script-tag file, the way a site bundles it: nothing is loaded from a CDN at run time.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import commonjs from '@rollup/plugin-commonjs'
import nodeResolve from '@rollup/plugin-node-resolve'
import { rollup } from 'rollup'
import { ROOT } from './harness.mjs'

/** Each library: its package entry and the global the page reads it from. */
export const LIBRARIES = {
  'analytics-next': { input: '@segment/analytics-next', name: 'SegmentAnalytics' },
  // The bundled build carries its plugins (XhrQueue, BeaconQueue…): the default build would
  // fetch them from RudderStack's plugin CDN.
  'rudderstack-v3': { input: '@rudderstack/analytics-js/bundled', name: 'RudderStackAnalytics' },
}

export const BUNDLE_DIR = join(ROOT, 'test-artifacts', 'libraries')

/** Builds every library into BUNDLE_DIR/<key>.js (an IIFE setting window[name]); returns the paths. */
export async function bundleLibraries(dir = BUNDLE_DIR) {
  mkdirSync(dir, { recursive: true })
  const files = {}
  for (const [key, { input, name }] of Object.entries(LIBRARIES)) {
    const bundle = await rollup({
      input,
      plugins: [nodeResolve({ browser: true, preferBuiltins: false }), commonjs()],
      onwarn(warning, warn) {
        // Their own `this` at module top and circular imports are theirs to keep.
        if (warning.code === 'THIS_IS_UNDEFINED' || warning.code === 'CIRCULAR_DEPENDENCY') return
        warn(warning)
      },
    })
    const file = join(dir, `${key}.js`)
    await bundle.write({ file, format: 'iife', name, inlineDynamicImports: true })
    await bundle.close()
    files[key] = file
  }
  return files
}
