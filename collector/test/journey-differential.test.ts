// The database path of the journey against the oracle: seeded random histories (several devices,
// identifies that merge them, late events, old events that decay, every condition kind) go in
// through the HTTP API; every person's stage, score, reasons and segments, and the Journey
// tables, must equal what the pure model computes from that person's own timeline.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkJourneyConfig } from '../src/journey/config.js'
import { contributionOf, evaluateFacts, factsOf, matchersOf, type JourneyConfig, type Signal } from '../src/journey/model.js'
import { customerIndexOf } from '../src/journey/people.js'
import { signalOfParsed } from '../src/journey/signal.js'
import { api, BACKENDS, post, sendBatch, startTestCollector, timelineOf, uid, type TestCollector } from './helpers.js'

const DAY = 86_400_000

/** Small, seeded, good enough: mulberry32. */
function rng(seed: number) {
  let a = seed
  return () => {
    a |= 0
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// Every condition kind, windows, caps, decay, negative points.
const RAW_CONFIG = {
  stages: [
    { id: 'visitor', name: 'Visitor' },
    { id: 'lead', name: 'Lead', when: { identified: true } },
    { id: 'mql', name: 'Marketing-qualified', when: { all: [{ identified: true }, { any: [{ score: { gte: 25 } }, { did: { event: 'Demo Requested' } }] }] } },
    { id: 'customer', name: 'Customer', when: { did: { event: 'Order Completed' } } },
    { id: 'repeat', name: 'Repeat customer', when: { did: { event: 'Order Completed' }, atLeast: 2 } },
  ],
  score: {
    halfLifeDays: 10,
    rules: [
      { id: 'page', label: 'Page', points: 1, match: { type: 'page' }, max: 6 },
      { id: 'pricing', label: 'Pricing', points: 5, match: { type: 'page', path: '*pric*' }, max: 3 },
      { id: 'content', label: 'Content', points: 3, match: { event: 'Content Clicked', content: ['Guide*', '*video'] } },
      { id: 'form', label: 'Form', points: 10, match: { event: 'Form Submitted', form: 'contact' }, max: 2 },
      { id: 'download', label: 'Download', points: 8, match: { event: 'File Downloaded', url: '*.pdf' } },
      { id: 'unsub', label: 'Unsubscribed', points: -15, match: { event: 'Unsubscribed' } },
    ],
  },
  segments: [
    { id: 'everyone', name: 'Everyone', when: { all: [] } },
    { id: 'anon', name: 'Anonymous', when: { not: { identified: true } } },
    { id: 'pricing-3d', name: 'Pricing twice in 3 days', when: { did: { type: 'page', path: '/pricing' }, atLeast: 2, withinDays: 3 } },
    { id: 'recent-content', name: 'Content this week', when: { did: { event: 'Content Impression' }, withinDays: 7 } },
    { id: 'paid', name: 'Paid', when: { channel: 'paid *' } },
    { id: 'google', name: 'Google', when: { source: ['google', 'bing'] } },
    { id: 'hot', name: 'Hot', when: { all: [{ stageAtLeast: 'lead' }, { score: { gte: 15, lte: 1000 } }] } },
    { id: 'mql-or-customer', name: 'MQL or customer', when: { stage: ['mql', 'customer'] } },
    { id: 'cold', name: 'Cold', when: { score: { lte: 0 } } },
  ],
}

const PATHS = ['/', '/pricing', '/blog/a', '/blog/b', '/features', '/pricing/enterprise', '/about']
const CONTENT = ['Guide to X', 'Launch video', 'Case study', 'Guide to Y']
const CAMPAIGNS = [
  null,
  { channel: 'paid search', source: 'google', medium: 'cpc' },
  { channel: 'paid social', source: 'facebook', medium: 'paid' },
  { channel: 'email', source: 'newsletter', medium: 'email' },
  { channel: 'organic search', source: 'bing' },
  { channel: 'direct' },
]

interface Generated {
  /** Batches in the order they are sent (later ones hold late events). */
  batches: unknown[][]
}

function generate(seed: number, tag: string, people: number): Generated {
  const r = rng(seed)
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!
  const now = Date.now()
  const early: unknown[] = []
  const late: unknown[] = []
  let n = 0
  const id = () => `${tag}-m${n++}`
  for (let p = 0; p < people; p++) {
    const devices = r() < 0.3 ? 2 : 1
    const email = r() < 0.6 ? `${tag}-p${p}@example.com` : null
    const shared = email && r() < 0.2 ? `${tag}-p${(p + 1) % people}@example.com` : email // some people share an address: merges across people
    for (let d = 0; d < devices; d++) {
      const anon = `${tag}-p${p}-d${d}`
      const start = now - Math.floor(r() * 40 * DAY)
      const campaign = pick(CAMPAIGNS)
      const events = 2 + Math.floor(r() * 14)
      let t = start
      const out: unknown[] = []
      for (let e = 0; e < events; e++) {
        t += Math.floor(r() * 2 * DAY * (r() < 0.2 ? 5 : 0.1))
        if (t > now - 1000) t = now - 1000 - e
        const path = pick(PATHS)
        const context = { page: { path, url: `https://site.example${path}` }, ...(campaign && e === 0 ? { campaign } : {}) }
        const ts = new Date(t).toISOString()
        const k = r()
        if (k < 0.45) out.push({ type: 'page', messageId: id(), anonymousId: anon, properties: { path }, context, timestamp: ts })
        else if (k < 0.6) out.push({ type: 'track', messageId: id(), anonymousId: anon, event: 'Content Impression', properties: { name: pick(CONTENT) }, context, timestamp: ts })
        else if (k < 0.7) out.push({ type: 'track', messageId: id(), anonymousId: anon, event: 'Content Clicked', properties: { name: pick(CONTENT) }, context, timestamp: ts })
        else if (k < 0.76) out.push({ type: 'track', messageId: id(), anonymousId: anon, event: 'Form Submitted', properties: { id: pick(['contact', 'newsletter']) }, context, timestamp: ts })
        else if (k < 0.81) out.push({ type: 'track', messageId: id(), anonymousId: anon, event: 'File Downloaded', properties: { url: pick(['https://site.example/a.pdf', 'https://site.example/b.zip']) }, context, timestamp: ts })
        else if (k < 0.86) out.push({ type: 'track', messageId: id(), anonymousId: anon, event: 'Order Completed', properties: { revenue: 10 }, context, timestamp: ts })
        else if (k < 0.9) out.push({ type: 'track', messageId: id(), anonymousId: anon, event: pick(['Demo Requested', 'Plan Selected', 'Unsubscribed']), properties: {}, context, timestamp: ts })
        else if (k < 0.95 && (shared || email)) {
          out.push({ type: 'identify', messageId: id(), anonymousId: anon, traits: { email: d === 1 && shared ? shared : email }, context, timestamp: ts })
        } else out.push({ type: 'page', messageId: id(), anonymousId: anon, properties: { path: '/pricing' }, context, timestamp: ts })
      }
      // A share of each device's history arrives late (after later batches were stored).
      for (const ev of out) (r() < 0.2 ? late : early).push(ev)
    }
  }
  const shuffled = early.sort(() => r() - 0.5)
  const batches: unknown[][] = []
  for (let i = 0; i < shuffled.length; i += 40) batches.push(shuffled.slice(i, i + 40))
  for (let i = 0; i < late.length; i += 40) batches.push(late.slice(i, i + 40))
  return { batches }
}

/** The oracle for one person: their timeline folded by the pure model. */
function oracle(events: any[], identifiedAt: string | null, config: JourneyConfig, now: number) {
  const signals: Signal[] = events.map((e) =>
    signalOfParsed(
      { type: e.type, event: e.event, timestamp: Date.parse(e.timestamp), session_id: e.sessionId, user_id: e.userId, email: e.email },
      e.properties ?? {},
      e.context ?? {},
    ),
  )
  const facts = factsOf({ id: 'p', identifiedAt: identifiedAt === null ? null : Date.parse(identifiedAt), signals }, matchersOf(config))
  return { facts, e: evaluateFacts(facts, config, now) }
}

describe.each(BACKENDS)('journey in the database equals the pure model on $name', ({ name, skip }) => {
  let c: TestCollector
  const config = checkJourneyConfig(RAW_CONFIG)
  const tag = uid('d').toLowerCase()

  beforeAll(async () => {
    if (skip) return
    const dir = mkdtempSync(join(tmpdir(), 'waymark-diff-'))
    const file = join(dir, 'journey.json')
    writeFileSync(file, JSON.stringify(RAW_CONFIG))
    c = await startTestCollector(name, { WAYMARK_JOURNEY_CONFIG: file })
    // Half the history, a read (so the worker has evaluated people), then the rest with late events.
    const { batches } = generate(20261204, tag, 40)
    const half = Math.floor(batches.length / 2)
    for (const b of batches.slice(0, half)) expect((await sendBatch(c.url, b)).status).toBe(200)
    expect((await api(c.url, '/api/journey')).status).toBe(200)
    for (const b of batches.slice(half)) expect((await sendBatch(c.url, b)).status).toBe(200)
  }, 120_000)
  afterAll(async () => c?.stop())

  /**
   * Until the journey has read every stored event, finished its backfills and re-evaluated
   * everyone for today. A read brings the journey up to date for at most a bounded time and then
   * answers from what is read so far (docs/viewer.md), and the people list does not say how far
   * that is: on a loaded machine the worker is seconds behind the last acknowledged batch.
   */
  async function caughtUp() {
    for (const deadline = Date.now() + 60_000; ; ) {
      const { status } = (await api(c.url, '/api/journey')).body
      if (status.readTo >= status.lastEventId && status.backfills.length === 0 && status.stale === 0) return
      expect(Date.now(), `journey still behind: ${JSON.stringify(status)}`).toBeLessThan(deadline)
    }
  }

  async function everyone(extraSegments: JourneyConfig['segments'] = []) {
    await caughtUp()
    const list: any[] = []
    let cursor: string | null = null
    do {
      const r: any = await api(c.url, `/api/profiles?limit=200${cursor ? `&cursor=${cursor}` : ''}`)
      expect(r.status).toBe(200)
      list.push(...r.body.profiles)
      cursor = r.body.nextCursor
    } while (cursor)
    const model = { ...config, segments: [...config.segments, ...extraSegments] }
    const now = Date.now()
    const checked = []
    for (const p of list) {
      const detail = (await api(c.url, `/api/profiles/${p.id}`)).body.profile
      const { e, facts } = oracle(await timelineOf(c.url, p.id), detail.identifiedAt, model, now)
      expect({ id: p.id, stage: p.stage, score: p.score, segments: [...p.segments].sort(), reasons: detail.journey.reasons, channel: detail.journey.channel, source: detail.journey.source }).toEqual({
        id: p.id,
        stage: e.stage,
        score: e.score,
        segments: [...e.segments].sort(),
        reasons: e.reasons,
        channel: e.channel,
        source: e.source,
      })
      checked.push({ e, facts, identified: detail.identifiedAt !== null })
    }
    return checked
  }

  it.skipIf(skip)('every person: stage, score, reasons, segments and first touch', async () => {
    const checked = await everyone()
    expect(checked.length).toBeGreaterThan(30)
    // The history exercises what it should: merges, every stage, decayed scores, members of each segment.
    const stages = new Set(checked.map((x) => x.e.stage))
    expect(stages.size).toBeGreaterThanOrEqual(4)
    for (const s of config.segments) expect(checked.some((x) => x.e.segments.includes(s.id)), s.id).toBe(true)
  })

  it.skipIf(skip)('the Journey tables equal the sums of everyone’s contribution', async () => {
    const checked = await everyone()
    const report = (await api(c.url, '/api/journey')).body
    const ci = customerIndexOf(config)
    const stageCount = new Map<string, number>()
    const channels = new Map<string, { visitors: number; leads: number; customers: number }>()
    const content = new Map<string, { consumers: number; known: number; becameKnown: number }>()
    const pages = new Map<string, { visitors: number; known: number; becameKnown: number }>()
    for (const { e, facts, identified } of checked) {
      stageCount.set(e.stage, (stageCount.get(e.stage) ?? 0) + 1)
      const ch = channels.get(e.channel ?? '(none)') ?? { visitors: 0, leads: 0, customers: 0 }
      ch.visitors++
      if (e.stageIndex >= 1) ch.leads++
      if (e.stageIndex >= ci) ch.customers++
      channels.set(e.channel ?? '(none)', ch)
      const contribution = contributionOf(facts)
      for (const [name, before] of contribution.content) {
        const row = content.get(name) ?? { consumers: 0, known: 0, becameKnown: 0 }
        row.consumers++
        row.known += identified ? 1 : 0
        row.becameKnown += before ? 1 : 0
        content.set(name, row)
      }
      for (const [path, before] of contribution.pages) {
        const row = pages.get(path) ?? { visitors: 0, known: 0, becameKnown: 0 }
        row.visitors++
        row.known += identified ? 1 : 0
        row.becameKnown += before ? 1 : 0
        pages.set(path, row)
      }
    }
    expect(report.people).toBe(checked.length)
    expect(Object.fromEntries(report.stages.map((s: any) => [s.stage, s.count]))).toEqual(Object.fromEntries(config.stages.map((s) => [s.id, stageCount.get(s.id) ?? 0])))
    expect(Object.fromEntries(report.channels.map((r: any) => [r.channel, { visitors: r.visitors, leads: r.leads, customers: r.customers }]))).toEqual(Object.fromEntries(channels))
    expect(Object.fromEntries(report.content.map((r: any) => [r.name, { consumers: r.consumers, known: r.known, becameKnown: r.becameKnown }]))).toEqual(Object.fromEntries(content))
    expect(Object.fromEntries(report.pages.map((r: any) => [r.path, { visitors: r.visitors, known: r.known, becameKnown: r.becameKnown }]))).toEqual(Object.fromEntries(pages))
    const segs = (await api(c.url, '/api/segments')).body.segments
    for (const s of config.segments) expect(segs.find((x: any) => x.id === s.id).count, s.id).toBe(checked.filter((x) => x.e.segments.includes(s.id)).length)
  })

  it.skipIf(skip)('a segment added through the API over existing data is filled in by a backfill', async () => {
    const seg = { id: `${tag}-csv`, name: 'Case study readers', when: { did: { event: 'Content Impression', content: 'Case*' }, atLeast: 2 } }
    const created = await post(c.url, '/api/segments', seg, { auth: `Bearer admin-test-token` })
    expect(created.status).toBe(201)
    // The backfill runs in steps; reads report it under way until done (everyone() waits for it).
    const checked = await everyone([{ ...checkJourneyConfig({ segments: [seg] }).segments[0]!, origin: 'api' }])
    expect(checked.some((x) => x.e.segments.includes(seg.id))).toBe(true)
  })
})
