// POST /v1/batch and the single-event endpoints (Segment HTTP Tracking API shape, docs/contract.md).
import { randomUUID } from 'node:crypto'
import { createGunzip, createInflate } from 'node:zlib'
import type { Transform } from 'node:stream'
import cors from '@fastify/cors'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import type { Store } from '../db/connect.js'
import { isUnavailable } from '../db/errors.js'
import type { EventType } from '../db/schema.js'
import { prepareEvent, type PreparedEvent, type RequestInfo } from '../ingest/normalize.js'
import { bodyFacts, readEnvelope, validateEvent, type BodyFacts } from '../ingest/validate.js'
import { DATABASE_REFUSED, GroupCommit } from '../ingest/write.js'
import { basicAuthUser, unavailable } from './http.js'
import { ingestLimits } from './ratelimit.js'

export interface Rejected {
  index: number
  messageId: string | null
  error: string
}

export interface IngestAnswer {
  accepted: number
  duplicates: number
  rejected: Rejected[]
}

const ENDPOINTS: Array<[string, EventType | null]> = [
  ['/v1/batch', null],
  ['/v1/import', null],
  ['/v1/track', 'track'],
  ['/v1/page', 'page'],
  ['/v1/screen', 'screen'],
  ['/v1/identify', 'identify'],
  ['/v1/alias', 'alias'],
  ['/v1/group', 'group'],
  // analytics.js 2 (@segment/analytics-next) posts to {apiHost}/ + the type's first letter, /b when batching.
  ['/v1/t', 'track'],
  ['/v1/p', 'page'],
  ['/v1/s', 'screen'],
  ['/v1/i', 'identify'],
  ['/v1/a', 'alias'],
  ['/v1/g', 'group'],
  ['/v1/b', null],
  // RudderStack's beacon mode (@rudderstack/analytics-js), the write key in the query string.
  ['/beacon/v1/batch', null],
]

export async function ingestRoutes(app: FastifyInstance, opts: { config: Config; store: Store }): Promise<void> {
  const { config, store } = opts
  const writeKeys = new Set(config.writeKeys)
  const limits = await ingestLimits(app, config)
  const writer = new GroupCommit(store)
  const bodies = new WeakMap<object, BodyFacts>()

  await app.register(cors, {
    // Unset = any origin (docs/contract.md, Collector start). Requests from other origins are refused below, not just
    // left without CORS headers: text/plain beacons skip preflight and would otherwise land.
    origin: config.allowedOrigins ?? true,
    methods: ['POST', 'OPTIONS'],
    // allowedHeaders unset: the preflight allows the headers it asks for. Libraries add their own
    // (X-Retry-Count, AnonymousId, SentAt, Rsa-Retry-*) and a list would refuse the next one;
    // nothing here relies on a header being unreadable across origins (no cookies are used).
    // Without this a browser SDK cannot read how long a 429 or 503 asks it to wait.
    exposedHeaders: ['Retry-After'],
    maxAge: 86400,
  })

  // Bodies are JSON whatever the Content-Type says: beacons send text/plain to avoid preflight.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: config.limits.requestBytes }, (req, body, done) => {
    const text = String(body)
    if (!/\S/.test(text)) return done(httpError(400, 'request body is empty'))
    try {
      const parsed: unknown = JSON.parse(text)
      bodies.set(req, bodyFacts(text))
      done(null, parsed)
    } catch (err) {
      done(httpError(400, `request body is not valid JSON: ${(err as Error).message}`))
    }
  })

  // Content-Encoding: gzip/deflate. The body limit then counts decompressed bytes (no zip bombs).
  app.addHook('preParsing', async (request, _reply, payload) => {
    const encoding = String(request.headers['content-encoding'] ?? 'identity').toLowerCase()
    if (encoding === 'identity') return payload
    let decoder: Transform
    if (encoding === 'gzip' || encoding === 'x-gzip') decoder = createGunzip()
    else if (encoding === 'deflate') decoder = createInflate()
    else throw httpError(415, `unsupported Content-Encoding "${encoding}"; use gzip, deflate or none`)
    const out = decoder as Transform & { receivedEncodedLength: number }
    out.receivedEncodedLength = 0
    payload.on('data', (chunk: Buffer) => (out.receivedEncodedLength += chunk.length))
    payload.on('error', (err) => out.destroy(err))
    decoder.on('error', (err: Error & { statusCode?: number }) => {
      err.statusCode = 400
      err.message = `request body could not be decompressed: ${err.message}`
    })
    return payload.pipe(out)
  })

  // Unknown write keys in the header are refused before the body is read.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'OPTIONS') return
    const origin = request.headers.origin
    if (config.allowedOrigins && origin && !config.allowedOrigins.includes(origin)) {
      // Readable by the refused page, so its developer sees why rather than a bare CORS error.
      return reply.code(403).header('access-control-allow-origin', origin).header('vary', 'Origin').send({ error: `origin ${origin} is not allowed to send events` })
    }
    const key = basicAuthUser(request.headers.authorization)
    if (key !== null && !writeKeys.has(key)) return reply.code(401).send({ error: 'unknown write key' })
    const wait = await limits.perClient(request)
    if (wait > 0) return reply.code(429).header('Retry-After', String(wait)).send({ error: 'rate limit exceeded for this client' })
  })

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status = err.statusCode ?? 500
    if (status >= 500) {
      request.log.error({ err }, 'ingest failed')
      return reply.code(500).send({ error: 'internal error' })
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send({ error: `request body is larger than ${config.limits.requestBytes} bytes` })
    }
    return reply.code(status).send({ error: err.message })
  })

  const handle = (single: EventType | null) => async (request: FastifyRequest, reply: FastifyReply) => {
    const envelope = readEnvelope(request.body, single, config.limits.requestBytes)
    if ('error' in envelope) return reply.code(envelope.status ?? 400).send({ error: envelope.error })
    const headerKey = basicAuthUser(request.headers.authorization)
    const writeKey = headerKey ?? envelope.writeKey ?? queryWriteKey(request.query)
    if (!writeKey) return reply.code(401).send({ error: 'missing write key: use Basic auth (writeKey:) or a writeKey field' })
    if (!writeKeys.has(writeKey)) return reply.code(401).send({ error: 'unknown write key' })
    const wait = await limits.perKey(request, writeKey)
    if (wait > 0) return reply.code(429).header('Retry-After', String(wait)).send({ error: 'rate limit exceeded for this write key' })

    const info: RequestInfo = {
      receivedAt: Date.now(),
      sentAt: envelope.sentAt,
      source: writeKey,
      ip: request.ip ?? null,
      userAgent: request.headers['user-agent'] ?? null,
      ipPolicy: config.ip,
    }
    const rejected: Rejected[] = []
    const prepared: PreparedEvent[] = []
    /** Position in the request of each prepared event, for `rejected[].index`. */
    const indexes: number[] = []
    const seen = new Set<string>()
    let duplicates = 0
    envelope.events.forEach((raw, index) => {
      const rawId = (raw as { messageId?: unknown } | null)?.messageId
      const messageId = typeof rawId === 'string' ? rawId : null
      try {
        const event = validateEvent(raw, config.limits.eventBytes, bodies.get(request))
        // No messageId from the client: it cannot be deduplicated, so give it a fresh one.
        const id = event.messageId ?? `srv-${randomUUID()}`
        if (seen.has(id)) {
          duplicates++
          return
        }
        seen.add(id)
        prepared.push(prepareEvent(event, id, info))
        indexes.push(index)
      } catch (err) {
        rejected.push({ index, messageId, error: (err as Error).message })
      }
    })
    if (prepared.length === 0 && rejected.length > 0) {
      logRejected(request, writeKey, rejected)
      return reply.code(400).send({ error: 'no valid events in request', accepted: 0, duplicates, rejected } satisfies IngestAnswer & { error: string })
    }
    try {
      const outcomes = await writer.write(prepared)
      let accepted = 0
      outcomes.forEach((outcome, i) => {
        if (outcome === 'stored') accepted++
        else if (outcome === 'duplicate') duplicates++
        else rejected.push({ index: indexes[i]!, messageId: prepared[i]!.row.message_id, error: outcome.error })
      })
      rejected.sort((a, b) => a.index - b.index)
      if (rejected.length > 0) logRejected(request, writeKey, rejected)
      const answer: IngestAnswer = { accepted, duplicates, rejected }
      // Nothing stored and something refused: the request as a whole failed.
      if (accepted === 0 && duplicates === 0 && rejected.length > 0) {
        return reply.code(400).send({ error: 'no event could be stored', ...answer })
      }
      return reply.code(200).send(answer)
    } catch (err) {
      if (isUnavailable(err)) {
        request.log.warn({ err }, 'database unavailable; asking client to retry')
        return unavailable(reply, { error: 'database unavailable, retry later; nothing from this request was acknowledged' })
      }
      throw err
    }
  }

  for (const [path, single] of ENDPOINTS) app.post(path, handle(single))
}

/** `?writeKey=`: RudderStack's beacons cannot set headers and do not put it in the body. */
function queryWriteKey(query: unknown): string | null {
  const value = (query as Record<string, unknown> | undefined)?.writeKey
  return typeof value === 'string' && value !== '' ? value : null
}

/**
 * The reason without the value it quotes (`userId "…" is a placeholder`): a quoted value or a
 * database message may carry an email or an address, which logs never hold.
 */
export function refusalReason(error: string): string {
  if (error.startsWith(DATABASE_REFUSED)) return DATABASE_REFUSED
  const open = error.indexOf('"')
  const close = error.lastIndexOf('"')
  return open === -1 || close === open ? error : `${error.slice(0, open)}"…"${error.slice(close + 1)}`
}

/** Refused events are logged at warn, counted by reason: a library that sees 200 reports nothing. */
function logRejected(request: FastifyRequest, writeKey: string, rejected: Rejected[]): void {
  const reasons: Record<string, number> = {}
  for (const r of rejected) {
    const reason = refusalReason(r.error)
    reasons[reason] = (reasons[reason] ?? 0) + 1
  }
  request.log.warn({ writeKey, rejected: rejected.length, reasons }, 'events refused')
}

function httpError(statusCode: number, message: string): Error & { statusCode: number } {
  return Object.assign(new Error(message), { statusCode })
}
