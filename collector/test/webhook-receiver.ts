// A real HTTP receiver for webhook tests and the benchmark's shape: records every request and
// answers as the test says, by the delivery's id and attempt.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { Webhook } from 'standardwebhooks'

export interface Received {
  id: string
  headers: IncomingHttpHeaders
  body: string
  json: any
  /** What the receiver answered. */
  status: number
  /** The how-manieth request with this webhook-id (1 for the first). */
  attempt: number
  at: number
}

export type Answer = { status: number; headers?: Record<string, string>; body?: string }

export interface Receiver {
  url: string
  received: Received[]
  /** Decides each answer; 200 unless set. */
  answer: (r: Omit<Received, 'status'>, path: string) => Answer
  /** Requests answered 2xx, per webhook-id. */
  succeeded(): Map<string, number>
  close(): Promise<void>
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = []
  const counts = new Map<string, number>()
  const receiver: Receiver = {
    url: '',
    received,
    answer: () => ({ status: 200 }),
    succeeded: () => {
      const ok = new Map<string, number>()
      for (const r of received) if (r.status >= 200 && r.status < 300) ok.set(r.id, (ok.get(r.id) ?? 0) + 1)
      return ok
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = []
    req.on('data', (c: Buffer) => parts.push(c))
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('utf8')
      const id = String(req.headers['webhook-id'] ?? '')
      const attempt = (counts.get(id) ?? 0) + 1
      counts.set(id, attempt)
      let json: unknown = null
      try {
        json = JSON.parse(body)
      } catch {}
      const r = { id, headers: req.headers, body, json, attempt, at: Date.now() }
      const a = receiver.answer(r, req.url ?? '/')
      received.push({ ...r, status: a.status })
      res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers })
      res.end(a.body ?? (a.status < 300 ? 'ok' : 'no'))
    })
  })
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const address = server.address()
  receiver.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  return receiver
}

/** Verifies a request as a receiver would, with the standardwebhooks package; returns the body. */
export function verified(secret: string, r: Received): any {
  const h = r.headers
  return new Webhook(secret).verify(r.body, {
    'webhook-id': String(h['webhook-id']),
    'webhook-timestamp': String(h['webhook-timestamp']),
    'webhook-signature': String(h['webhook-signature']),
  })
}

/** Polls `check` until it returns a truthy value, or fails after `ms` with `what`. */
export async function until<T>(check: () => T | Promise<T>, what: string | (() => string), ms = 20_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
