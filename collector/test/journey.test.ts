// The journey model through the read API: stages, score reasons, segments (config and API),
// funnel and its tables, on SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCollector } from '../src/server.js'
import { api, BACKENDS, identify, mid, post, sendBatch, startTestCollector, testConfig, uid, type TestCollector } from './helpers.js'

const MIN = 60_000
const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * MIN).toISOString()
const ctx = (path: string, campaign: Record<string, string> = { channel: 'direct' }) => ({
  page: { path, url: `https://shop.example${path}` },
  campaign,
})
const pageAt = (anon: string, path: string, minutesAgo: number, campaign?: Record<string, string>) => ({
  type: 'page', messageId: mid(), anonymousId: anon, properties: { path }, context: ctx(path, campaign), timestamp: at(minutesAgo),
})
const trackAt = (anon: string, event: string, properties: Record<string, unknown>, minutesAgo: number, path = '/') => ({
  type: 'track', messageId: mid(), anonymousId: anon, event, properties, context: ctx(path), timestamp: at(minutesAgo),
})

describe.each(BACKENDS)('journey model on $name', ({ name, skip }) => {
  let c: TestCollector
  const t = uid('j').toLowerCase()
  const ids = { a: `${t}-a`, b: `${t}-b`, c1: `${t}-c1`, c2: `${t}-c2`, d: `${t}-d`, e: `${t}-e` }
  const email = (who: string) => `${t}-${who}@example.com`
  const profileOf = async (anon: string) => (await api(c.url, `/api/lookup?anonymousId=${anon}`)).body.profile

  beforeAll(async () => {
    if (skip) return
    c = await startTestCollector(name)
    const paid = { channel: 'paid search', source: 'google', medium: 'cpc' }
    const mail = { channel: 'email', source: 'newsletter', medium: 'email' }
    const r = await sendBatch(c.url, [
      // A: anonymous, from paid search, one pricing view.
      pageAt(ids.a, '/pricing', 100, paid),
      // B: known lead.
      pageAt(ids.b, '/', 90),
      identify(ids.b, { email: email('b') }, { timestamp: at(89) }),
      // C: two devices browse anonymously, then identify with the same email on both.
      pageAt(ids.c1, '/pricing', 80, mail),
      pageAt(ids.c1, '/pricing', 79, mail),
      pageAt(ids.c1, '/', 78, mail),
      trackAt(ids.c1, 'File Downloaded', { url: 'https://shop.example/files/waymark-whitepaper.pdf', extension: 'pdf' }, 77),
      trackAt(ids.c1, 'Content Clicked', { name: 'Home hero', piece: 'Autumn launch' }, 76),
      trackAt(ids.c1, 'Form Submitted', { id: 'newsletter', name: 'newsletter', fields: ['email'] }, 75),
      pageAt(ids.c2, '/article', 70),
      trackAt(ids.c2, 'Content Impression', { name: 'Related post' }, 69, '/article'),
      identify(ids.c1, { email: email('c') }, { timestamp: at(60) }),
      identify(ids.c2, { email: ` ${email('c').toUpperCase()} ` }, { timestamp: at(50) }),
      // D: customer. E: advocate.
      identify(ids.d, { email: email('d') }, { timestamp: at(40) }),
      trackAt(ids.d, 'Order Completed', { total: 49 }, 39),
      identify(ids.e, { email: email('e') }, { timestamp: at(30) }),
      trackAt(ids.e, 'Referral Sent', {}, 29),
    ])
    expect(r.status).toBe(200)
    expect(r.body.rejected).toEqual([])
  })
  afterAll(async () => c?.stop())

  it.skipIf(skip)('each person gets the stage of the last stage condition that holds', async () => {
    const stages = await Promise.all(Object.values(ids).map(async (a) => (await profileOf(a)).stage))
    expect(stages).toEqual(['anonymous', 'known', 'engaged', 'engaged', 'customer', 'advocate'])
    const list = await api(c.url, '/api/profiles?stage=engaged')
    expect(list.body.profiles.map((p: any) => p.email)).toEqual([email('c')])
    expect(list.body.total).toBe(1)
    expect(list.body.profiles[0].stageName).toBe('Engaged lead')
  })

  it.skipIf(skip)('the score shows the rules that fired, with counts and points', async () => {
    const p = await profileOf(ids.c1)
    // 4 pages + 2 pricing views + download + form + content click; decay over minutes rounds away.
    expect(p.journey.score).toBe(37)
    const reasons = Object.fromEntries(p.journey.reasons.map((r: any) => [r.rule, [r.count, Math.round(r.points)]]))
    expect(reasons).toEqual({
      'page-view': [4, 4],
      pricing: [2, 10],
      download: [1, 10],
      form: [1, 10],
      'content-click': [1, 3],
    })
    expect(p.journey.reasons[0].label).toBeTypeOf('string')
    // Anonymous A: one pricing page = 1 + 5.
    expect((await profileOf(ids.a)).journey.score).toBe(6)
  })

  it.skipIf(skip)('person journey: first-touch channel, devices, identification moment', async () => {
    const p = await profileOf(ids.c2)
    expect(p.journey.channel).toBe('email')
    expect(p.journey.source).toBe('newsletter')
    expect(p.journey.devices.map((d: any) => d.anonymousId).sort()).toEqual([ids.c1, ids.c2].sort())
    // C identified on c1 (its six anonymous events stitched then); c2 joined ten minutes later
    // with its page view and impression.
    expect(p.journey.identification).toMatchObject({ as: email('c'), earlierEvents: 6, devices: 1 })
    expect(p.journey.linkedDevices).toMatchObject([{ anonymousId: ids.c2, earlierEvents: 2 }])
    expect(p.journey.segments.map((s: any) => s.id).sort()).toEqual(['all', 'known', 'pricing-twice-7d', 'whitepaper'])
    expect((await profileOf(ids.a)).journey.identification).toBeNull()
  })

  it.skipIf(skip)('config segments: members and counts; filters combine with search and identified', async () => {
    const segs = (await api(c.url, '/api/segments')).body.segments
    const count = (id: string) => segs.find((s: any) => s.id === id).count
    expect([count('all'), count('anonymous'), count('known'), count('whitepaper'), count('pricing-twice-7d'), count('paid-search')]).toEqual([5, 1, 4, 1, 1, 1])
    const members = await api(c.url, '/api/segments/paid-search/profiles')
    expect(members.body.profiles.map((p: any) => p.identifiers[0].value)).toEqual([ids.a])
    expect((await api(c.url, `/api/profiles?segment=whitepaper&q=${email('c')}`)).body.total).toBe(1)
    expect((await api(c.url, `/api/profiles?segment=whitepaper&q=${email('b')}`)).body.total).toBe(0)
    expect((await api(c.url, '/api/profiles?identified=false')).body.profiles.map((p: any) => p.id)).toEqual([(await profileOf(ids.a)).id])
    expect((await api(c.url, '/api/profiles?identified=maybe')).status).toBe(400)
  })

  it.skipIf(skip)('sort by last seen pages with a cursor', async () => {
    const seen: any[] = []
    let cursor: string | null = null
    do {
      const r: any = await api(c.url, `/api/profiles?sort=lastSeen&limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      expect(r.body.total).toBe(5)
      seen.push(...r.body.profiles)
      cursor = r.body.nextCursor
    } while (cursor)
    expect(seen.map((p) => p.email)).toEqual([email('e'), email('d'), email('c'), email('b'), null])
  })

  it.skipIf(skip)('funnel: people per stage, reached, conversion; period filter', async () => {
    const j = (await api(c.url, '/api/journey')).body
    expect(j.people).toBe(5)
    expect(j.stages.map((s: any) => [s.stage, s.count, s.reached, s.conversion])).toEqual([
      ['anonymous', 1, 5, null],
      ['known', 1, 4, 0.8],
      ['engaged', 1, 3, 0.75],
      ['customer', 1, 2, 0.667],
      ['advocate', 1, 1, 0.5],
    ])
    const later = (await api(c.url, `/api/journey?from=${encodeURIComponent(at(-60))}`)).body
    expect(later.people).toBe(0)
    const window = (await api(c.url, `/api/journey?from=${encodeURIComponent(at(95))}&to=${encodeURIComponent(at(65))}`)).body
    // B (90 min ago) and C (first seen 80 min ago) only.
    expect(window.stages.map((s: any) => s.count)).toEqual([0, 1, 1, 0, 0])
    expect((await api(c.url, '/api/journey?from=yesterday')).status).toBe(400)
  })

  it.skipIf(skip)('journey tables: content that made people known, pages, channels, CTAs', async () => {
    const j = (await api(c.url, '/api/journey')).body
    expect(j.content.find((r: any) => r.name === 'Home hero')).toEqual({ name: 'Home hero', consumers: 1, known: 1, becameKnown: 1, customers: 0, becameCustomer: 0 })
    expect(j.content.find((r: any) => r.name === 'Related post')).toEqual({ name: 'Related post', consumers: 1, known: 1, becameKnown: 1, customers: 0, becameCustomer: 0 })
    expect(j.pages.find((r: any) => r.path === '/pricing')).toEqual({ path: '/pricing', visitors: 2, known: 1, becameKnown: 1, customers: 0, becameCustomer: 0 })
    const ch = Object.fromEntries(j.channels.map((r: any) => [r.channel, [r.visitors, r.leads, r.customers]]))
    expect(ch).toEqual({ 'paid search': [1, 0, 0], email: [1, 1, 0], direct: [3, 3, 2] })
    expect(j.ctas).toEqual([
      { kind: 'content', label: 'Home hero', clicks: 1, people: 1, beforeIdentification: 1 },
      { kind: 'track', label: 'Order Completed', clicks: 1, people: 1, beforeIdentification: 0 },
      { kind: 'track', label: 'Referral Sent', clicks: 1, people: 1, beforeIdentification: 0 },
    ])
  })

  it.skipIf(skip)('segments defined through the API: checked, stored, listed, deleted', async () => {
    const bad = await post(c.url, '/api/segments', { id: 'x', name: 'X', when: { stage: 'nope' } }, { auth: 'Bearer admin-test-token' })
    expect(bad.status).toBe(400)
    expect(bad.body.error).toMatch(/unknown stage/)
    const body = { id: `${t}-eng`, name: 'Engaged or further', when: { stageAtLeast: 'engaged' } }
    const made = await post(c.url, '/api/segments', body, { auth: 'Bearer admin-test-token' })
    expect(made.status).toBe(201)
    expect(made.body.segment).toMatchObject({ id: body.id, origin: 'api', count: 3 })
    expect((await post(c.url, '/api/segments', body, { auth: 'Bearer admin-test-token' })).status).toBe(409)
    const members = (await api(c.url, `/api/segments/${body.id}/profiles`)).body.profiles.map((p: any) => p.email).sort()
    expect(members).toEqual([email('c'), email('d'), email('e')])
    expect((await api(c.url, '/api/segments/whitepaper', { method: 'DELETE' })).status).toBe(409)
    expect((await api(c.url, `/api/segments/${body.id}`, { method: 'DELETE' })).status).toBe(200)
    expect((await api(c.url, `/api/segments/${body.id}/profiles`)).status).toBe(404)
    // A write key cannot define segments.
    expect((await post(c.url, '/api/segments', body)).status).toBe(403)
  })

  it.skipIf(skip)('stages follow new events and erasure without any recompute', async () => {
    expect((await profileOf(ids.b)).stage).toBe('known')
    await sendBatch(c.url, [trackAt(ids.b, 'Subscription Started', {}, 1)])
    expect((await profileOf(ids.b)).stage).toBe('customer')
    const e = await profileOf(ids.e)
    expect((await api(c.url, `/api/profiles/${e.id}`, { method: 'DELETE' })).status).toBe(200)
    const j = (await api(c.url, '/api/journey')).body
    expect(j.stages.map((s: any) => s.count)).toEqual([1, 0, 1, 2, 0])
    // The erased browser comes back: an empty anonymous visitor, not an advocate.
    await sendBatch(c.url, [pageAt(ids.e, '/', 0)])
    expect((await profileOf(ids.e)).stage).toBe('anonymous')
  })
})

// Several collector processes share one PostgreSQL database; each keeps its own journey index.
describe.each(BACKENDS.filter((b) => b.name === 'postgres'))('journey index across two collectors on $name', ({ skip }) => {
  let a: TestCollector
  let b: Awaited<ReturnType<typeof startCollector>>
  beforeAll(async () => {
    if (skip) return
    a = await startTestCollector('postgres')
    b = await startCollector(testConfig(a.db.config))
  })
  afterAll(async () => {
    await b?.close()
    await a?.stop()
  })

  it.skipIf(skip)('what one process stores or erases shows in the other', async () => {
    const anon = uid('x')
    // Reads on b first, so its index exists before the data arrives through a.
    expect((await api(b.url, '/api/journey')).body.people).toBe(0)
    await sendBatch(a.url, [pageAt(anon, '/pricing', 5), identify(anon, { email: `${anon}@example.com` }, { timestamp: at(4) }), trackAt(anon, 'Order Completed', {}, 3)])
    const onB = (await api(b.url, `/api/lookup?anonymousId=${anon}`)).body.profile
    expect(onB.stage).toBe('customer')
    expect((await api(b.url, '/api/journey')).body.stages.map((s: any) => s.count)).toEqual([0, 0, 0, 1, 0])
    // An erasure through a: b has no event announcing it; its periodic identity check finds it.
    expect((await api(a.url, `/api/profiles/${onB.id}`, { method: 'DELETE' })).status).toBe(200)
    await waitUntil(async () => (await api(b.url, '/api/journey')).body.people === 0)
    expect((await api(b.url, '/api/segments')).body.segments.find((s: any) => s.id === 'all').count).toBe(0)
  })
})

async function waitUntil(fn: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 100))
  }
}
