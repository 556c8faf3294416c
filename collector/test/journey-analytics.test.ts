// The Journey page's marketing tables through the read API, on SQLite and PostgreSQL, against
// figures worked out by hand from a small fixed history: campaigns by first and by last touch
// (with a second device linked later), revenue and repeat customers, calls to action of a
// segment, score drivers, content and pages that preceded buying, trends per day and week.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStore } from '../src/db/connect.js'
import { startCollector } from '../src/server.js'
import { api, BACKENDS, mid, post, startTestCollector, testConfig, uid, type TestCollector } from './helpers.js'

const DAY = 86_400_000
const HOUR = 3_600_000
const MIN = 60_000
// Day 0 of the history: a UTC midnight twelve days ago, so every day is whole and in the past.
const D0 = (Math.floor(Date.now() / DAY) - 12) * DAY
const at = (day: number, h: number, m = 0) => D0 + day * DAY + h * HOUR + m * MIN
const iso = (ms: number) => new Date(ms).toISOString()
const dayIso = (day: number) => iso(D0 + day * DAY)

const CONFIG = {
  stages: [
    { id: 'anonymous', name: 'Anonymous visitor' },
    { id: 'known', name: 'Known lead', when: { identified: true } },
    { id: 'engaged', name: 'Engaged lead', when: { all: [{ identified: true }, { score: { gte: 20 } }] } },
    { id: 'customer', name: 'Customer', when: { did: { event: ['Order Completed', 'Subscription Started'] } } },
  ],
  // No decay: the points below stay what they are whatever day the test runs.
  score: {
    halfLifeDays: null,
    rules: [
      { id: 'page', label: 'Viewed a page', points: 1, match: { type: 'page' }, max: 10 },
      { id: 'pricing', label: 'Viewed pricing', points: 5, match: { type: 'page', path: '/pricing' }, max: 2 },
      { id: 'form', label: 'Submitted a form', points: 10, match: { event: 'Form Submitted' } },
      { id: 'download', label: 'Downloaded a file', points: 8, match: { event: 'File Downloaded' } },
    ],
  },
  segments: [
    { id: 'everyone', name: 'Everyone', when: { all: [] } },
    { id: 'known', name: 'Identified', when: { identified: true } },
    { id: 'pricing-viewers', name: 'Viewed pricing', when: { did: { type: 'page', path: '/pricing' } } },
  ],
}

type Campaign = { source: string; medium: string; name: string }
const G: Campaign = { source: 'google', medium: 'cpc', name: 'brand' }
const N: Campaign = { source: 'newsletter', medium: 'email', name: 'may' }
const L: Campaign = { source: 'linkedin', medium: 'social', name: 'launch' }

const context = (path: string, campaign?: Campaign) => ({ page: { path, url: `https://shop.example${path}` }, ...(campaign ? { campaign } : {}) })
const page = (anon: string, t: number, path: string, campaign?: Campaign) => ({
  type: 'page', messageId: mid(), anonymousId: anon, timestamp: iso(t), properties: { path }, context: context(path, campaign),
})
const track = (anon: string, t: number, event: string, properties: Record<string, unknown>, campaign?: Campaign, path = '/') => ({
  type: 'track', messageId: mid(), anonymousId: anon, timestamp: iso(t), event, properties, context: context(path, campaign),
})
const identify = (anon: string, t: number, email: string, campaign?: Campaign) => ({
  type: 'identify', messageId: mid(), anonymousId: anon, timestamp: iso(t), traits: { email }, context: context('/', campaign),
})

describe.each(BACKENDS)('journey analytics on $name', ({ name, skip }) => {
  let c: TestCollector
  let env: Record<string, string>
  const tag = uid('an').toLowerCase()
  const anon = { a: `${tag}-a`, b: `${tag}-b`, phone: `${tag}-c-phone`, desktop: `${tag}-c-desktop`, d: `${tag}-d`, e: `${tag}-e` }
  const email = (who: string) => `${tag}-${who}@example.com`
  // No sentAt: the timestamps are kept as given, so the durations below are exact.
  const send = async (batch: unknown[]) => {
    const r = await post(c.url, '/v1/batch', { batch })
    expect(r.status).toBe(200)
    expect(r.body.rejected).toEqual([])
  }
  const get = async (path: string) => {
    const r = await api(c.url, path)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    return r.body
  }
  const q = (from: number, to: number) => `from=${encodeURIComponent(iso(from))}&to=${encodeURIComponent(iso(to))}`

  beforeAll(async () => {
    if (skip) return
    const dir = mkdtempSync(join(tmpdir(), 'waymark-analytics-'))
    const file = join(dir, 'journey.json')
    writeFileSync(file, JSON.stringify(CONFIG))
    env = { WAYMARK_JOURNEY_CONFIG: file }
    c = await startTestCollector(name, env)
    await send([
      // A: two pages from the google ad on day 0, clicks the hero; never identifies.
      page(anon.a, at(0, 10), '/', G),
      page(anon.a, at(0, 10, 5), '/pricing', G),
      track(anon.a, at(0, 10, 6), 'Content Clicked', { name: 'Hero' }, G),
      // B: arrives from the ad on day 1, submits the demo form, identifies an hour after the first visit.
      page(anon.b, at(1, 9), '/', G),
      track(anon.b, at(1, 9, 30), 'Form Submitted', { id: 'demo' }, G),
      identify(anon.b, at(1, 10), email('b'), G),
      // …comes back from the newsletter on day 3, sees the pricing table, orders (revenue wins over total).
      page(anon.b, at(3, 12), '/pricing', N),
      track(anon.b, at(3, 12, 5), 'Content Impression', { name: 'Pricing table' }, N, '/pricing'),
      track(anon.b, at(3, 12, 10), 'Order Completed', { order_id: 'o-b1', revenue: 100, total: 120, currency: 'EUR' }, N),
      // …and orders again on day 5, sent twice under two message ids (one order).
      page(anon.b, at(5, 8), '/', N),
      track(anon.b, at(5, 8, 5), 'Order Completed', { order_id: 'o-b2', total: 50, currency: 'eur' }, N),
      track(anon.b, at(5, 8, 6), 'Order Completed', { order_id: 'o-b2', total: 50, currency: 'eur' }, N),
      // C on a phone: from LinkedIn on day 2, reads a guide, asks for a demo; anonymous for now.
      page(anon.phone, at(2, 8), '/blog', L),
      track(anon.phone, at(2, 8, 5), 'Content Impression', { name: 'Guide' }, L, '/blog'),
      track(anon.phone, at(2, 8, 10), 'Demo Requested', {}, L, '/blog'),
      // C on a desktop, direct on day 4: pricing, identifies, pricing again, downloads.
      page(anon.desktop, at(4, 15), '/pricing'),
      identify(anon.desktop, at(4, 15, 5), email('c')),
      page(anon.desktop, at(4, 15, 10), '/pricing'),
      track(anon.desktop, at(4, 15, 20), 'File Downloaded', { url: 'https://shop.example/guide.pdf' }),
      // D: direct on day 7, identifies, subscribes (a customer from then on); on day 8 from the
      // newsletter: pricing, the pricing table, an order (value as text, lower-case currency).
      page(anon.d, at(7, 11), '/'),
      identify(anon.d, at(7, 11, 10), email('d')),
      track(anon.d, at(7, 11, 20), 'Subscription Started', {}),
      page(anon.d, at(8, 13, 50), '/pricing', N),
      track(anon.d, at(8, 13, 55), 'Content Impression', { name: 'Pricing table' }, N, '/pricing'),
      track(anon.d, at(8, 14), 'Order Completed', { orderId: 'o-d1', value: '30', currency: 'usd' }, N),
    ])
  }, 60_000)
  afterAll(async () => c?.stop())

  it.skipIf(skip)('before the phone is linked: C counts as two people, the desktop one direct', async () => {
    const first = await get('/api/journey/campaigns?touch=first')
    const rows = Object.fromEntries(first.campaigns.map((r: any) => [r.source ?? '(none)', [r.visitors, r.leads, r.customers]]))
    // A, B from google; C's phone from LinkedIn (anonymous); C's desktop and D direct (leads).
    expect(rows).toEqual({ google: [2, 1, 1], linkedin: [1, 0, 0], '(none)': [2, 2, 1] })
  })

  it.skipIf(skip)('campaigns by first touch: visitors, leads, customers, rates, revenue, median times', async () => {
    // The phone identifies on day 6 (C is one person, first seen on the phone); E arrives on day 9.
    await send([
      identify(anon.phone, at(6, 9), email('c'), L),
      page(anon.e, at(9, 10), '/', G),
      identify(anon.e, at(9, 10, 1), email('e'), G),
    ])
    const r = await get('/api/journey/campaigns?touch=first')
    expect(r.touch).toBe('first')
    expect(r.period).toEqual({ from: null, to: null })
    expect(r.campaigns).toEqual([
      {
        source: 'google', medium: 'cpc', campaign: 'brand',
        // A, B, E; B and E identified; B a customer.
        visitors: 3, leads: 2, customers: 1, leadRate: 0.667, closeRate: 0.5, customerRate: 0.333,
        revenue: [{ currency: 'EUR', amount: 150 }], orders: 2,
        // E: 1 min, B: 1 h → (60 000 + 3 600 000) / 2; B became a customer 2 d 3 h 10 min after the first visit.
        medianToLeadMs: 1_830_000, medianToCustomerMs: 2 * DAY + 3 * HOUR + 10 * MIN,
      },
      {
        // D: a direct first visit stays direct; subscribed 20 min after it, identified after 10.
        source: null, medium: null, campaign: null,
        visitors: 1, leads: 1, customers: 1, leadRate: 1, closeRate: 1, customerRate: 1,
        revenue: [{ currency: 'USD', amount: 30 }], orders: 1, medianToLeadMs: 10 * MIN, medianToCustomerMs: 20 * MIN,
      },
      {
        // C: first seen on the phone (day 2, 08:00), identified on the desktop on day 4 at 15:05.
        source: 'linkedin', medium: 'social', campaign: 'launch',
        visitors: 1, leads: 1, customers: 0, leadRate: 1, closeRate: 0, customerRate: 0,
        revenue: [], orders: 0, medianToLeadMs: 2 * DAY + 7 * HOUR + 5 * MIN, medianToCustomerMs: null,
      },
    ])
  })

  it.skipIf(skip)('campaigns by last touch before the conversion', async () => {
    const r = await get('/api/journey/campaigns?touch=last')
    const rows = r.campaigns.map((x: any) => [x.source, x.visitors, x.leads, x.customers, x.revenue, x.orders, x.medianToLeadMs, x.medianToCustomerMs])
    expect(rows).toEqual([
      // A (latest touch, never converted) and E (identified during the ad visit).
      ['google', 2, 1, 0, [], 0, MIN, null],
      // B: the newsletter visit came before the first order; both B's orders and D's (the
      // newsletter visit an hour before it) are the newsletter's.
      ['newsletter', 1, 1, 1, [{ currency: 'EUR', amount: 150 }, { currency: 'USD', amount: 30 }], 3, HOUR, 2 * DAY + 3 * HOUR + 10 * MIN],
      // D became a customer (subscription) before any campaign.
      [null, 1, 1, 1, [], 0, 10 * MIN, 20 * MIN],
      // C: LinkedIn was the last campaign before identifying.
      ['linkedin', 1, 1, 0, [], 0, 2 * DAY + 7 * HOUR + 5 * MIN, null],
    ])
    expect((await api(c.url, '/api/journey/campaigns?touch=middle')).status).toBe(400)
  })

  it.skipIf(skip)('a period is a cohort: people first seen in it, whole days and a partial first day', async () => {
    // Days 1–4: B and C.
    const days = await get(`/api/journey/campaigns?touch=first&${q(at(1, 0), at(5, 0))}`)
    expect(days.campaigns.map((x: any) => [x.source, x.visitors, x.leads, x.customers, x.orders, x.medianToLeadMs, x.medianToCustomerMs])).toEqual([
      ['google', 1, 1, 1, 2, HOUR, 2 * DAY + 3 * HOUR + 10 * MIN],
      ['linkedin', 1, 1, 0, 0, 2 * DAY + 7 * HOUR + 5 * MIN, null],
    ])
    // From 09:30 on day 1: B (first seen at 09:00) is out.
    const partial = await get(`/api/journey/campaigns?${q(at(1, 9, 30), at(5, 0))}`)
    expect(partial.campaigns.map((x: any) => [x.source, x.visitors, x.medianToLeadMs])).toEqual([['linkedin', 1, 2 * DAY + 7 * HOUR + 5 * MIN]])
  })

  it.skipIf(skip)('revenue: per currency, average order value, from existing customers, first and repeat orders', async () => {
    const r = await get('/api/journey/revenue')
    expect(r).toEqual({
      period: { from: null, to: null },
      currencies: [
        // B's two orders (the second one twice sent, once counted): 100 + 50, the second from a customer.
        { currency: 'EUR', revenue: 150, orders: 2, averageOrderValue: 75, fromExistingCustomers: 50 },
        // D subscribed the day before ordering: already a customer.
        { currency: 'USD', revenue: 30, orders: 1, averageOrderValue: 30, fromExistingCustomers: 30 },
      ],
      firstOrders: 2,
      repeatCustomers: 1,
      newCustomers: 2,
    })
    // Days 4–7: B's second order (repeat), D became a customer (day 7); D's order is on day 8.
    const window = await get(`/api/journey/revenue?${q(at(4, 0), at(8, 0))}`)
    expect(window).toEqual({
      period: { from: dayIso(4), to: dayIso(8) },
      currencies: [{ currency: 'EUR', revenue: 50, orders: 1, averageOrderValue: 50, fromExistingCustomers: 50 }],
      firstOrders: 0,
      repeatCustomers: 1,
      newCustomers: 1,
    })
    // A period's ends are taken to whole days: 12:00 on day 3 covers B's first order at 12:10 and the day before.
    expect((await get(`/api/journey/revenue?${q(at(2, 12), at(3, 12))}`)).currencies).toEqual([{ currency: 'EUR', revenue: 100, orders: 1, averageOrderValue: 100, fromExistingCustomers: 0 }])
  })

  it.skipIf(skip)('calls to action of one segment', async () => {
    const known = await get('/api/journey/ctas?segment=known')
    expect(known.segment).toEqual({ id: 'known', name: 'Identified' })
    expect(known.members).toBe(4)
    // B's three Order Completed events (one sent twice) and D's; C asked for a demo while anonymous.
    expect(known.ctas).toEqual([
      { kind: 'track', label: 'Order Completed', clicks: 4, people: 2, beforeIdentification: 0 },
      { kind: 'track', label: 'Demo Requested', clicks: 1, people: 1, beforeIdentification: 1 },
      { kind: 'track', label: 'Subscription Started', clicks: 1, people: 1, beforeIdentification: 0 },
    ])
    const pricing = await get('/api/journey/ctas?segment=pricing-viewers')
    expect(pricing.members).toBe(4)
    expect(pricing.ctas.map((x: any) => [x.kind, x.label, x.clicks, x.people])).toEqual([
      ['track', 'Order Completed', 4, 2],
      ['content', 'Hero', 1, 1],
      ['track', 'Demo Requested', 1, 1],
      ['track', 'Subscription Started', 1, 1],
    ])
    // Day 0 only: A, who is not identified.
    const dayZero = await get(`/api/journey/ctas?segment=known&${q(at(0, 0), at(1, 0))}`)
    expect([dayZero.members, dayZero.ctas]).toEqual([0, []])
    expect((await api(c.url, '/api/journey/ctas?segment=nope')).status).toBe(400)
    expect((await api(c.url, '/api/journey/ctas')).status).toBe(400)
  })

  it.skipIf(skip)('score drivers: each rule’s share of the points the leads hold', async () => {
    const r = await get('/api/journey/score')
    // Leads B (3 pages, 1 pricing, 1 form = 18), C (3 + 2 pricing + download = 21), D (2 + 1 pricing = 7), E (1).
    expect(r.leads).toBe(4)
    expect(r.points).toBe(47)
    expect(r.rules).toEqual([
      { rule: 'pricing', label: 'Viewed pricing', points: 20, share: 0.426, events: 4, leads: 3 },
      { rule: 'form', label: 'Submitted a form', points: 10, share: 0.213, events: 1, leads: 1 },
      { rule: 'page', label: 'Viewed a page', points: 9, share: 0.191, events: 9, leads: 4 },
      { rule: 'download', label: 'Downloaded a file', points: 8, share: 0.17, events: 1, leads: 1 },
    ])
  })

  it.skipIf(skip)('content and pages: customers beside known', async () => {
    const j = await get('/api/journey')
    expect(j.stages.map((s: any) => [s.stage, s.count])).toEqual([['anonymous', 1], ['known', 1], ['engaged', 1], ['customer', 2]])
    // B saw the pricing table before ordering; D after subscribing.
    expect(j.content.find((x: any) => x.name === 'Pricing table')).toEqual({ name: 'Pricing table', consumers: 2, known: 2, becameKnown: 0, customers: 2, becameCustomer: 1 })
    expect(j.content.find((x: any) => x.name === 'Guide')).toEqual({ name: 'Guide', consumers: 1, known: 1, becameKnown: 1, customers: 0, becameCustomer: 0 })
    expect(j.pages.find((x: any) => x.path === '/pricing')).toEqual({ path: '/pricing', visitors: 4, known: 3, becameKnown: 1, customers: 2, becameCustomer: 1 })
    expect(j.pages.find((x: any) => x.path === '/')).toEqual({ path: '/', visitors: 4, known: 3, becameKnown: 3, customers: 2, becameCustomer: 2 })
  })

  it.skipIf(skip)('trends per day and per week, and leads by the stage they are in now', async () => {
    const r = await get(`/api/journey/trends?${q(at(0, 0), at(10, 0))}`)
    expect(r.interval).toBe('day')
    expect(r.period).toEqual({ from: dayIso(0), to: dayIso(10) })
    expect(r.stages.map((s: any) => s.id)).toEqual(['anonymous', 'known', 'engaged', 'customer'])
    expect(r.currencies).toEqual(['EUR', 'USD'])
    const days = r.buckets.map((b: any) => [b.start, b.days, b.visitors, b.leads, b.customers, b.orders, b.revenue, b.leadsByStage])
    const none = {}
    expect(days).toEqual([
      [dayIso(0), 1, 1, 0, 0, 0, none, none],
      [dayIso(1), 1, 1, 1, 0, 0, none, { customer: 1 }],
      [dayIso(2), 1, 1, 0, 0, 0, none, none],
      [dayIso(3), 1, 0, 0, 1, 1, { EUR: 100 }, none],
      [dayIso(4), 1, 0, 1, 0, 0, none, { engaged: 1 }],
      [dayIso(5), 1, 0, 0, 0, 1, { EUR: 50 }, none],
      [dayIso(6), 1, 0, 0, 0, 0, none, none],
      [dayIso(7), 1, 1, 1, 1, 0, none, { customer: 1 }],
      [dayIso(8), 1, 0, 0, 0, 1, { USD: 30 }, none],
      [dayIso(9), 1, 1, 1, 0, 0, none, { known: 1 }],
    ])
    // Weeks start on Monday; the first and last are cut to the period.
    const weeks = await get(`/api/journey/trends?interval=week&${q(at(0, 0), at(10, 0))}`)
    expect(weeks.interval).toBe('week')
    const weekday = (new Date(D0).getUTCDay() + 6) % 7 // 0 = Monday
    const expected: Array<{ start: string; days: number; visitors: number; leads: number; revenue: Record<string, number> }> = []
    const daily = r.buckets
    for (let d = 0; d < 10; d++) {
      if (d === 0 || (weekday + d) % 7 === 0) expected.push({ start: dayIso(d), days: 0, visitors: 0, leads: 0, revenue: {} })
      const w = expected[expected.length - 1]!
      w.days++
      w.visitors += daily[d].visitors
      w.leads += daily[d].leads
      for (const [cur, n] of Object.entries(daily[d].revenue as Record<string, number>)) w.revenue[cur] = (w.revenue[cur] ?? 0) + n
    }
    expect(weeks.buckets.map((b: any) => ({ start: b.start, days: b.days, visitors: b.visitors, leads: b.leads, revenue: b.revenue }))).toEqual(expected)
    expect(weeks.buckets.length).toBe(weekday <= 4 ? 2 : 3)
    // All time: from the first day kept to today.
    const all = await get('/api/journey/trends')
    expect(all.period.from).toBe(dayIso(0))
    expect(all.buckets.reduce((n: number, b: any) => n + b.visitors, 0)).toBe(5)
    expect((await api(c.url, '/api/journey/trends?interval=month')).status).toBe(400)
  })

  it.skipIf(skip)('added to a database that has events, the facts are read from the first event', async () => {
    const reads = ['/api/journey/campaigns?touch=first', '/api/journey/campaigns?touch=last', '/api/journey/revenue', '/api/journey/score', '/api/journey/trends', '/api/journey/ctas?segment=known']
    const before = await Promise.all(reads.map(get))
    await c.close()
    // As a database from before these tables: no campaign or order facts, the keeper unknown.
    const store = await openStore(c.db.config)
    try {
      await store.db.deleteFrom('journey_campaigns').execute()
      await store.db.deleteFrom('journey_orders').execute()
      await store.db.updateTable('journey_state').set({ keepers: '[]' }).execute()
      // Everyone due for evaluation: without the facts read again, the tables would empty.
      await store.db.updateTable('journey_people').set({ stamp: 0 }).execute()
    } finally {
      await store.close()
    }
    const db = c.db
    const running = await startCollector(testConfig(db.config, env))
    c = { ...running, db, stop: async () => (await running.close(), await db.drop()) }
    // The rebuild runs in steps; reads report it under way until done.
    for (let i = 0; i < 100; i++) {
      const status = (await get('/api/journey')).status
      if (status.backfills.length === 0 && status.stale === 0) break
    }
    expect(await Promise.all(reads.map(get))).toEqual(before)
  })

  it.skipIf(skip)('an erased person leaves every table', async () => {
    const e = (await get(`/api/lookup?email=${encodeURIComponent(email('e'))}`)).profile
    expect((await api(c.url, `/api/profiles/${e.id}`, { method: 'DELETE' })).status).toBe(200)
    const first = await get('/api/journey/campaigns?touch=first')
    expect(first.campaigns[0]).toMatchObject({ source: 'google', visitors: 2, leads: 1, medianToLeadMs: HOUR })
    const score = await get('/api/journey/score')
    expect([score.leads, score.points]).toEqual([3, 46])
    const trends = await get(`/api/journey/trends?${q(at(9, 0), at(10, 0))}`)
    expect(trends.buckets.map((b: any) => [b.visitors, b.leads])).toEqual([[0, 0]])
  })
})
