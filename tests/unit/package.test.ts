// @vitest-environment node
// The npm contract: an SPA user gets the SDK and its two dependencies, nothing of the collector.
import { readFileSync } from 'node:fs'
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
