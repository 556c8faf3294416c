// Rate limits that one client cannot spend for everyone: per client address and per write key,
// shared by collector processes through a real Redis when WAYMARK_REDIS_URL is set.
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { basic, post, startTestCollector, track, uid, type TestCollector } from './helpers.js'

const REDIS_URL = process.env.WAYMARK_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

async function redisAnswers(): Promise<boolean> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null })
  try {
    await client.connect()
    return (await client.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}
const REDIS = await redisAnswers()
if (!REDIS) console.warn(`Redis not reachable at ${REDIS_URL}: the shared rate-limit tests are skipped`)

const started: TestCollector[] = []
afterAll(async () => {
  for (const c of started) await c.stop()
})
async function collector(env: Record<string, string>): Promise<TestCollector> {
  const c = await startTestCollector('sqlite', env)
  started.push(c)
  return c
}

/** One batch from `client` (its address, through a trusted proxy hop) with `key`. */
const send = (c: TestCollector, key: string, client: string) =>
  post(c.url, '/v1/batch', { batch: [track(uid('a'))] }, { auth: basic(key), headers: { 'x-forwarded-for': client } })

describe('rate limits', () => {
  it('a client flooding with the public write key is limited, other clients are not', async () => {
    const key = uid('wk')
    const c = await collector({ WAYMARK_WRITE_KEYS: key, WAYMARK_TRUST_PROXY: '1', WAYMARK_RATE_LIMIT_CLIENT: '1', WAYMARK_RATE_LIMIT: '1000' })
    const flood = []
    for (let i = 0; i < 15; i++) flood.push(await send(c, key, '198.51.100.7'))
    const limited = flood.filter((r) => r.status === 429)
    // 10 in the 10 s window, then 429 with a wait
    expect(flood.filter((r) => r.status === 200)).toHaveLength(10)
    expect(limited).toHaveLength(5)
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(limited[0]!.body.error).toMatch(/this client/)
    // A real visitor elsewhere still gets in: the key was not spent by the flood.
    expect((await send(c, key, '203.0.113.9')).status).toBe(200)
    // IPv6: one /64 is one client.
    for (let i = 0; i < 10; i++) expect((await send(c, key, `2001:db8:1:2::${i + 1}`)).status).toBe(200)
    expect((await send(c, key, '2001:db8:1:2::ff')).status).toBe(429)
    expect((await send(c, key, '2001:db8:1:3::1')).status).toBe(200)
  })

  it('the write key has a limit of its own, across clients', async () => {
    const key = uid('wk')
    const c = await collector({ WAYMARK_WRITE_KEYS: key, WAYMARK_TRUST_PROXY: '1', WAYMARK_RATE_LIMIT: '1' })
    const answers = []
    for (let i = 0; i < 12; i++) answers.push(await send(c, key, `192.0.2.${i + 1}`))
    expect(answers.filter((r) => r.status === 200)).toHaveLength(10)
    const limited = answers.filter((r) => r.status === 429)
    expect(limited[0]!.body.error).toMatch(/write key/)
    // A browser SDK on another origin reads how long to wait only when CORS exposes it.
    const cors = await post(c.url, '/v1/batch', { batch: [track(uid('a'))] }, { auth: basic(key), headers: { origin: 'https://site.example', 'x-forwarded-for': '192.0.2.99' } })
    expect(cors.status).toBe(429)
    expect(cors.headers.get('access-control-expose-headers')).toMatch(/retry-after/i)
  })

  it.skipIf(!REDIS)('two collector processes share the counters through Redis', async () => {
    const key = uid('wk')
    const env = { WAYMARK_WRITE_KEYS: key, WAYMARK_TRUST_PROXY: '1', WAYMARK_RATE_LIMIT: '1', WAYMARK_REDIS_URL: REDIS_URL }
    const [one, two] = [await collector(env), await collector(env)]
    const answers = []
    for (let i = 0; i < 6; i++) answers.push(await send(one, key, `192.0.2.${i + 1}`), await send(two, key, `192.0.2.${i + 101}`))
    // 12 requests against one shared allowance of 10; per process each would have let 6 through.
    expect(answers.filter((r) => r.status === 200)).toHaveLength(10)
    expect(answers.filter((r) => r.status === 429)).toHaveLength(2)
  })

  it('with Redis gone, requests pass: nothing is lost to the limiter', async () => {
    const key = uid('wk')
    // Nothing listens on this port: every counter update fails.
    const c = await collector({ WAYMARK_WRITE_KEYS: key, WAYMARK_RATE_LIMIT: '1', WAYMARK_REDIS_URL: 'redis://127.0.0.1:1' })
    for (let i = 0; i < 12; i++) expect((await send(c, key, '192.0.2.1')).status).toBe(200)
  })
})
