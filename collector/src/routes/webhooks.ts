// /api/webhooks: subscriptions, their deliveries, and resending one. Registered inside the read
// API, so the admin token guards every route and errors answer as the read API's do.
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { WEBHOOK_LIMITS, WEBHOOK_TRIGGERS } from '@waymark/contract'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config.js'
import type { Store } from '../db/connect.js'
import type { JourneyWorker } from '../journey/worker.js'
import { BadRequest } from '../lib/errors.js'
import { deliveriesPage, deliveryById } from '../webhooks/deliveries.js'
import { checkSecret, checkTargetUrl, checkTriggers, WebhookError } from '../webhooks/model.js'
import { resend } from '../webhooks/outbox.js'
import type { WebhookSender } from '../webhooks/sender.js'
import { createSubscription, deleteSubscription, getSubscription, listSubscriptions } from '../webhooks/subscriptions.js'
import { refusedTarget } from '../webhooks/transport.js'

const names = { type: 'array', minItems: 1, maxItems: WEBHOOK_LIMITS.idsPerTrigger, items: { type: 'string', minLength: 1, maxLength: WEBHOOK_LIMITS.eventNameLength } } as const
const createBody = {
  type: 'object',
  required: ['url', 'triggers'],
  properties: {
    url: { type: 'string', minLength: 1, maxLength: WEBHOOK_LIMITS.urlLength },
    secret: { type: 'string', maxLength: 200 },
    triggers: {
      type: 'object',
      properties: { 'stage.entered': names, 'segment.entered': names, 'segment.left': names, 'person.identified': { type: 'boolean' }, event: names },
      // Refused, not dropped: a misspelt trigger would otherwise be a subscription to nothing.
      propertyNames: { enum: [...WEBHOOK_TRIGGERS] },
    },
  },
  propertyNames: { enum: ['url', 'secret', 'triggers'] },
} as const
const byId = { type: 'object', properties: { id: { type: 'string', maxLength: 100 } }, required: ['id'] } as const
const byDelivery = {
  type: 'object',
  properties: { id: { type: 'string', maxLength: 100 }, deliveryId: { type: 'string', maxLength: 100 } },
  required: ['id', 'deliveryId'],
} as const
const deliveriesQuery = {
  type: 'object',
  properties: { status: { type: 'string', enum: ['pending', 'delivered', 'failed'] }, cursor: { type: 'string', maxLength: 200 }, limit: { type: 'integer', minimum: 1, maximum: 200 } },
} as const

/** A webhook rule refused is a 400 that says which. */
const checked = async <T>(fn: () => T | Promise<T>): Promise<T> => {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof WebhookError) throw new BadRequest(err.message)
    throw err
  }
}

export async function webhookRoutes(plain: FastifyInstance, opts: { config: Config; store: Store; journey: JourneyWorker; webhooks: WebhookSender }): Promise<void> {
  const app = plain.withTypeProvider<JsonSchemaToTsProvider>()
  const { config, store, journey, webhooks } = opts
  const db = store.db

  app.get('/api/webhooks', async () => ({ webhooks: await listSubscriptions(db) }))

  app.get('/api/webhooks/:id', { schema: { params: byId } }, async (request, reply) => {
    const webhook = await getSubscription(db, request.params.id)
    return webhook ? { webhook } : reply.code(404).send({ error: 'webhook not found' })
  })

  // The secret is in this answer only: it is never shown again (nor logged: request logs hold no bodies).
  app.post('/api/webhooks', { schema: { body: createBody } }, async (request, reply) => {
    const body = request.body
    await journey.sync()
    const known = { stages: journey.config.stages.map((s) => s.id), segments: journey.segments().map((s) => s.id) }
    const url = await checked(() => checkTargetUrl(body.url))
    const triggers = await checked(() => checkTriggers(body.triggers, known))
    const secret = body.secret === undefined ? undefined : await checked(() => checkSecret(body.secret))
    const refused = await refusedTarget(url, config.webhooks.allowPrivate)
    if (refused) throw new BadRequest(`url: ${refused}`)
    const webhook = await checked(() => createSubscription(store, { url: url.href, triggers, ...(secret ? { secret } : {}) }, Date.now()))
    return reply.code(201).send({ webhook })
  })

  app.delete('/api/webhooks/:id', { schema: { params: byId } }, async (request, reply) => {
    const done = await deleteSubscription(store, request.params.id)
    if (done === 'missing') return reply.code(404).send({ error: 'webhook not found' })
    if (done === 'config') return reply.code(409).send({ error: `webhook "${request.params.id}" is defined in the journey config file; change it there` })
    return { deleted: request.params.id }
  })

  app.get('/api/webhooks/:id/deliveries', { schema: { params: byId, querystring: deliveriesQuery } }, async (request, reply) => {
    if (!(await getSubscription(db, request.params.id))) return reply.code(404).send({ error: 'webhook not found' })
    const { status, cursor, limit = 50 } = request.query
    return deliveriesPage(db, request.params.id, { ...(status ? { status } : {}), ...(cursor ? { cursor } : {}), limit })
  })

  app.post('/api/webhooks/:id/deliveries/:deliveryId/resend', { schema: { params: byDelivery } }, async (request, reply) => {
    const { id, deliveryId } = request.params
    if (deliveryId.includes('\u0000')) return reply.code(404).send({ error: 'delivery not found' })
    const done = await resend(store, id, deliveryId, Date.now(), webhooks.retry.maxAgeMs)
    if (done === 'missing') return reply.code(404).send({ error: 'delivery not found' })
    if (done === 'sending') return reply.code(409).send({ error: 'this delivery is being sent right now; try again in a moment' })
    webhooks.wake()
    return reply.code(202).send({ delivery: await deliveryById(db, id, deliveryId) })
  })
}
