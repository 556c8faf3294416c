// Real-browser harness shared by the Chromium end-to-end tests (tests/browser/*.test.ts) and the
// SDK benchmark (bench/sdk.mjs). Plain ESM so that both vitest and bare `node` can import it.
//
// - launchChromium(): the Debian Chromium through playwright-core; never downloads a browser.
// - startStaticServer(): 127.0.0.1 ephemeral port serving dist/, the two runtime deps (for import
//   maps / baselines) and pages registered by the test.
// - startReceiver(): a Segment-compatible `POST /v1/batch` receiver on another ephemeral port that
//   records every request, dedupes nothing, can be told which status to answer, and can go
//   `down()` (stop listening, drop open sockets: connections are refused) and `up()` again on the
//   SAME port.
import { createServer } from 'node:http'
import { readFile, stat } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { dirname, extname, join, normalize, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const DIST = process.env.WAYMARK_DIST ? resolve(process.env.WAYMARK_DIST) : join(ROOT, 'dist')

export const CHROMIUM_PATH = process.env.WAYMARK_CHROMIUM || '/usr/bin/chromium'
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

// Test-only host names (subdomain cookie tests) resolve to loopback; nothing else changes.
export const TEST_DOMAIN = 'waymark.test'
export const HOST_RULES = `--host-resolver-rules=MAP *.${TEST_DOMAIN} 127.0.0.1`

export async function launchChromium(extraArgs = []) {
  // Never let playwright fetch a browser of its own.
  process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1'
  const { chromium } = await import('playwright-core')
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...extraArgs] })
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Poll `fn` until it returns a truthy value (returned) or the timeout passes (throws `message`, a string or a function giving one). */
export async function waitFor(fn, { timeout = 10_000, interval = 50, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout
  let last
  for (;;) {
    try {
      last = await fn()
      if (last) return last
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      const detail = typeof last === 'function' ? '' : ` (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`
      const what = typeof message === 'function' ? message() : message
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${detail}`)
    }
    await sleep(interval)
  }
}

/** Wait for `npm run build` output (the lead's build may still be running). */
export async function waitForDist(files = ['waymark.min.js', 'snippet.min.js'], timeout = 0) {
  const missing = () => files.filter((f) => !existsSync(join(DIST, f)))
  if (missing().length && timeout > 0) await waitFor(() => missing().length === 0, { timeout, interval: 1000, message: 'dist/' }).catch(() => {})
  const m = missing()
  if (m.length) throw new Error(`missing ${m.map((f) => join(DIST, f)).join(', ')}: run \`npm run build\` first`)
}

const TYPES = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
}

function listen(server, port = 0) {
  return new Promise((res, rej) => {
    const onErr = (e) => rej(e)
    server.once('error', onErr)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onErr)
      res(server.address().port)
    })
  })
}

function closeServer(server) {
  return new Promise((res) => {
    server.close(() => res())
    server.closeAllConnections?.()
  })
}

/**
 * Static server: `/dist/*` from DIST, `/node_modules/{idb-keyval,ulid}/*` from the repository,
 * pages added with `setPage(path, html)` and files with `setFile(path, file)`. `?delay=ms` on any
 * URL delays the answer (to make sure calls happen before the library arrives). `headers` are
 * added to every answer (the bench uses COOP/COEP for cross-origin isolation = 5 µs timers).
 */
export async function startStaticServer({ headers = {} } = {}) {
  const pages = new Map()
  const files = new Map()
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x')
    const delay = Number(url.searchParams.get('delay') || 0)
    if (delay > 0) await sleep(delay)
    const send = (status, body, type) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...headers })
      res.end(body)
    }
    try {
      const p = decodeURIComponent(url.pathname)
      if (pages.has(p)) return send(200, pages.get(p), TYPES['.html'])
      let file = files.get(p)
      if (!file && p.startsWith('/dist/')) file = join(DIST, normalize(p.slice(6)))
      else if (!file && /^\/node_modules\/(idb-keyval|ulid)\//.test(p)) file = join(ROOT, normalize(p.slice(1)))
      if (file && !file.includes('..') && (await stat(file).catch(() => null))?.isFile()) {
        return send(200, await readFile(file), TYPES[extname(file)] || 'application/octet-stream')
      }
      if (p === '/favicon.ico') return send(204, '', 'text/plain')
      send(404, `not found: ${p}`, 'text/plain')
    } catch (err) {
      send(500, String(err), 'text/plain')
    }
  })
  const port = await listen(server)
  const origin = `http://127.0.0.1:${port}`
  return {
    port,
    origin,
    url: (path) => origin + path,
    setPage(path, html) {
      pages.set(path, html)
      return origin + path
    },
    setFile(path, file) {
      files.set(path, file)
      return origin + path
    },
    close: () => closeServer(server),
  }
}

/**
 * Receiver for `POST /v1/batch`. Records every request in `requests` (method, path, headers,
 * contentType, raw body, parsed json, byte size, status answered, arrival time). Answers
 * `status` (default 200 with the Segment-style summary) with permissive CORS, so the SDK's
 * cross-origin simple request can read the answer.
 */
export async function startReceiver() {
  let server = null
  let port = 0
  const sockets = new Set()
  const rec = {
    requests: [],
    preflights: [],
    status: 200,
    /** extra headers for non-2xx answers (e.g. Retry-After) */
    errorHeaders: {},
    get port() {
      return port
    },
    get url() {
      return `http://127.0.0.1:${port}`
    },
    get isUp() {
      return !!server
    },
    setStatus(status, errorHeaders = {}) {
      rec.status = status
      rec.errorHeaders = errorHeaders
    },
    /** batch POSTs that were answered 2xx (what the SDK must treat as delivered) */
    batches({ acceptedOnly = true } = {}) {
      return rec.requests.filter((r) => r.method === 'POST' && r.path === '/v1/batch' && (!acceptedOnly || (r.status >= 200 && r.status < 300)))
    },
    /** accepted events named `name` (track: event, page: name) in arrival order */
    named(name, opts) {
      return rec.events(opts).filter((e) => e.event === name || (e.type === 'page' && e.name === name))
    },
    /** every event of every accepted batch, in arrival order, duplicates included */
    events(opts) {
      return rec.batches(opts).flatMap((r) => (Array.isArray(r.json?.batch) ? r.json.batch : []))
    },
    /** messageId -> number of accepted deliveries */
    deliveries(opts) {
      const m = new Map()
      for (const e of rec.events(opts)) m.set(e.messageId, (m.get(e.messageId) || 0) + 1)
      return m
    },
    duplicates(opts) {
      return [...rec.deliveries(opts)].filter(([, n]) => n > 1)
    },
    reset() {
      rec.requests.length = 0
      rec.preflights.length = 0
    },
    async up() {
      if (server) return
      server = createServer(handle)
      server.on('connection', (s) => {
        sockets.add(s)
        s.on('close', () => sockets.delete(s))
      })
      port = await listen(server, port)
    },
    async down() {
      if (!server) return
      const s = server
      server = null
      for (const sock of sockets) sock.destroy()
      await closeServer(s)
    },
    close: () => rec.down(),
  }

  const cors = {
    'Access-Control-Allow-Origin': '*',
    // Cross-origin, a client can read Retry-After only when it is exposed (as a real collector must).
    'Access-Control-Expose-Headers': 'Retry-After',
    'Access-Control-Allow-Methods': 'POST, OPTIONS',
    'Access-Control-Allow-Headers': '*',
    'Access-Control-Max-Age': '600',
    // lets no-cors beacons through a cross-origin-isolated (COEP) page as well
    'Cross-Origin-Resource-Policy': 'cross-origin',
  }

  function handle(req, res) {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url, 'http://x')
      if (req.method === 'OPTIONS') {
        rec.preflights.push({ path: url.pathname, headers: req.headers, at: Date.now() })
        res.writeHead(204, cors)
        return res.end()
      }
      const buf = Buffer.concat(chunks)
      const body = buf.toString('utf8')
      let json = null
      try {
        json = JSON.parse(body)
      } catch {}
      const status = url.pathname === '/v1/batch' && req.method === 'POST' ? rec.status : 404
      rec.requests.push({
        method: req.method,
        path: url.pathname,
        headers: req.headers,
        contentType: req.headers['content-type'] || '',
        body,
        bytes: buf.length,
        json,
        status,
        at: Date.now(),
      })
      if (status >= 200 && status < 300) {
        const n = Array.isArray(json?.batch) ? json.batch.length : 0
        res.writeHead(status, { ...cors, 'Content-Type': 'application/json' })
        res.end(JSON.stringify({ accepted: n, duplicates: 0, rejected: [] }))
      } else {
        res.writeHead(status, { ...cors, ...rec.errorHeaders, 'Content-Type': 'application/json' })
        res.end(JSON.stringify({ error: `receiver told to answer ${status}` }))
      }
    })
  }

  await rec.up()
  return rec
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')

/**
 * HTML of a page that uses the SDK the way a site owner does: the loader snippet inline, then the
 * async script tag with `data-` attributes. `beforeLoad` is inline JS run right after the snippet
 * (calls on the stub); `window.__wmStub` keeps the stub so tests can see it was replaced.
 */
export async function sdkPageHtml({ collector, writeKey = 'wk_test', attrs = {}, beforeLoad = '', title = 'Waymark test', scriptQuery = '', async = true, body = '' }) {
  const snippet = await readFile(join(DIST, 'snippet.min.js'), 'utf8')
  const data = { collector, 'write-key': writeKey, ...attrs }
  const dataAttrs = Object.entries(data)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => ` data-${k}="${esc(v)}"`)
    .join('')
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title>
<script>${snippet}</script>
<script>window.__wmStub = window.waymark;${beforeLoad}</script>
<script${async ? ' async' : ''} src="/dist/waymark.min.js${scriptQuery}"${dataAttrs}></script>
</head><body><h1>${esc(title)}</h1>${body}</body></html>`
}

/** Resolves once the real tracker replaced the loader stub. */
export async function sdkReady(page, timeout = 10_000) {
  await page.waitForFunction(
    () => {
      const w = window
      return !!w.waymark && w.waymark !== w.__wmStub && typeof w.waymark.user === 'function'
    },
    null,
    { timeout, polling: 25 },
  )
}

/**
 * Number of events in an IndexedDB object store, 0 when the database does not exist (never
 * creates it). The SDK stores events in chunks keyed [first messageId, count]: keys are summed.
 */
export function idbCount(page, db, store) {
  return page.evaluate(
    ([db, store]) =>
      new Promise((res) => {
        const r = indexedDB.open(db)
        r.onupgradeneeded = () => r.transaction.abort() // do not create the database
        r.onerror = (e) => {
          e.preventDefault?.()
          res(0)
        }
        r.onsuccess = () => {
          const d = r.result
          if (!d.objectStoreNames.contains(store)) {
            d.close()
            return res(0)
          }
          const c = d.transaction(store, 'readonly').objectStore(store).getAllKeys()
          c.onsuccess = () => {
            d.close()
            res(c.result.reduce((n, k) => n + (Array.isArray(k) ? k[1] : 1), 0))
          }
          c.onerror = () => {
            d.close()
            res(-1)
          }
        }
      }),
    [db, store],
  )
}

/** All [key, value] records of an IndexedDB object store ([] when it does not exist); event chunks
 * are expanded to one [messageId, event] entry per event. */
export function idbEntries(page, db, store) {
  return page.evaluate(
    ([db, store]) =>
      new Promise((res) => {
        const r = indexedDB.open(db)
        r.onupgradeneeded = () => r.transaction.abort()
        r.onerror = (e) => {
          e.preventDefault?.()
          res([])
        }
        r.onsuccess = () => {
          const d = r.result
          if (!d.objectStoreNames.contains(store)) {
            d.close()
            return res([])
          }
          const os = d.transaction(store, 'readonly').objectStore(store)
          const kq = os.getAllKeys()
          const vq = os.getAll()
          vq.onsuccess = () => {
            d.close()
            res(kq.result.flatMap((k, i) => (Array.isArray(vq.result[i]) ? vq.result[i].map((e) => [e.messageId, e]) : [[k, vq.result[i]]])))
          }
          vq.onerror = () => {
            d.close()
            res([])
          }
        }
      }),
    [db, store],
  )
}

export const ULID_RE = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/
