// What the collector serves besides the APIs: examples, the SDK build, health, the /ui slot.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { connect } from 'node:net'
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

  it('answers /favicon.ico, and every answer says nosniff', async () => {
    const icon = await fetch(`${c.url}/favicon.ico`)
    expect(icon.status).toBe(204)
    for (const path of ['/favicon.ico', '/health', '/api/profiles', '/v1/batch', '/no-such-page']) {
      const r = await fetch(c.url + path)
      expect(r.headers.get('x-content-type-options'), path).toBe('nosniff')
    }
  })

  it('answers 408 to a request whose body never arrives, and keeps serving others', async () => {
    const slow = await startTestCollector('sqlite', { WAYMARK_REQUEST_TIMEOUT_MS: '300' })
    try {
      const { port } = new URL(slow.url)
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => {
          // Headers promise 100 bytes; only 10 come.
          socket.write('POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"batch":[')
        })
        let text = ''
        socket.setEncoding('utf8').on('data', (d) => (text += d))
        socket.on('close', () => resolve(text))
        socket.on('error', reject)
      })
      expect(answer).toMatch(/^HTTP\/1\.1 408/)
      expect((await fetch(`${slow.url}/health`)).status).toBe(200)
    } finally {
      await slow.stop()
    }
  })
})
