// What the collector serves besides the APIs: examples, the SDK build, health, the /ui slot.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCollector, type TestCollector } from './helpers.js'

describe('static files and service routes', () => {
  let c: TestCollector
  let examples: string
  beforeAll(async () => {
    examples = mkdtempSync(join(tmpdir(), 'waymark-examples-'))
    writeFileSync(join(examples, 'index.html'), '<h1>example site</h1>')
    writeFileSync(join(examples, 'viewer.js'), '/* viewer */')
    c = await startTestCollector('sqlite', { WAYMARK_EXAMPLES_DIR: examples, WAYMARK_SDK_DIR: join(examples, 'no-such-dir'), WAYMARK_UI_DIR: examples })
  })
  afterAll(async () => {
    await c?.stop()
    rmSync(examples, { recursive: true, force: true })
  })

  it('serves the examples folder at /examples/', async () => {
    const r = await fetch(`${c.url}/examples/`)
    expect(r.status).toBe(200)
    expect(await r.text()).toBe('<h1>example site</h1>')
  })

  it('says clearly when the SDK is not built instead of failing', async () => {
    const r = await fetch(`${c.url}/sdk/waymark.min.js`)
    expect(r.status).toBe(404)
    expect((await r.json()).error).toMatch(/not built yet/)
  })

  it('reports health with the database it uses', async () => {
    const r = await fetch(`${c.url}/health`)
    expect(await r.json()).toEqual({ ok: true, database: 'sqlite' })
  })

  it('serves the viewer page at /ui with a strict CSP, and its bundle from WAYMARK_UI_DIR', async () => {
    const r = await fetch(`${c.url}/ui`)
    expect(r.status).toBe(200)
    expect(r.headers.get('content-security-policy')).toMatch(/script-src 'self';/)
    expect(await r.text()).toContain('<script src="/ui/viewer.js" defer></script>')
    const js = await fetch(`${c.url}/ui/viewer.js`)
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toMatch(/javascript/)
    expect(await js.text()).toBe('/* viewer */')
  })

  it('says clearly when the viewer is not built', async () => {
    const other = await startTestCollector('sqlite', { WAYMARK_UI_DIR: join(examples, 'no-such-dir') })
    try {
      const r = await fetch(`${other.url}/ui/viewer.js`)
      expect(r.status).toBe(404)
      expect((await r.json()).error).toMatch(/not built/)
    } finally {
      await other.stop()
    }
  })
})
