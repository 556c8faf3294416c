// @vitest-environment node
// The repository stands on its own: no tracked file points outside it, and code and docs speak
// of the product, not of how the work on it was organised.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'

const tracked = execFileSync('git', ['ls-files', '-z'], { encoding: 'utf8' })
  .split('\0')
  .filter((f) => f && !f.endsWith('package-lock.json') && !/\.(png|jpe?g|gif|ico|woff2?)$/.test(f))

// Written in pieces so that this file does not match itself.
const FORBIDDEN: Array<[string, RegExp]> = [
  ['a path outside the repository', new RegExp(['\\.\\.', 'shared'].join('/'))],
  ['a work round', new RegExp(['this', 'round'].join(' '), 'i')],
  ['"issue N"', new RegExp(`\\b${'iss'}ue #?\\d`, 'i')],
  ['a section of an outside spec', new RegExp(`${'SP'}EC\\s*§`)],
]

describe('tracked files', () => {
  it('name nothing outside the repository and no work items', () => {
    const found: string[] = []
    for (const file of tracked) {
      let text: string
      try {
        text = readFileSync(file, 'utf8')
      } catch {
        continue // listed but deleted in the work tree
      }
      text.split('\n').forEach((line, i) => {
        for (const [what, pattern] of FORBIDDEN) if (pattern.test(line)) found.push(`${file}:${i + 1} ${what}: ${line.trim().slice(0, 120)}`)
      })
    }
    expect(found).toEqual([])
  })

  it('is a check that can fail', () => {
    const samples = [['see ..', 'shared/X.md'].join('/'), ['as this', 'round showed'].join(' '), 'fixes Iss' + 'ue 12', 'SP' + 'EC §4']
    const hits = samples.filter((line) => FORBIDDEN.some(([, p]) => p.test(line)))
    expect(hits).toHaveLength(4)
  })
})

// The layout is the architecture: a module imports from its own part or from parts below it,
// never above, and no two modules import each other in a circle.
// SDK: public API → core → platform adapters. Collector: routes → webhooks → ingest | journey →
// read → identity → db → lib.
const LAYERS: Record<string, Array<[group: string, layer: number]>> = {
  src: [
    ['api', 0], // index.ts, browser.ts, tracker.ts, autotrack/
    ['core', 1],
    ['platform', 2],
    ['types', 3], // types.ts, version.ts
  ],
  'collector/src': [
    ['app', 0], // cli.ts, server.ts, config.ts
    ['routes', 1],
    ['webhooks', 2], // acts on the journey's changes
    ['ingest', 3],
    ['journey', 3],
    ['read', 4],
    ['identity', 5],
    ['db', 6],
    ['lib', 7],
  ],
}

function groupOf(root: string, file: string): [string, number] {
  const rel = file.slice(root.length + 1)
  const dir = rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : null
  const group = dir ?? (root === 'src' ? (/^(types|version)\.ts$/.test(rel) ? 'types' : 'api') : 'app')
  const name = group === 'autotrack' ? 'api' : group
  const found = LAYERS[root]!.find(([g]) => g === name)
  if (!found) throw new Error(`${file}: no layer for "${name}"`)
  return found
}

interface Import {
  target: string
  typeOnly: boolean
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8')
  const out: Import[] = []
  for (const m of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'(\.[^']+)'/gm)) {
    const spec = m[2]!
    const base = join(dirname(file), spec).replace(/\.js$/, '')
    const target = [`${base}.ts`, join(base, 'index.ts')].find((f) => existsSync(f))
    if (target) out.push({ target, typeOnly: !!m[1] })
  }
  return out
}

describe.each(Object.keys(LAYERS))('layers of %s', (root) => {
  const files = tracked.filter((f) => f.startsWith(`${root}/`) && f.endsWith('.ts') && existsSync(f))

  it('no module imports from a layer above its own', () => {
    const wrong: string[] = []
    for (const file of files) {
      const [group, layer] = groupOf(root, file)
      for (const { target, typeOnly } of importsOf(file)) {
        if (!target.startsWith(`${root}/`)) continue
        const [tGroup, tLayer] = groupOf(root, target)
        // The configuration's type is handed down to every layer; its code is not.
        if (typeOnly && target === 'collector/src/config.ts') continue
        if (tGroup !== group && tLayer <= layer) wrong.push(`${file} (${group}) imports ${target} (${tGroup})`)
      }
    }
    expect(wrong).toEqual([])
  })

  it('no import circle', () => {
    const graph = new Map(files.map((f) => [f, importsOf(f).map((i) => i.target)]))
    const circles: string[] = []
    const state = new Map<string, 'open' | 'done'>()
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return
      if (state.get(file) === 'open') return void circles.push([...path.slice(path.indexOf(file)), file].join(' → '))
      state.set(file, 'open')
      for (const next of graph.get(file) ?? []) visit(next, [...path, file])
      state.set(file, 'done')
    }
    for (const file of files) visit(file, [])
    expect(circles).toEqual([])
  })
})
