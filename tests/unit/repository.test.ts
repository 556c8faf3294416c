// @vitest-environment node
// The repository stands on its own: no tracked file points outside it, and code and docs speak
// of the product, not of how the work on it was organised.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
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
