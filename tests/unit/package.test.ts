// @vitest-environment node
// The npm contract: an SPA user gets the SDK and its two dependencies, nothing of the collector.
import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { VERSION } from '../../src/version'

const pkg = JSON.parse(readFileSync('package.json', 'utf8'))

describe('the waymark package', () => {
  it('depends on idb-keyval and ulid only', () => {
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['idb-keyval', 'ulid'])
  })

  it('publishes dist and README only', () => {
    expect(pkg.files).toEqual(['dist', 'README.md'])
  })

  it('reports its own version on every event', () => {
    expect(VERSION).toBe(pkg.version)
  })
})

// The loader snippet is pasted, not imported: the README and every example page carry a copy
// (as a site owner's pages do). They must be the snippet the build makes, not a stale one.
describe('the pasted loader snippet', () => {
  const snippet = readFileSync('dist/snippet.min.js', 'utf8').trim()
  const pages = readdirSync('examples').filter((f) => f.endsWith('.html')).map((f) => `examples/${f}`)
  it.each(['README.md', ...pages])('%s carries the built snippet', (file) => {
    expect(readFileSync(file, 'utf8')).toContain(snippet)
  })
})
