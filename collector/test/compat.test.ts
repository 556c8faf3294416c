// Other Segment-compatible libraries over HTTP (collector/README.md, Send from other libraries):
// their endpoint aliases and bodies, CORS for the headers they add, on refusals too, and the
// lenient normalisation of what they send (docs/contract.md, Lenient normalisation).
import { describe, expect, it } from 'vitest'
import { BACKENDS, WRITE_KEY, api, basic, collectorForSuite, lookup, mid, post, timelineOf, uid } from './helpers.js'

const ORIGIN = 'https://shop.example'
/** analytics.js 2 and RudderStack send text/plain (no preflight for the body type). */
const TEXT = 'text/plain;charset=UTF-8'
/** What the two browser libraries add to their requests, retries included. */
const LIBRARY_HEADERS = 'content-type,x-retry-count,anonymousid,sentat,rsa-retry-attempt,rsa-since-last-attempt,rsa-retry-reason'

const preflight = (url: string, path: string, headers = LIBRARY_HEADERS) =>
  fetch(url + path, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': headers } })

describe.each(BACKENDS)('other libraries on $name', ({ name, skip }) => {
  const c = collectorForSuite(name, skip)

  it.skipIf(skip)("analytics.js 2's single-letter endpoints take its bodies: write key in the body, text/plain", async () => {
    const a = uid('ajs')
    const u = uid('u')
    const g = uid('g')
    const rows = [
      ['/v1/p', { anonymousId: a, name: 'Pricing', properties: { path: '/pricing' } }, 'page'],
      ['/v1/t', { anonymousId: a, event: 'Viewed Plan' }, 'track'],
      ['/v1/s', { anonymousId: a, name: 'Home' }, 'screen'],
      ['/v1/g', { anonymousId: a, groupId: g, traits: { name: 'Acme' } }, 'group'],
      ['/v1/i', { anonymousId: a, userId: u, traits: { email: `${u}@example.com` } }, 'identify'],
      ['/v1/a', { previousId: a, userId: u }, 'alias'],
    ] as const
    for (const [path, body, type] of rows) {
      // the library's own type field is overridden by the endpoint, as on /v1/track
      const r = await post(c.url, path, { ...body, type: 'track', messageId: mid(), writeKey: WRITE_KEY, sentAt: new Date().toISOString() }, { auth: null, contentType: TEXT })
      expect(r.status, path).toBe(200)
      expect(r.body, `${path} (${type})`).toEqual({ accepted: 1, duplicates: 0, rejected: [] })
    }
    const events = await timelineOf(c.url, (await lookup(c.url, `userId=${u}`)).id)
    expect(events.map((e) => e.type).sort()).toEqual(rows.map((r) => r[2]).sort())
  })

  it.skipIf(skip)('/v1/b and /beacon/v1/batch are batches; a beacon carries its write key in the query', async () => {
    const a = uid('b')
    const b = await post(c.url, '/v1/b', { writeKey: WRITE_KEY, batch: [{ type: 'track', messageId: mid(), anonymousId: a, event: 'x' }], sentAt: new Date().toISOString() }, { auth: null, contentType: TEXT })
    expect(b.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] })
    const beacon = { batch: [{ type: 'page', messageId: mid(), anonymousId: a, userId: '' }], sentAt: new Date().toISOString() }
    const r = await post(c.url, `/beacon/v1/batch?writeKey=${WRITE_KEY}`, beacon, { auth: null, contentType: TEXT })
    expect(r.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] })
    expect(await timelineOf(c.url, (await lookup(c.url, `anonymousId=${a}`)).id)).toHaveLength(2)
    // the same auth as /v1/batch
    const unknown = await post(c.url, '/beacon/v1/batch?writeKey=nope', beacon, { auth: null, contentType: TEXT })
    expect(unknown.status).toBe(401)
    expect((await post(c.url, '/v1/b', { batch: [] }, { auth: null })).status).toBe(401)
    expect((await post(c.url, '/v1/t', { anonymousId: a, event: 'x' }, { auth: basic('nope') })).status).toBe(401)
  })

  it.skipIf(skip)('preflights allow the headers the libraries ask for, on every alias', async () => {
    for (const path of ['/v1/batch', '/v1/t', '/v1/p', '/v1/i', '/v1/a', '/v1/g', '/v1/s', '/v1/b', '/beacon/v1/batch']) {
      const pre = await preflight(c.url, path)
      expect(pre.status, path).toBe(204)
      expect(pre.headers.get('access-control-allow-origin'), path).toBe(ORIGIN)
      expect(pre.headers.get('access-control-allow-methods'), path).toContain('POST')
      expect(pre.headers.get('access-control-allow-headers')?.toLowerCase(), path).toBe(LIBRARY_HEADERS)
    }
  })

  it.skipIf(skip)('refusals carry CORS headers, so the browser sees the status', async () => {
    const cases = [
      // unknown key in the header: refused in the onRequest hook, before the body is read
      await post(c.url, '/v1/p', { anonymousId: 'a' }, { auth: basic('nope'), headers: { origin: ORIGIN } }),
      // no key at all: refused by the handler
      await post(c.url, '/v1/t', { anonymousId: 'a', event: 'x' }, { auth: null, headers: { origin: ORIGIN } }),
      await post(c.url, '/v1/b', { batch: [{ type: 'track' }] }, { headers: { origin: ORIGIN } }),
    ]
    expect(cases.map((r) => r.status)).toEqual([401, 401, 400])
    for (const r of cases) expect(r.headers.get('access-control-allow-origin')).toBe(ORIGIN)
  })

  it.skipIf(skip)('RudderStack-shaped events: "userId": "" is anonymous, traits in context.traits, a numeric session id', async () => {
    const a = uid('rs')
    const u = uid('u')
    const email = `${u}@example.com`
    const sessionId = 1767225600123
    const context = { sessionId, library: { name: 'RudderLabs JavaScript SDK' } }
    const batch = [
      { type: 'page', messageId: mid(), anonymousId: a, userId: '', name: 'Home', context },
      { type: 'track', messageId: mid(), anonymousId: a, userId: '', event: 'Viewed Plan', context },
      { type: 'identify', messageId: mid(), anonymousId: a, userId: u, context: { ...context, traits: { email, plan: 'pro' } } },
      { type: 'track', messageId: mid(), anonymousId: a, userId: u, event: 'Subscribed', context },
    ].map((e, i) => ({ ...e, originalTimestamp: new Date(Date.now() - 4000 + i * 1000).toISOString() }))
    const r = await post(c.url, '/v1/batch', { batch, sentAt: new Date().toISOString() }, { headers: { origin: ORIGIN } })
    expect(r.body).toEqual({ accepted: 4, duplicates: 0, rejected: [] })
    const person = await lookup(c.url, `email=${email}`)
    expect(person.userId).toBe(u)
    expect((await lookup(c.url, `anonymousId=${a}`)).id).toBe(person.id)
    const events = await timelineOf(c.url, person.id)
    expect(events).toHaveLength(4)
    expect(events.every((e) => e.sessionId === String(sessionId))).toBe(true)
    expect(events.find((e) => e.event === 'Viewed Plan')).toMatchObject({ userId: null, beforeIdentified: true })
    expect(events.find((e) => e.event === 'Subscribed').beforeIdentified).toBe(false)
    const traits = (await api(c.url, `/api/profiles/${person.id}`)).body.profile.traits
    expect(traits.plan.value).toBe('pro')
    expect(traits.email.value).toBe(email)
  })

  it.skipIf(skip)('a backfilled timestamp beats originalTimestamp; a server library is no bot; a page campaign from properties.url', async () => {
    const u = uid('srv')
    const backfill = '2026-01-15T09:00:00.000Z'
    const now = new Date().toISOString()
    const url = 'https://shop.example/spring?utm_source=newsletter&utm_medium=email&utm_campaign=spring'
    const batch = [
      { type: 'track', messageId: mid(), userId: u, event: 'Ordered', timestamp: backfill, originalTimestamp: now },
      { type: 'page', messageId: mid(), userId: u, name: 'Spring', properties: { url }, originalTimestamp: now },
    ]
    const r = await post(c.url, '/v1/batch', { batch, sentAt: now }, { headers: { 'user-agent': 'RudderLabs' } })
    expect(r.body.accepted).toBe(2)
    const person = await lookup(c.url, `userId=${u}`)
    const events = await timelineOf(c.url, person.id)
    // a sentAt of now moves the backfill by the send latency only: it stays in January
    expect(events.find((e) => e.event === 'Ordered').timestamp.slice(0, 10)).toBe('2026-01-15')
    expect(events.every((e) => e.isBot === false)).toBe(true)
    // the first page view (the backfilled order tells nothing of an arrival), its path as landing page
    expect(person.firstTouch).toMatchObject({ source: 'newsletter', medium: 'email', campaign: 'spring', landingPage: '/spring' })
  })

  it.skipIf(skip)('events refused inside a 200 are listed with their reason', async () => {
    const a = uid('rj')
    const r = await post(c.url, '/v1/b', { writeKey: WRITE_KEY, batch: [{ type: 'track', messageId: mid(), anonymousId: a, event: 'ok' }, { type: 'track', messageId: mid(), anonymousId: 'null', event: 'x' }] }, { auth: null, contentType: TEXT })
    expect(r.status).toBe(200)
    expect(r.body.accepted).toBe(1)
    expect(r.body.rejected).toEqual([{ index: 1, messageId: expect.any(String), error: 'anonymousId "null" is a placeholder, not an identifier' }])
  })
})

describe.each(BACKENDS)('rate-limited answers on $name', ({ name, skip }) => {
  // 1 a second per client: 10 in the 10 s window, then 429 from the onRequest hook
  const c = collectorForSuite(name, skip, { WAYMARK_RATE_LIMIT_CLIENT: '1' })

  it.skipIf(skip)('a 429 carries CORS headers and lets the page read Retry-After', async () => {
    const statuses: number[] = []
    let limited: Awaited<ReturnType<typeof post>> | undefined
    for (let i = 0; i < 12 && !limited; i++) {
      const r = await post(c.url, '/v1/t', { anonymousId: uid('a'), event: 'x', messageId: mid() }, { headers: { origin: ORIGIN } })
      statuses.push(r.status)
      if (r.status === 429) limited = r
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200))
    expect(limited?.status).toBe(429)
    expect(limited!.headers.get('access-control-allow-origin')).toBe(ORIGIN)
    expect(limited!.headers.get('access-control-expose-headers')).toContain('Retry-After')
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
  })
})
