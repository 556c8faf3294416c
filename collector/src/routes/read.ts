// Read API (SPEC §6). Every route needs the admin token; a write key is refused (it can
// only write — SPEC: "a write key can never read data").
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import type { Store } from '../db/connect.js'
import { isUnavailable } from '../db/errors.js'
import { eraseProfile } from '../identity/graph.js'
import {
  BadRequest,
  SEGMENTS,
  getProfile,
  journeyCounts,
  listProfiles,
  lookupProfile,
  timeline,
} from '../read/profiles.js'
import { basicAuthUser, safeEqual, UNAVAILABLE_RETRY_AFTER } from './ingest.js'

type Query = Record<string, string | undefined>

function limitOf(value: string | undefined, fallback: number, max: number): number {
  if (value === undefined || value === '') return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > max) throw new BadRequest(`limit must be an integer in 1..${max}`)
  return n
}

export async function readRoutes(app: FastifyInstance, opts: { config: Config; store: Store }): Promise<void> {
  const { config, store } = opts
  const db = store.db
  const writeKeys = new Set(config.writeKeys)

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? ''
    const bearer = /^Bearer\s+(\S+)$/i.exec(header)?.[1]
    if (bearer && safeEqual(bearer, config.adminToken)) return
    const presented = bearer ?? basicAuthUser(header)
    if (presented && writeKeys.has(presented)) {
      return reply.code(403).send({ error: 'a write key cannot read data; use the admin token' })
    }
    return reply
      .code(401)
      .header('WWW-Authenticate', 'Bearer')
      .send({ error: presented ? 'invalid admin token' : 'admin token required: Authorization: Bearer <token>' })
  })

  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    if (err instanceof BadRequest) return reply.code(400).send({ error: err.message })
    if (isUnavailable(err)) {
      return reply.code(503).header('Retry-After', String(UNAVAILABLE_RETRY_AFTER)).send({ error: 'database unavailable, retry later' })
    }
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message })
    request.log.error({ err }, 'read API failed')
    return reply.code(500).send({ error: 'internal error' })
  })

  app.get('/api/profiles', async (request) => {
    const q = request.query as Query
    return listProfiles(db, { q: q.q, stage: q.stage, segment: q.segment, cursor: q.cursor, limit: limitOf(q.limit, 50, 200) })
  })

  app.get('/api/profiles/:id', async (request, reply) => {
    const profile = await getProfile(db, (request.params as { id: string }).id)
    return profile ? { profile } : reply.code(404).send({ error: 'profile not found' })
  })

  app.get('/api/profiles/:id/timeline', async (request, reply) => {
    const q = request.query as Query
    const order = q.order ?? 'desc'
    if (order !== 'asc' && order !== 'desc') throw new BadRequest('order must be asc or desc')
    const result = await timeline(db, (request.params as { id: string }).id, { cursor: q.cursor, limit: limitOf(q.limit, 50, 500), order })
    return result ?? reply.code(404).send({ error: 'profile not found' })
  })

  app.get('/api/lookup', async (request, reply) => {
    const q = request.query as Query
    const profile = await lookupProfile(db, { email: q.email, anonymousId: q.anonymousId, userId: q.userId })
    return profile ? { profile } : reply.code(404).send({ error: 'no profile has this identifier' })
  })

  app.delete('/api/profiles/:id', async (request, reply) => {
    const id = (request.params as { id: string }).id
    const erased = await store.transaction((trx) => eraseProfile(trx, store.dialect, id))
    return erased ? { erased } : reply.code(404).send({ error: 'profile not found' })
  })

  // Journey stages and segments belong to the journey-model issue. Until then the only stages
  // the collector can state truthfully are "anonymous" and "known"; the answer says so.
  app.get('/api/journey', async () => ({
    model: 'identification',
    stages: await journeyCounts(db),
  }))

  app.get('/api/segments', async () => ({ segments: SEGMENTS }))

  app.get('/api/segments/:id/profiles', async (request, reply) => {
    const id = (request.params as { id: string }).id
    if (!SEGMENTS.some((s) => s.id === id)) return reply.code(404).send({ error: `unknown segment "${id}"` })
    const q = request.query as Query
    return listProfiles(db, { q: q.q, segment: id, cursor: q.cursor, limit: limitOf(q.limit, 50, 200) })
  })
}
