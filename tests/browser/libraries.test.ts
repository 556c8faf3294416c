// The most used browser tracking libraries, the real npm packages bundled by rollup, in real
// Chromium against a real collector (collector/README.md, Send from other libraries). The page is
// served from one origin and the collector listens on another, so every request is a real CORS
// request; nothing is intercepted, the page's requests are only watched. Each library sends what a
// site sends for one visitor: a page and a track while anonymous, an identify with an email and
// traits, a track after it. The collector's read API must then show every event once, one person
// reachable by email, userId and anonymousId, and the anonymous part flagged as before the
// identification.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, BrowserContext, Page, Request } from 'playwright-core'
import { launchChromium, startStaticServer, waitFor } from './harness.mjs'
import { bundleLibraries } from './libraries-bundle.mjs'
import { loadConfig } from '../../collector/src/config.js'
import { startCollector, type RunningCollector } from '../../collector/src/server.js'

const ADMIN = 'adm_libraries_test_token'
// One write key a scenario: the rate limit below counts per write key.
const KEYS = { standard: 'wk_ajs_standard', standardLate: 'wk_ajs_standard_late', batching: 'wk_ajs_batching', xhr: 'wk_rudder_xhr', beacon: 'wk_rudder_beacon' }
// WAYMARK_RATE_LIMIT=1: 10 requests per write key per 10 s window. A scenario that wants a 429
// spends its key's window first; the library's next request is answered 429 with Retry-After
// (the rest of the window), and its retry after that wait is accepted.
const RATE_LIMIT = 1
const WINDOW_REQUESTS = RATE_LIMIT * 10

let browser: Browser
let collector: RunningCollector
let site: Awaited<ReturnType<typeof startStaticServer>>
let dir: string
const contexts: BrowserContext[] = []

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'waymark-libraries-'))
  const bundles = await bundleLibraries(join(dir, 'bundles'))
  const config = loadConfig(['--port', '0'], {
    WAYMARK_ADMIN_TOKEN: ADMIN,
    WAYMARK_WRITE_KEYS: Object.values(KEYS).join(','),
    WAYMARK_RATE_LIMIT: String(RATE_LIMIT),
    WAYMARK_LOG_LEVEL: 'silent',
  })
  collector = await startCollector({ ...config, database: { kind: 'sqlite', file: join(dir, 'waymark.db') } })
  site = await startStaticServer()
  site.setFile('/lib/analytics-next.js', bundles['analytics-next'])
  site.setFile('/lib/rudderstack.js', bundles['rudderstack-v3'])
  browser = await launchChromium()
})

afterEach(async () => {
  while (contexts.length) await contexts.pop()!.close().catch(() => {})
})

afterAll(async () => {
  await browser?.close()
  await site?.close()
  await collector?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** A request the page made, as the browser reports it once it finished or failed. */
interface Seen {
  method: string
  url: URL
  status: number | null
  failure: string | null
  headers: Record<string, string>
}

/** Watches (never intercepts) the page's requests; `pending` counts those not finished yet. */
function watch(page: Page): { seen: Seen[]; pending: () => number } {
  const seen: Seen[] = []
  let started = 0
  const record = async (request: Request, failure: string | null) => {
    const response = failure ? null : await request.response().catch(() => null)
    const headers = await request.allHeaders().catch(() => ({}))
    seen.push({ method: request.method(), url: new URL(request.url()), status: response?.status() ?? null, failure, headers })
  }
  page.on('request', () => void started++)
  page.on('requestfinished', (r) => void record(r, null))
  page.on('requestfailed', (r) => void record(r, r.failure()?.errorText ?? 'failed'))
  return { seen, pending: () => started - seen.length }
}

const posts = (seen: Seen[], path?: string) => seen.filter((s) => s.url.origin === collector.url && s.method === 'POST' && (!path || s.url.pathname === path))
const describeSeen = (seen: Seen[]) => seen.map((s) => `${s.method} ${s.url.pathname} ${s.status ?? s.failure}`).join('; ')

async function api(path: string, init: RequestInit = {}): Promise<any> {
  const r = await fetch(collector.url + path, { ...init, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', ...init.headers } })
  return r.status === 200 ? r.json() : null
}

async function timelineOf(query: string): Promise<any[]> {
  const person = (await api(`/api/lookup?${query}`))?.profile
  return person ? (await api(`/api/profiles/${person.id}/timeline?limit=500`)).events : []
}

/** Resolves once every one of `messageIds` is in the timeline of the person `query` finds. */
async function stored(query: string, messageIds: string[], what: string, watched?: { seen: Seen[] }): Promise<void> {
  await waitFor(
    async () => {
      const ids = new Set((await timelineOf(query)).map((e) => e.messageId))
      return messageIds.every((id) => ids.has(id))
    },
    { timeout: 30_000, interval: 100, message: () => `${what} stored (requests: ${watched ? describeSeen(watched.seen) : '?'})` },
  )
}

/** Spends the write key's rate-limit window with empty batches (nothing stored), leaving `leave` requests. */
async function spendWindow(writeKey: string, leave = 0): Promise<void> {
  const send = () =>
    fetch(`${collector.url}/v1/batch`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`, 'content-type': 'application/json' },
      body: '{"batch":[]}',
    })
  for (let i = 0; i < WINDOW_REQUESTS - leave; i++) expect((await send()).status).toBe(200)
  if (leave === 0) expect((await send()).status).toBe(429)
}

async function openPage(path: string, html: string) {
  const context = await browser.newContext()
  contexts.push(context)
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  // A refused preflight or a missing CORS header shows only here: the page cannot see why.
  page.on('console', (m) => void (m.type() === 'error' && /CORS|Access-Control/i.test(m.text()) && errors.push(m.text())))
  const watched = watch(page)
  await page.goto(site.setPage(path, html))
  return { page, errors, ...watched }
}

/** One visitor: who, and the messageId the library gave each of the four events. */
interface Visit {
  anonymousId: string
  userId: string
  email: string
  ids: { page: string; viewed: string; identify: string; signedUp: string }
}

const newVisitor = (prefix: string) => {
  const userId = `${prefix}-${Math.random().toString(36).slice(2, 10)}`
  return { userId, email: `${userId}@example.com` }
}

/**
 * What the read API must show after a visit: the four events, each once, on one person found by
 * email, userId and anonymousId; the page and the track before the identify flagged as before
 * the identification (`anonymousFlagged`), the identify and the track after it not; the
 * identify's traits on the profile. And nothing left the machine: no settings, plugin or
 * metrics CDN was asked.
 */
async function expectOnePerson(visit: Visit, watched: { seen: Seen[]; pending: () => number }, { anonymousFlagged = true } = {}): Promise<void> {
  await stored(`userId=${visit.userId}`, Object.values(visit.ids), 'the visit', watched)
  await waitFor(() => watched.pending() === 0, { message: 'the page requests to finish' })
  const events = await timelineOf(`userId=${encodeURIComponent(visit.userId)}`)
  const counts = new Map<string, number>()
  for (const e of events) counts.set(e.messageId, (counts.get(e.messageId) ?? 0) + 1)
  expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(Object.values(visit.ids).map((id) => [id, 1])))
  const byId = (id: string) => events.find((e) => e.messageId === id)
  const anonymous = { anonymousId: visit.anonymousId, ...(anonymousFlagged ? { userId: null } : {}), beforeIdentified: anonymousFlagged }
  expect(byId(visit.ids.page)).toMatchObject({ type: 'page', name: 'Pricing', ...anonymous })
  expect(byId(visit.ids.viewed)).toMatchObject({ type: 'track', event: 'Viewed Plans', ...anonymous })
  expect(byId(visit.ids.identify)).toMatchObject({ type: 'identify', userId: visit.userId, email: visit.email, beforeIdentified: false })
  expect(byId(visit.ids.signedUp)).toMatchObject({ type: 'track', event: 'Signed Up', userId: visit.userId, beforeIdentified: false })

  const profileId = (await api(`/api/lookup?userId=${encodeURIComponent(visit.userId)}`)).profile.id
  expect((await api(`/api/lookup?anonymousId=${encodeURIComponent(visit.anonymousId)}`)).profile.id).toBe(profileId)
  const found = await api('/api/profiles/search', { method: 'POST', body: JSON.stringify({ q: visit.email }) })
  expect(found.profiles.map((p: any) => p.id)).toEqual([profileId])
  const profile = (await api(`/api/profiles/${profileId}`)).profile
  expect(profile).toMatchObject({ email: visit.email, userId: visit.userId, stage: 'known' })
  expect(profile.traits.plan.value).toBe('pro')
  expect(profile.traits.email.value).toBe(visit.email)
  expect(watched.seen.filter((s) => s.url.hostname !== '127.0.0.1').map((s) => s.url.href)).toEqual([])
}

// ---------------------------------------------------------------------------------------------
// @segment/analytics-next

function segmentPage(writeKey: string, loadOptions: object): string {
  // cdnSettings inline: nothing is fetched from Segment's settings CDN. Metrics off, or it
  // posts its own performance counters to {apiHost}/m.
  const settings = {
    writeKey,
    cdnSettings: {
      integrations: { 'Segment.io': { apiKey: writeKey, apiHost: `${new URL(collector.url).host}/v1`, protocol: 'http' } },
      metrics: { sampleRate: 0 },
    },
  }
  return `<!doctype html><html><head><meta charset="utf-8"><title>Pricing</title>
<script src="/lib/analytics-next.js"></script>
<script>window.analytics = SegmentAnalytics.AnalyticsBrowser.load(${JSON.stringify(settings)}, ${JSON.stringify(loadOptions)})</script>
</head><body><h1>Pricing</h1></body></html>`
}

type Segment = { seen: Seen[]; page: Page }

/** The anonymous part of the visit; resolves with the messageIds and the anonymousId. */
function segmentAnonymous(page: Page): Promise<{ page: string; viewed: string; anonymousId: string }> {
  return page.evaluate(async () => {
    const a = (window as any).analytics
    const p = await a.page('Pricing', { plan: 'pro' })
    const t = await a.track('Viewed Plans', { plans: 3 })
    return { page: p.event.messageId, viewed: t.event.messageId, anonymousId: (await a.user()).anonymousId() }
  })
}

function segmentIdentified(page: Page, who: { userId: string; email: string }): Promise<{ identify: string; signedUp: string }> {
  return page.evaluate(async (v) => {
    const a = (window as any).analytics
    const i = await a.identify(v.userId, { email: v.email, plan: 'pro' })
    const t = await a.track('Signed Up', { plan: 'pro' })
    return { identify: i.event.messageId, signedUp: t.event.messageId }
  }, who)
}

/**
 * The visit in two parts: the anonymous events are stored before the identify is called. The
 * collector corrects each request's clock by that request's own sentAt, so two events sent in
 * separate requests less than the network latency apart can swap order; a visitor takes longer
 * than a round trip to sign up, and waiting for the first part keeps the test as deterministic.
 */
async function segmentVisit({ page, seen }: Segment, prefix: string): Promise<Visit> {
  const who = newVisitor(prefix)
  const { anonymousId, ...anonymous } = await segmentAnonymous(page)
  await stored(`anonymousId=${anonymousId}`, Object.values(anonymous), 'the anonymous events', { seen })
  return { ...who, anonymousId, ids: { ...anonymous, ...(await segmentIdentified(page, who)) } }
}

describe('@segment/analytics-next in Chromium', () => {
  it('standard mode: an event a request to /v1/p, /v1/t, /v1/i; a 429 is retried after its Retry-After and stored once', async () => {
    await spendWindow(KEYS.standard)
    const watched = await openPage('/segment-standard.html', segmentPage(KEYS.standard, {}))
    const visit = await segmentVisit(watched, 'ajs')
    await expectOnePerson(visit, watched)
    const sent = posts(watched.seen)
    expect(new Set(sent.map((s) => s.url.pathname))).toEqual(new Set(['/v1/p', '/v1/t', '/v1/i']))
    // The page's first attempt met the spent window, its retry was accepted.
    expect(posts(watched.seen, '/v1/p').map((s) => s.status)).toEqual([429, 200])
    expect(sent.filter((s) => s.status !== 200 && s.status !== 429), describeSeen(watched.seen)).toEqual([])
    expect(watched.errors).toEqual([])
  })

  it('standard mode: an anonymous event retried after the identify carries the userId the library adds on each attempt', async () => {
    await spendWindow(KEYS.standardLate)
    const watched = await openPage('/segment-standard-late.html', segmentPage(KEYS.standardLate, {}))
    const who = newVisitor('ajsl')
    // Everything is called before the first retry: all four wait for the window to end.
    const { anonymousId, ...anonymous } = await segmentAnonymous(watched.page)
    const visit = { ...who, anonymousId, ids: { ...anonymous, ...(await segmentIdentified(watched.page, who)) } }
    await expectOnePerson(visit, watched, { anonymousFlagged: false })
    const events = await timelineOf(`userId=${visit.userId}`)
    expect(events.find((e) => e.messageId === visit.ids.page).userId).toBe(visit.userId)
    expect(posts(watched.seen).filter((s) => s.status === 429)).toHaveLength(4)
  })

  it('batching mode: batches to /v1/b; a 429 is retried with X-Retry-Count and each event stored once', async () => {
    await spendWindow(KEYS.batching)
    const options = { integrations: { 'Segment.io': { deliveryStrategy: { strategy: 'batching', config: { size: 2, timeout: 300 } } } } }
    const watched = await openPage('/segment-batching.html', segmentPage(KEYS.batching, options))
    const visit = await segmentVisit(watched, 'ajsb')
    await expectOnePerson(visit, watched)
    const sent = posts(watched.seen)
    expect(new Set(sent.map((s) => s.url.pathname))).toEqual(new Set(['/v1/b']))
    expect(sent[0]!.status).toBe(429)
    const retried = sent.filter((s) => s.headers['x-retry-count'])
    expect(retried.map((s) => s.status)).toContain(200)
    expect(watched.errors).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------------
// @rudderstack/analytics-js v3

function rudderPage(writeKey: string, loadOptions: object): string {
  // getSourceConfig stands in for RudderStack's control plane: no destinations, no CDN.
  const source = { source: { id: 'waymark-test', name: 'waymark-test', writeKey, workspaceId: 'waymark', enabled: true, config: {}, destinations: [] } }
  return `<!doctype html><html><head><meta charset="utf-8"><title>Pricing</title>
<script src="/lib/rudderstack.js"></script>
<script>
  window.rudder = new RudderStackAnalytics.RudderAnalytics()
  rudder.load(${JSON.stringify(writeKey)}, ${JSON.stringify(collector.url)}, {
    getSourceConfig: () => (${JSON.stringify(source)}),
    polyfillIfRequired: false,
    logLevel: 'ERROR',
    ...${JSON.stringify(loadOptions)},
  })
</script>
</head><body><h1>Pricing</h1></body></html>`
}

/** The visit in two parts, as segmentVisit; each call's callback hands back the event it queued. */
async function rudderVisit(page: Page, seen: Seen[], prefix: string): Promise<Visit> {
  const who = newVisitor(prefix)
  await page.waitForFunction(() => (window as any).rudder?.getAnonymousId?.())
  const anonymous = await page.evaluate(async () => {
    const r = (window as any).rudder
    const queued = (call: (done: (e: any) => void) => void) => new Promise<string>((res) => call((e) => res(e.messageId)))
    const [page, viewed] = await Promise.all([queued((cb) => r.page('Pricing', { plan: 'pro' }, cb)), queued((cb) => r.track('Viewed Plans', { plans: 3 }, cb))])
    return { page, viewed, anonymousId: r.getAnonymousId() as string }
  })
  const { anonymousId, ...ids } = anonymous
  await stored(`anonymousId=${anonymousId}`, Object.values(ids), 'the anonymous events', { seen })
  const identified = await page.evaluate(async (v) => {
    const r = (window as any).rudder
    const queued = (call: (done: (e: any) => void) => void) => new Promise<string>((res) => call((e) => res(e.messageId)))
    const [identify, signedUp] = await Promise.all([
      queued((cb) => r.identify(v.userId, { email: v.email, plan: 'pro' }, cb)),
      queued((cb) => r.track('Signed Up', { plan: 'pro' }, cb)),
    ])
    return { identify, signedUp }
  }, who)
  return { ...who, anonymousId, ids: { ...ids, ...identified } }
}

describe('@rudderstack/analytics-js v3 in Chromium', () => {
  it('XHR: an event a request to /v1/<type>, with its AnonymousId and SentAt headers; the anonymous "userId": "" is no id', async () => {
    const watched = await openPage('/rudder-xhr.html', rudderPage(KEYS.xhr, { plugins: ['XhrQueue'] }))
    const visit = await rudderVisit(watched.page, watched.seen, 'rs')
    await expectOnePerson(visit, watched)
    const sent = posts(watched.seen)
    expect(new Set(sent.map((s) => s.url.pathname))).toEqual(new Set(['/v1/page', '/v1/track', '/v1/identify']))
    expect(sent.map((s) => s.status)).toEqual([200, 200, 200, 200])
    expect(sent.every((s) => s.headers.anonymousid && s.headers.sentat)).toBe(true)
    expect(watched.errors).toEqual([])
  })

  it('beacon: batches to /beacon/v1/batch?writeKey=', async () => {
    const options = { plugins: ['BeaconQueue'], useBeacon: true, beaconQueueOptions: { maxItems: 2, flushQueueInterval: 300 } }
    const watched = await openPage('/rudder-beacon.html', rudderPage(KEYS.beacon, options))
    const visit = await rudderVisit(watched.page, watched.seen, 'rsb')
    await expectOnePerson(visit, watched)
    const sent = posts(watched.seen)
    // Two events a beacon (maxItems), each part of the visit one.
    expect(sent.map((s) => [`${s.url.pathname}${s.url.search}`, s.status])).toEqual([
      [`/beacon/v1/batch?writeKey=${KEYS.beacon}`, 200],
      [`/beacon/v1/batch?writeKey=${KEYS.beacon}`, 200],
    ])
    expect(watched.errors).toEqual([])
  })
})
