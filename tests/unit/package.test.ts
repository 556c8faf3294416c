// @vitest-environment node
// The npm contract: an SPA user gets the SDK and its two dependencies, nothing of the collector.
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { VERSION } from '../../src/version'

const pkg = JSON.parse(readFileSync('package.json', 'utf8'))

describe('the waymark package', () => {
  it('depends on idb-keyval only', () => {
    expect(Object.keys(pkg.dependencies)).toEqual(['idb-keyval'])
  })

  it('publishes dist and README only', () => {
    expect(pkg.files).toEqual(['dist', 'README.md'])
  })

  it('reports its own version on every event', () => {
    expect(VERSION).toBe(pkg.version)
  })

  it.each([
    ['node10', ts.ModuleResolutionKind.Node10],
    ['bundler', ts.ModuleResolutionKind.Bundler],
    ['nodenext', ts.ModuleResolutionKind.NodeNext],
  ])('types of waymark and waymark/autotrack resolve under moduleResolution %s', (_name, moduleResolution) => {
    const app = mkdtempSync(join(tmpdir(), 'waymark-types-'))
    try {
      mkdirSync(join(app, 'node_modules'))
      symlinkSync(resolve('.'), join(app, 'node_modules', 'waymark'), 'dir')
      const options = { moduleResolution, module: moduleResolution === ts.ModuleResolutionKind.NodeNext ? ts.ModuleKind.NodeNext : ts.ModuleKind.ESNext }
      const typesOf = (name: string) => {
        const found = ts.resolveModuleName(name, join(app, 'index.ts'), options, ts.sys).resolvedModule?.resolvedFileName
        return found && realpathSync(found)
      }
      expect(typesOf('waymark')).toBe(resolve('dist/waymark.d.ts'))
      expect(typesOf('waymark/autotrack')).toBe(resolve('dist/autotrack.d.ts'))
    } finally {
      rmSync(app, { recursive: true, force: true })
    }
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
