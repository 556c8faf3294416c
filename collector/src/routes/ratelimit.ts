// Ingestion rate limits, with @fastify/rate-limit. Two limits, because the write key is public
// (it is in every page): per write key, which protects the database from one runaway site, and
// per client address (IPv6: its /64), so that one client flooding with the key cannot spend it
// for every real visitor. Counters are kept in Redis when WAYMARK_REDIS_URL is set, and so
// shared by every collector process; else per process. If Redis stops answering, requests pass
// (and it is logged): losing events would be worse than letting a burst through.
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Redis } from 'ioredis'
import type { Config } from '../config.js'

/** Counting windows: a client may send its per-second rate times this many seconds at once. */
const WINDOW_S = 10
/** How long a start waits for Redis before going on without it. */
const READY_WAIT_MS = 2000

/** Seconds to wait before retrying (for Retry-After), or 0 when the request may go on. */
export type Limit = (request: FastifyRequest) => Promise<number>

export async function ingestLimits(app: FastifyInstance, config: Config): Promise<{ perClient: Limit; perKey: (request: FastifyRequest, writeKey: string) => Promise<number> }> {
  let redis: Redis | undefined
  if (config.rateLimit.redisUrl) {
    redis = new Redis(config.rateLimit.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, lazyConnect: false })
    let warned = 0
    redis.on('error', (err) => {
      // one line a minute at most: an outage must not flood the log
      if (Date.now() - warned > 60_000) (warned = Date.now()), app.log.warn({ err }, 'rate-limit store (Redis) unavailable; requests pass unlimited')
    })
    app.addHook('onClose', async () => void (await redis?.quit().catch(() => redis?.disconnect())))
    // Counted from the first request: until connected, counter updates would fail and pass.
    const ready = new Promise<boolean>((resolve) => {
      redis!.once('ready', () => resolve(true))
      setTimeout(() => resolve(false), READY_WAIT_MS).unref()
    })
    if (!(await ready)) app.log.warn(`rate-limit store (Redis) not reachable at start; requests pass unlimited until it is`)
  }
  await app.register(rateLimit, { global: false, skipOnError: true, nameSpace: 'waymark-rl:', ...(redis ? { redis } : {}) })
  const keys = new WeakMap<FastifyRequest, string>()
  const limit = (check: ReturnType<FastifyInstance['createRateLimit']>) => async (request: FastifyRequest) => {
    const r = await check(request)
    return !r.isAllowed && r.isExceeded ? Math.max(1, r.ttlInSeconds) : 0
  }
  const perClient = limit(app.createRateLimit({ max: config.rateLimit.perClient * WINDOW_S, timeWindow: WINDOW_S * 1000 }))
  const byKey = limit(app.createRateLimit({ max: config.rateLimit.perKey * WINDOW_S, timeWindow: WINDOW_S * 1000, keyGenerator: (req) => `key:${keys.get(req)}` }))
  return {
    perClient,
    perKey: (request, writeKey) => {
      keys.set(request, writeKey)
      return byKey(request)
    },
  }
}
