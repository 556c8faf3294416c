// A stand-in for `npm start` for the autotrack end-to-end tests: one 127.0.0.1 origin serving
// examples/ at /examples/, dist/ at /sdk/, and recording every POST /v1/batch (the example pages
// send to their own origin: data-collector=""). Browser helpers come from harness.mjs (read-only).
import { createServer, type Server } from 'node:http'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize } from 'node:path'
// @ts-expect-error plain ESM module without types
import { DIST, ROOT, launchChromium, waitFor } from './harness.mjs'

export { launchChromium, waitFor }

export interface SiteEvent {
  type: string
  event?: string
  name?: string
  anonymousId: string
  userId?: string
  properties?: Record<string, any>
  traits?: Record<string, any>
  context: Record<string, any>
  messageId: string
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.pdf': 'application/pdf',
  '.map': 'application/json',
}

export async function startSite() {
  const events: SiteEvent[] = []
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x')
    if (req.method === 'POST' && url.pathname === '/v1/batch') {
      const chunks: Buffer[] = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        const batch = JSON.parse(Buffer.concat(chunks).toString()).batch as SiteEvent[]
        events.push(...batch)
        res.writeHead(200, { 'Content-Type': 'application/json' })
        res.end(JSON.stringify({ accepted: batch.length, duplicates: 0, rejected: [] }))
      })
      return
    }
    const path = decodeURIComponent(url.pathname)
    const file = path.startsWith('/examples/')
      ? join(ROOT, 'examples', normalize(path.slice(10)))
      : path.startsWith('/sdk/')
        ? join(DIST, normalize(path.slice(5)))
        : ''
    readFile(file && !file.includes('..') ? file : '/nonexistent')
      .then((body) => {
        res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-store' })
        res.end(body)
      })
      .catch(() => {
        res.writeHead(404)
        res.end()
      })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  const named = (name: string) => events.filter((e) => e.event === name)
  return {
    origin,
    events,
    named,
    pages: () => events.filter((e) => e.type === 'page'),
    /** waits until `count` events match `test`, returns them */
    async waitFor(test: (e: SiteEvent) => boolean, count = 1, message = 'events') {
      return waitFor(() => {
        const found = events.filter(test)
        return found.length >= count && found
      }, { timeout: 15_000, message: `${message} (received: ${events.map((e) => e.event ?? e.type).join(', ') || 'nothing'})` }) as Promise<SiteEvent[]>
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** Sends what the page has queued now (flushInterval is 2 s otherwise). */
export const flush = (page: { evaluate: (fn: () => unknown) => Promise<unknown> }) =>
  page.evaluate(() => (window as any).waymark.flush())
