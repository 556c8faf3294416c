// Assembles the collector: ingest (/v1), read API (/api), static files, health.
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import type { Config } from './config.js'
import { openStore, type Store } from './db/connect.js'
import { isUnavailable } from './db/errors.js'
import { keepStatistics } from './db/statistics.js'
import { applyIpPolicy } from './ingest/normalize.js'
import { JourneyWorker } from './journey/worker.js'
import type { JourneyHooks } from './journey/hooks.js'
import { deviceLinkKeeper } from './journey/device-links.js'
import { shareKeeper } from './journey/shares.js'
import { ingestRoutes } from './routes/ingest.js'
import { readRoutes } from './routes/read.js'
import { staticRoutes } from './routes/static.js'
import { unavailable } from './routes/http.js'
import { uiRoutes } from './routes/ui.js'
import { outboxListener } from './webhooks/outbox.js'
import { WebhookSender, type SenderOptions } from './webhooks/sender.js'
import { syncConfigSubscriptions } from './webhooks/subscriptions.js'

export type { Config } from './config.js'
export { loadConfig, DEMO_WRITE_KEY } from './config.js'
export type { Store } from './db/connect.js'

/** A socket with no request in flight is closed after this. */
const CONNECTION_TIMEOUT_MS = 75_000

/** Tables kept from events besides the journey's own (docs/viewer.md). */
export const KEEPERS = [shareKeeper, deviceLinkKeeper]

export function buildServer(config: Config, store: Store, journey: JourneyWorker, webhooks: WebhookSender): FastifyInstance {
  const app = Fastify({
    // Logs go to stderr: stdout carries only the start-up lines ("listening on …").
    logger:
      config.logLevel === 'silent'
        ? false
        : {
            level: config.logLevel,
            stream: process.stderr,
            // Request lines without their query string (a lookup or search may carry an email)
            // and with the client address as WAYMARK_IP stores it.
            serializers: {
              req: (req: FastifyRequest) => ({ method: req.method, url: req.url.split('?')[0], host: req.host, remoteAddress: applyIpPolicy(req.ip, config.ip) ?? undefined }),
            },
          },
    trustProxy: trustedHops(config.trustProxy),
    bodyLimit: config.limits.requestBytes,
    // Closing is handled by the hooks below (503 with Retry-After); in-flight requests finish.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // A client that trickles its headers or body holds a socket and a parser: it gets 408.
    requestTimeout: config.limits.requestTimeoutMs,
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    // Node arms the check only for timeouts given at construction, and runs it on this period
    // (30 s by default: longer than the timeout itself).
    http: {
      requestTimeout: config.limits.requestTimeoutMs,
      headersTimeout: config.limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, config.limits.requestTimeoutMs),
    },
  })

  // While closing (SIGTERM), a request that arrives on a kept-alive connection is turned away
  // with 503 + Retry-After, so the SDK retries (against another process, behind a load
  // balancer); requests already in flight finish. Every answer then tells the client to hang
  // up, so shutdown does not wait for idle keep-alive timeouts.
  app.addHook('onRequest', async (_request, reply) => {
    if (!app.server.listening) {
      return reply.code(503).header('Retry-After', '1').send({ error: 'the collector is shutting down; retry' })
    }
  })
  app.addHook('onSend', async (_request, reply) => {
    // No answer is ever sniffed into another type (a JSON error read as HTML, say).
    reply.header('x-content-type-options', 'nosniff')
    if (!app.server.listening) reply.header('connection', 'close')
  })

  app.register(ingestRoutes, { config, store })
  app.register(readRoutes, { config, store, journey, webhooks })
  app.register(staticRoutes, { config })

  // The timeline viewer: reads only /api/*.
  app.register(uiRoutes, { config })

  app.get('/health', async (_req, reply) => {
    try {
      await store.ping()
      return { ok: true, database: store.dialect }
    } catch (err) {
      if (!isUnavailable(err)) throw err
      return unavailable(reply, { ok: false, database: store.dialect })
    }
  })

  // Browsers ask for it on every page of the collector; an empty answer is cached for a day.
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).header('cache-control', 'public, max-age=86400').send())

  app.get('/', async (_req, reply) =>
    reply
      .type('text/html')
      .send(
        `<!doctype html><title>Waymark collector</title><h1>Waymark collector</h1><ul>` +
          `<li><a href="/examples/">examples</a></li><li><a href="/sdk/waymark.min.js">SDK (/sdk/)</a></li>` +
          `<li><a href="/ui">viewer (/ui)</a></li><li>ingest: POST /v1/batch</li><li>read API: /api/profiles (admin token)</li><li><a href="/health">health</a></li></ul>`,
      ),
  )
  return app
}

/**
 * Never `true`: trusting every hop takes the leftmost X-Forwarded-For entry, which the client
 * writes itself. N hops trusts the peer and the N − 1 proxies behind it (Fastify's own number
 * form trusts nothing); addresses go to Fastify as they are.
 */
function trustedHops(trust: Config['trustProxy']): false | string | ((address: string, hop: number) => boolean) {
  if (Array.isArray(trust)) return trust.length ? trust.join(',') : false
  return trust > 0 ? (_address, hop) => hop < trust : false
}

export interface RunningCollector {
  app: FastifyInstance
  store: Store
  journey: JourneyWorker
  webhooks: WebhookSender
  url: string
  /** Stops accepting, lets in-flight requests finish, then closes the database. */
  close(): Promise<void>
}

/** What a test or a benchmark may set beyond the configuration: the webhook sender's clock, retry pace and transport. */
export interface StartOptions {
  webhooks?: Omit<SenderOptions, 'allowPrivate'>
}

export async function startCollector(config: Config, opts: StartOptions = {}): Promise<RunningCollector> {
  let app: FastifyInstance | null = null
  const store = await openStore(config.database, (err) => app?.log.warn({ err }, 'idle database connection lost'))
  // Webhooks: deliveries are written in the journey worker's transaction (the outbox) and
  // sent by the sender, which is woken when a step commits.
  const webhooks = new WebhookSender(store, { ...opts.webhooks, allowPrivate: config.webhooks.allowPrivate })
  let enqueued = false
  const hooks: JourneyHooks = {
    keepers: KEEPERS,
    listeners: [outboxListener({ maxAgeMs: webhooks.retry.maxAgeMs, enqueued: () => (enqueued = true) })],
    committed: [() => enqueued && ((enqueued = false), webhooks.wake())],
  }
  // Journey analytics are kept in the background, in bounded steps (journey/worker.ts).
  const journey = new JourneyWorker(store, config.journey, hooks)
  app = buildServer(config, store, journey, webhooks)
  try {
    await syncConfigSubscriptions(store, config.webhooks.subscriptions, Date.now())
    await app.listen({ port: config.port, host: config.host })
  } catch (err) {
    await store.close()
    throw err
  }
  journey.start()
  webhooks.start()
  // PostgreSQL: statistics for the tables the collector grows, whether autovacuum runs or not.
  const statistics = keepStatistics(store, (err) => app?.log.warn({ err }, 'ANALYZE failed; tried again in 10 s'))
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  let closing: Promise<void> | null = null
  const running: RunningCollector = {
    app,
    store,
    journey,
    webhooks,
    url: `http://${host}:${port}`,
    close: () =>
      (closing ??= (async () => {
        await app!.close()
        await statistics.stop()
        await journey.stop()
        await webhooks.stop()
        await store.close()
      })()),
  }
  return running
}
