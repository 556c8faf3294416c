// The Journey page's marketing tables (contract/src/analytics-api.ts), added to the read API's
// instance so its admin-token check and error answers apply. Each reads sums the journey worker
// keeps; the journey is brought up to date first, as for /api/journey.
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import type { FastifyInstance } from 'fastify'
import type { Db } from '../db/schema.js'
import { parsePeriod } from '../journey/queries.js'
import { campaignReport, revenueReport, scoreDriversReport, segmentCtaReport, trendsReport } from '../journey/reports.js'
import type { JourneyWorker } from '../journey/worker.js'

const text = { type: 'string', maxLength: 1000 } as const
const PERIOD = { from: text, to: text } as const
const periodOnly = { type: 'object', properties: PERIOD } as const
const campaignsQuerystring = { type: 'object', properties: { ...PERIOD, touch: { type: 'string', enum: ['first', 'last'] } } } as const
const ctasQuerystring = { type: 'object', properties: { ...PERIOD, segment: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['segment'] } as const
const trendsQuerystring = { type: 'object', properties: { ...PERIOD, interval: { type: 'string', enum: ['day', 'week'] } } } as const

export function analyticsRoutes(plain: FastifyInstance, opts: { db: Db; journey: JourneyWorker; now?: () => number }): void {
  const app = plain.withTypeProvider<JsonSchemaToTsProvider>()
  const { db, journey } = opts
  const now = opts.now ?? Date.now

  // utm campaigns → visitors, leads, customers, revenue, rates, median times; by first or last touch.
  app.get('/api/journey/campaigns', { schema: { querystring: campaignsQuerystring } }, async (request) => {
    const period = parsePeriod(request.query.from, request.query.to)
    await journey.sync()
    return campaignReport(db, period, request.query.touch ?? 'first')
  })

  // The calls to action of one segment's members.
  app.get('/api/journey/ctas', { schema: { querystring: ctasQuerystring } }, async (request) => {
    const period = parsePeriod(request.query.from, request.query.to)
    await journey.sync()
    return segmentCtaReport(db, journey, period, request.query.segment)
  })

  // Each scoring rule's share of the points the leads hold.
  app.get('/api/journey/score', { schema: { querystring: periodOnly } }, async (request) => {
    const period = parsePeriod(request.query.from, request.query.to)
    await journey.sync()
    return scoreDriversReport(db, journey, period)
  })

  // Orders placed in the period: revenue per currency, average order value, repeat customers.
  app.get('/api/journey/revenue', { schema: { querystring: periodOnly } }, async (request) => {
    const period = parsePeriod(request.query.from, request.query.to)
    await journey.sync()
    return revenueReport(db, period)
  })

  // New visitors, leads (by stage now), customers and revenue per day or week.
  app.get('/api/journey/trends', { schema: { querystring: trendsQuerystring } }, async (request) => {
    const period = parsePeriod(request.query.from, request.query.to)
    await journey.sync()
    return trendsReport(db, journey, period, request.query.interval, now())
  })
}
