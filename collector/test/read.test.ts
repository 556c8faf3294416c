// The read API (docs/contract.md): admin token everywhere, cursor pagination, lookup, ordering, journey, segments.
import { Analytics } from '@segment/analytics-node'
import { describe, expect, it } from 'vitest'
import {
  BACKENDS,
  WRITE_KEY,
  api,
  basic,
  identify,
  lookup,
  page,
  sendBatch,
  collectorForSuite,
  timelineOf,
  track,
  uid,
} from './helpers.js'

describe.each(BACKENDS)('read API on $name', ({ name, skip }) => {
  const c = collectorForSuite(name, skip)

  it.skipIf(skip)('every /api route needs the admin token; a write key gets 403, nothing gets 401', async () => {
    const routes = ['/api/profiles', '/api/profiles/x', '/api/profiles/x/timeline', '/api/lookup?email=a@b.c', '/api/journey', '/api/segments', '/api/segments/all/profiles']
    for (const route of routes) {
      expect((await api(c.url, route, { token: null })).status, route).toBe(401)
      expect((await api(c.url, route, { token: 'wrong' })).status, route).toBe(401)
      expect((await api(c.url, route, { token: WRITE_KEY })).status, route).toBe(403)
      expect((await api(c.url, route, { auth: basic(WRITE_KEY) })).status, route).toBe(403)
    }
    expect((await api(c.url, '/api/profiles/x', { method: 'DELETE', token: WRITE_KEY })).status).toBe(403)
    expect((await api(c.url, '/api/profiles')).status).toBe(200)
  })

  it.skipIf(skip)('timeline: ordered by corrected timestamp, cursor-paginated without gaps or repeats', async () => {
    const a = uid('a')
    const base = Date.now() - 1_000_000
    // Sent out of order, several with the same timestamp.
    const events = Array.from({ length: 23 }, (_, i) => track(a, `E${i}`, { timestamp: new Date(base + Math.floor(i / 3) * 1000).toISOString() }))
    const shuffled = [...events].sort(() => Math.random() - 0.5)
    expect((await sendBatch(c.url, shuffled, { sentAt: undefined })).body.accepted).toBe(23)
    const id = (await lookup(c.url, `anonymousId=${a}`)).id
    const seen: any[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const r: any = await api(c.url, `/api/profiles/${id}/timeline?limit=5${cursor ? `&cursor=${cursor}` : ''}`)
      expect(r.status).toBe(200)
      expect(r.body.events.length).toBeLessThanOrEqual(5)
      seen.push(...r.body.events)
      cursor = r.body.nextCursor
      pages++
    } while (cursor)
    expect(pages).toBe(5)
    expect(new Set(seen.map((e) => e.messageId)).size).toBe(23)
    const times = seen.map((e) => Date.parse(e.timestamp))
    expect(times).toEqual([...times].sort((x, y) => y - x))
    const asc = await api(c.url, `/api/profiles/${id}/timeline?limit=100&order=asc`)
    expect(asc.body.events.map((e: any) => e.messageId)).toEqual(seen.map((e) => e.messageId).reverse())
    expect((await api(c.url, `/api/profiles/${id}/timeline?cursor=garbage`)).status).toBe(400)
    // A well-formed cursor with a fractional position: a 400 on both databases, not a database error.
    const fractional = Buffer.from(JSON.stringify({ t: 1.5, id: 2.5 })).toString('base64url')
    expect((await api(c.url, `/api/profiles/${id}/timeline?cursor=${fractional}`)).status).toBe(400)
    expect((await api(c.url, `/api/profiles/${id}/timeline?limit=0`)).status).toBe(400)
    expect((await api(c.url, `/api/profiles/p_missing/timeline`)).status).toBe(404)
  })

  it.skipIf(skip)('timeline gathers events filed under every identifier of the person', async () => {
    const a = uid('a')
    const u = uid('u')
    const email = `${uid('e')}@example.com`
    await sendBatch(c.url, [page(a), identify(a, { email }), track(a, 'Logged In', { userId: u })])
    const p = await lookup(c.url, `userId=${u}`)
    expect(p.email).toBe(email)
    expect((await timelineOf(c.url, p.id)).map((e) => e.type).sort()).toEqual(['identify', 'page', 'track'])
  })

  it.skipIf(skip)('lists and searches profiles with cursor pagination; stage/segment filters', async () => {
    const tag = uid('list').toLowerCase()
    const anon = Array.from({ length: 4 }, (_, i) => `${tag}-anon-${i}`)
    await sendBatch(c.url, anon.map((a) => page(a)))
    await sendBatch(c.url, [identify(anon[0]!, { email: `${tag}@Example.com` })])
    const all: any[] = []
    let cursor: string | null = null
    do {
      const r: any = await api(c.url, `/api/profiles?q=${tag}&limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      expect(r.status).toBe(200)
      all.push(...r.body.profiles)
      cursor = r.body.nextCursor
    } while (cursor)
    expect(all).toHaveLength(4)
    expect(new Set(all.map((p) => p.id)).size).toBe(4)
    const known = await api(c.url, `/api/profiles?q=${tag}&stage=known`)
    expect(known.body.profiles.map((p: any) => p.email)).toEqual([`${tag}@example.com`])
    const anonymous = await api(c.url, `/api/profiles?q=${tag}&segment=anonymous`)
    expect(anonymous.body.profiles).toHaveLength(3)
    expect((await api(c.url, `/api/segments/known/profiles?q=${tag}`)).body.profiles).toHaveLength(1)
    // Search by email is case-insensitive.
    expect((await api(c.url, `/api/profiles?q=${tag.toUpperCase()}@EXAMPLE`)).body.profiles).toHaveLength(1)
    expect((await api(c.url, '/api/profiles?stage=nope')).status).toBe(400)
    expect((await api(c.url, '/api/profiles?segment=nope')).status).toBe(400)
    expect((await api(c.url, '/api/segments/nope/profiles')).status).toBe(404)
  })

  it.skipIf(skip)('lookup by email, anonymousId or userId; 404 when unknown, 400 when malformed', async () => {
    const a = uid('a')
    await sendBatch(c.url, [identify(a, { email: `${a}@example.com` }, { userId: `${a}-user` })])
    const byEmail = await lookup(c.url, `email=${encodeURIComponent(` ${a.toUpperCase()}@EXAMPLE.COM`)}`)
    expect(byEmail.id).toBe((await lookup(c.url, `anonymousId=${a}`)).id)
    expect(byEmail.id).toBe((await lookup(c.url, `userId=${a}-user`)).id)
    expect((await api(c.url, '/api/lookup?email=nobody@example.com')).status).toBe(404)
    expect((await api(c.url, '/api/lookup?email=not-an-email')).status).toBe(400)
    expect((await api(c.url, '/api/lookup')).status).toBe(400)
  })

  it.skipIf(skip)('journey counts anonymous visitors as the first stage; segments list', async () => {
    const before = (await api(c.url, '/api/journey')).body.stages
    expect(before.map((s: any) => s.stage)).toEqual(['anonymous', 'known', 'engaged', 'customer', 'advocate'])
    const a = uid('a')
    await sendBatch(c.url, [page(a)])
    const mid = (await api(c.url, '/api/journey')).body.stages
    expect(mid[0].count).toBe(before[0].count + 1)
    await sendBatch(c.url, [identify(a, { email: `${a}@example.com` })])
    const after = (await api(c.url, '/api/journey')).body.stages
    expect(after[0].count).toBe(before[0].count)
    expect(after[1].count).toBe(before[1].count + 1)
    expect((await api(c.url, '/api/segments')).body.segments.map((s: any) => s.id).slice(0, 3)).toEqual(['all', 'anonymous', 'known'])
  })

  it.skipIf(skip)('a real Segment client (@segment/analytics-node) lands in the right timeline', async () => {
    const analytics = new Analytics({ writeKey: WRITE_KEY, host: c.url, flushAt: 5, flushInterval: 200, maxRetries: 1 })
    const anonymousId = uid('seg-anon')
    const userId = uid('seg-user')
    const email = `${userId}@example.com`
    analytics.page({ anonymousId, name: 'Pricing', properties: { path: '/pricing' } })
    analytics.track({ anonymousId, event: 'Viewed Plan', properties: { plan: 'pro' } })
    analytics.identify({ anonymousId, userId, traits: { email, name: 'Grace' } })
    analytics.track({ userId, event: 'Subscribed', properties: { plan: 'pro' } })
    const failures: unknown[] = []
    analytics.on('error', (err) => failures.push(err))
    await analytics.closeAndFlush({ timeout: 10_000 })
    expect(failures).toEqual([])
    const person = await lookup(c.url, `email=${email}`)
    expect(person.userId).toBe(userId)
    expect((await lookup(c.url, `anonymousId=${anonymousId}`)).id).toBe(person.id)
    const events = await timelineOf(c.url, person.id)
    expect(events.map((e) => e.event ?? e.name ?? e.type).sort()).toEqual(['Pricing', 'Subscribed', 'Viewed Plan', 'identify'].sort())
    expect(events.find((e) => e.event === 'Viewed Plan').beforeIdentified).toBe(true)
    expect(events.find((e) => e.event === 'Subscribed').beforeIdentified).toBe(false)
    const detail = (await api(c.url, `/api/profiles/${person.id}`)).body.profile
    expect(detail.traits.name.value).toBe('Grace')
  })
})
