// Read API (docs/contract.md, Read API). Every route needs the admin token; a write key is refused (it can
// only write: a write key can never read data).
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import type { Store } from '../db/connect.js'
import { isUnavailable } from '../db/errors.js'
import { eraseProfile, liveProfileId } from '../identity/graph.js'
import { checkSegment } from '../journey/config.js'
import { journeyReport, listPeople, parsePeriod, personJourney, segmentList } from '../journey/queries.js'
import { shareReport } from '../journey/shares.js'
import type { JourneyWorker } from '../journey/worker.js'
import { BadRequest } from '../lib/errors.js'
import { devicesPage } from '../read/devices.js'
import { getProfile, lookupProfile, parseKinds, timeline, type ProfileDetail } from '../read/profiles.js'
import type { WebhookSender } from '../webhooks/sender.js'
import { analyticsRoutes } from './analytics.js'
import { basicAuthUser, safeEqual, unavailable } from './http.js'
import { webhookRoutes } from './webhooks.js'

// The shapes of every query, path and body, checked by Fastify before a handler runs and typed
// for it by the type provider: a bad one is a 400 that names the field.
const text = { type: 'string', maxLength: 1000 } as const
const limit = (max: number) => ({ type: 'integer', minimum: 1, maximum: max }) as const
const byId = { type: 'object', properties: { id: { type: 'string', maxLength: 300 } }, required: ['id'] } as const
const PEOPLE_FIELDS = {
  q: text,
  stage: text,
  segment: text,
  identified: { type: 'string', enum: ['', 'true', 'false'] },
  sort: text,
  cursor: text,
  limit: limit(200),
} as const
const peopleQuerystring = { type: 'object', properties: PEOPLE_FIELDS } as const
/** `POST /api/profiles/search`'s body: the query of `GET /api/profiles` (an email stays out of URLs). */
const searchBody = {
  type: 'object',
  properties: PEOPLE_FIELDS,
  // Refused, not dropped: a misspelt field would otherwise widen the search without a word.
  propertyNames: { enum: Object.keys(PEOPLE_FIELDS) },
} as const
const timelineQuerystring = {
  type: 'object',
  properties: { cursor: text, limit: limit(500), order: { type: 'string', enum: ['asc', 'desc'] }, kinds: text },
} as const
const devicesQuerystring = { type: 'object', properties: { cursor: text, limit: limit(200) } } as const
const lookupQuerystring = { type: 'object', properties: { email: text, anonymousId: text, userId: text } } as const
const periodQuerystring = { type: 'object', properties: { from: text, to: text } } as const

const count = { type: 'integer', minimum: 0 } as const
const STATUS = {
  type: 'object',
  additionalProperties: false,
  required: ['lastEventId', 'readTo', 'backfills', 'stale'],
  properties: {
    lastEventId: count,
    readTo: count,
    backfills: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['done', 'total'], properties: { done: count, total: count } } },
    stale: count,
  },
} as const
const when = { type: ['string', 'null'] } as const
/** The share table's answer (contract ShareReport), serialized by this schema. */
const shareReportSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['period', 'rows', 'status'],
  properties: {
    period: { type: 'object', additionalProperties: false, required: ['from', 'to'], properties: { from: when, to: when } },
    rows: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['content', 'network', 'shares', 'referredVisits', 'people', 'becameKnown'],
        properties: { content: { type: 'string' }, network: { type: 'string' }, shares: count, referredVisits: count, people: count, becameKnown: count },
      },
    },
    status: STATUS,
  },
} as const

type PeopleQuery = { q?: string; stage?: string; segment?: string; identified?: string; sort?: string; cursor?: string; limit?: number }

/** API segments at most: each one is evaluated for every person the journey worker touches. */
const MAX_API_SEGMENTS = 100

export async function readRoutes(plain: FastifyInstance, opts: { config: Config; store: Store; journey: JourneyWorker; webhooks: WebhookSender }): Promise<void> {
  const app = plain.withTypeProvider<JsonSchemaToTsProvider>()
  const { config, store, journey } = opts
  const db = store.db
  const writeKeys = new Set(config.writeKeys)

  // A profile with its journey facts (stage, score and reasons, segments, devices).
  const withJourney = async (profile: ProfileDetail | null) => {
    if (!profile) return null
    await journey.sync()
    const j = await personJourney(db, journey, profile.id)
    return j ? { ...profile, stage: j.stage, journey: j } : { ...profile, journey: null }
  }

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

  // Query strings and ids are checked at the edge: a parameter given twice arrives as an array,
  // and PostgreSQL refuses NUL in text; past here either would be a 500.
  app.addHook('preValidation', async (request, reply) => {
    for (const [name, value] of Object.entries(request.query as Record<string, unknown>)) {
      if (typeof value !== 'string') throw new BadRequest(`${name} must be given once`)
      if (value.includes('\u0000')) throw new BadRequest(`${name} must not contain NUL`)
    }
    // No profile or segment id holds a NUL.
    if ((request.params as { id?: string }).id?.includes('\u0000')) return reply.code(404).send({ error: 'not found' })
  })

  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    if (err instanceof BadRequest) return reply.code(400).send({ error: err.message })
    if (isUnavailable(err)) {
      return unavailable(reply, { error: 'database unavailable, retry later' })
    }
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message })
    request.log.error({ err }, 'read API failed')
    return reply.code(500).send({ error: 'internal error' })
  })

  // Webhooks share the admin token, the checks above and the error answers.
  await app.register(webhookRoutes, opts)

  const peopleQuery = (q: PeopleQuery) => ({
    q: q.q,
    stage: q.stage || undefined,
    segment: q.segment || undefined,
    identified: q.identified || undefined,
    sort: q.sort || undefined,
    cursor: q.cursor,
    limit: q.limit ?? 50,
  })

  const people = async (q: ReturnType<typeof peopleQuery>) => {
    await journey.sync()
    return listPeople(db, store.dialect, journey, q)
  }

  app.get('/api/profiles', { schema: { querystring: peopleQuerystring } }, async (request) => people(peopleQuery(request.query)))

  // The same list, the query in a JSON body: a search term is often an email, and the viewer
  // keeps it out of request URLs (server and proxy logs, browser history).
  app.post('/api/profiles/search', {
    schema: { body: searchBody },
    // Ajv's coercion would turn ["a"] into "a": a list where one term belongs is refused first.
    preValidation: async (request) => {
      const body = request.body
      if (body && typeof body === 'object' && Object.values(body).some((v) => typeof v === 'object' && v !== null)) throw new BadRequest('search fields must be strings')
    },
  }, async (request) => {
    for (const [name, value] of Object.entries(request.body ?? {})) {
      if (typeof value === 'string' && value.includes('\u0000')) throw new BadRequest(`${name} must not contain NUL`)
    }
    return people(peopleQuery(request.body ?? {}))
  })

  app.get('/api/profiles/:id', { schema: { params: byId } }, async (request, reply) => {
    const profile = await withJourney(await getProfile(db, request.params.id))
    return profile ? { profile } : reply.code(404).send({ error: 'profile not found' })
  })

  app.get('/api/profiles/:id/timeline', { schema: { params: byId, querystring: timelineQuerystring } }, async (request, reply) => {
    const { cursor, limit = 50, order = 'desc', kinds } = request.query
    const asked = parseKinds(kinds)
    // Devices linked later are read from what the journey worker keeps: up to date first.
    await journey.sync()
    const result = await timeline(db, request.params.id, { cursor, limit, order, kinds: asked })
    return result ?? reply.code(404).send({ error: 'profile not found' })
  })

  // A person's devices a page at a time: the profile lists only the most recent.
  app.get('/api/profiles/:id/devices', { schema: { params: byId, querystring: devicesQuerystring } }, async (request, reply) => {
    const { cursor, limit = 50 } = request.query
    const result = await devicesPage(db, request.params.id, { cursor, limit })
    return result ?? reply.code(404).send({ error: 'profile not found' })
  })

  app.get('/api/lookup', { schema: { querystring: lookupQuerystring } }, async (request, reply) => {
    const profile = await withJourney(await lookupProfile(db, request.query))
    return profile ? { profile } : reply.code(404).send({ error: 'no profile has this identifier' })
  })

  app.delete('/api/profiles/:id', { schema: { params: byId } }, async (request, reply) => {
    const id = request.params.id
    const erased = await store.transaction(async (trx) => {
      const live = await liveProfileId(trx, id)
      const keys = live ? (await trx.selectFrom('identifiers').select('key').where('profile_id', '=', live).execute()).map((r) => r.key) : []
      const done = await eraseProfile(trx, store.dialect, id)
      // The person leaves the journey tables in the same transaction.
      if (done) await journey.forget(trx, done.profileId, keys)
      return done
    })
    return erased ? { erased } : reply.code(404).send({ error: 'profile not found' })
  })

  // The journey: stages with anonymous visitors first, conversion, tables; `status` says how
  // far the analytics are behind the events.
  app.get('/api/journey', { schema: { querystring: periodQuerystring } }, async (request) => {
    const period = parsePeriod(request.query.from, request.query.to)
    await journey.sync()
    return journeyReport(db, journey, period)
  })

  analyticsRoutes(app, { db, journey })
  // Shares by content and network, the visits their links brought, the people who became known.
  app.get('/api/journey/shares', { schema: { querystring: periodQuerystring, response: { 200: shareReportSchema } } }, async (request) => {
    const period = parsePeriod(request.query.from, request.query.to)
    await journey.sync()
    return shareReport(db, journey, period)
  })

  app.get('/api/segments', async () => {
    await journey.sync()
    return { segments: await segmentList(db, journey) }
  })

  // Segments defined through the API are stored; config-file segments are read-only here.
  app.post('/api/segments', async (request, reply) => {
    await journey.sync()
    const body = request.body
    const taken = new Set(journey.segments().map((s) => s.id))
    let seg
    try {
      seg = checkSegment(body, 'segment', config.journey.stages.map((s) => s.id), new Set())
    } catch (err) {
      throw new BadRequest((err as Error).message)
    }
    if (taken.has(seg.id)) return reply.code(409).send({ error: `segment "${seg.id}" already exists` })
    if (journey.segments().filter((s) => s.origin === 'api').length >= MAX_API_SEGMENTS) {
      throw new BadRequest(`at most ${MAX_API_SEGMENTS} segments can be created through the API; delete one first`)
    }
    // Writes go through store.transaction: on SQLite it waits its turn off the event loop.
    const inserted = await store.transaction((trx) =>
      trx
        .insertInto('segments')
        .values({ id: seg.id, name: seg.name, description: seg.description ?? null, definition: JSON.stringify(seg.when), created_at: Date.now() })
        .onConflict((oc) => oc.column('id').doNothing())
        .executeTakeFirst(),
    )
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return reply.code(409).send({ error: `segment "${seg.id}" already exists` })
    // The next step takes the new segment in (and fills in its facts when it needs new ones).
    await journey.sync()
    return reply.code(201).send({ segment: (await segmentList(db, journey)).find((s) => s.id === seg.id) })
  })

  app.delete('/api/segments/:id', { schema: { params: byId } }, async (request, reply) => {
    const id = request.params.id
    await journey.sync()
    const seg = journey.segments().find((s) => s.id === id)
    if (!seg) return reply.code(404).send({ error: `unknown segment "${id}"` })
    if (seg.origin !== 'api') return reply.code(409).send({ error: `segment "${id}" is defined in the journey config file; change it there` })
    await store.transaction((trx) => trx.deleteFrom('segments').where('id', '=', id).execute())
    await journey.sync()
    return { deleted: id }
  })

  app.get('/api/segments/:id/profiles', { schema: { params: byId, querystring: peopleQuerystring } }, async (request, reply) => {
    const id = request.params.id
    await journey.sync()
    if (!journey.segments().some((s) => s.id === id)) return reply.code(404).send({ error: `unknown segment "${id}"` })
    return people({ ...peopleQuery(request.query), segment: id })
  })
}
