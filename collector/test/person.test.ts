// The Person page's data through the read API, on SQLite and PostgreSQL: the first touch of a
// person with several devices, the events marked as anonymous on each device, the devices
// linked after the identification with their counts, and the timeline filtered by kind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, BACKENDS, mid, sendBatch, startTestCollector, timelineOf, uid, type TestCollector } from './helpers.js'

const PHONE_UA = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36'
const DESKTOP_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36'
const at = (hh: number, mm = 0, ms = 0) => `2026-02-10T${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}:00.${String(ms).padStart(3, '0')}Z`
const AD = { source: 'google', medium: 'cpc', name: 'spring', landing: '/pricing' }
const MAIL = { source: 'newsletter', medium: 'email', name: 'weekly', landing: '/article' }

/** An SDK-shaped event: page context, the last touch in context.campaign, a session. */
function sdk(anon: string, ua: string, session: string, campaign: Record<string, string>, path: string, when: string, fields: Record<string, unknown>) {
  return {
    messageId: mid(),
    anonymousId: anon,
    timestamp: when,
    context: { userAgent: ua, sessionId: session, campaign, page: { path, url: `https://shop.example${path}`, title: path } },
    ...fields,
  }
}

describe.each(BACKENDS)('Person page data on $name', ({ name, skip }) => {
  let c: TestCollector
  const t = uid('pp').toLowerCase()
  const [phone, desktop, early, late] = ['phone', 'desktop', 'early', 'late'].map((d) => `${t}-${d}`)
  const ada = `${t}-ada@example.com`
  const bob = `${t}-bob@example.com`
  const person = async (email: string) => {
    const id = (await api(c.url, `/api/profiles?q=${encodeURIComponent(email)}`)).body.profiles[0].id
    return (await api(c.url, `/api/profiles/${id}`)).body.profile
  }

  beforeAll(async () => {
    if (skip) return
    c = await startTestCollector(name)
    const p = (campaign: Record<string, string>, path: string, when: string, fields: Record<string, unknown>) => sdk(phone, PHONE_UA, 's-phone-1', campaign, path, when, fields)
    const d = (path: string, when: string, fields: Record<string, unknown>) => sdk(desktop, DESKTOP_UA, 's-desk', {}, path, when, fields)
    const r = await sendBatch(
      c.url,
      [
        // Ada's phone arrives from an ad and reads an article (scrolls, stays).
        p(AD, '/pricing', at(10), { type: 'page', properties: { path: '/pricing', url: 'https://shop.example/pricing?utm_source=google&utm_medium=cpc&utm_campaign=spring' } }),
        p(AD, '/article', at(10, 5), { type: 'page', properties: { path: '/article' } }),
        p(AD, '/article', at(10, 6), { type: 'track', event: 'Scroll Depth', properties: { percent: 75, url: 'https://shop.example/article' } }),
        p(AD, '/article', at(10, 7), { type: 'track', event: 'Page Engaged', properties: { engagedSeconds: 42, url: 'https://shop.example/article' } }),
        // Her desktop: a direct visit, a click on a call to action, the newsletter form.
        d('/', at(11), { type: 'page', properties: { path: '/' } }),
        d('/', at(11, 5), { type: 'track', event: 'Signup Clicked', properties: { plan: 'pro' } }),
        d('/', at(11, 10), { type: 'identify', traits: { email: ada, firstTouch: { landing: '/', channel: 'direct' } } }),
        d('/', at(11, 10, 1), { type: 'track', event: 'Form Submitted', properties: { name: 'newsletter', fields: ['email'] } }),
        // The phone, later, through the newsletter's e-mail link.
        sdk(phone, PHONE_UA, 's-phone-2', MAIL, '/article', at(12), { type: 'identify', traits: { email: ada, firstTouch: { ...AD, channel: 'paid search' } } }),
        sdk(phone, PHONE_UA, 's-phone-2', MAIL, '/article', at(12, 0, 5), { type: 'page', properties: { path: '/article' } }),
        sdk(phone, PHONE_UA, 's-phone-2', MAIL, '/article', at(12, 1), { type: 'track', event: 'Content Shared', properties: { name: 'Guide', network: 'x', token: 'k1' } }),
        // Bob: a direct visit on a laptop first, the ad on his phone an hour later.
        sdk(early, DESKTOP_UA, 's-b1', {}, '/docs', at(9), { type: 'page', properties: { path: '/docs' } }),
        sdk(late, PHONE_UA, 's-b2', AD, '/pricing', at(10), { type: 'page', properties: { path: '/pricing' } }),
        sdk(late, PHONE_UA, 's-b2', AD, '/pricing', at(10, 1), { type: 'identify', traits: { email: bob } }),
        sdk(early, DESKTOP_UA, 's-b3', {}, '/docs', at(13), { type: 'identify', traits: { email: bob } }),
      ],
      { sentAt: undefined },
    )
    expect(r.status).toBe(200)
    expect(r.body.rejected).toEqual([])
  })
  afterAll(async () => c?.stop())

  it.skipIf(skip)("the first touch is the earliest page view's on any device, as fields, its landing page a path", async () => {
    const a = await person(ada)
    expect(a.firstTouch).toEqual({ channel: 'paid search', source: 'google', medium: 'cpc', campaign: 'spring', landingPage: '/pricing', at: at(10) })
    // The People list says the same.
    const listed = (await api(c.url, `/api/profiles?q=${encodeURIComponent(ada)}`)).body.profiles[0]
    expect(listed.firstTouch).toEqual(a.firstTouch)
    expect(a.journey.channel).toBe('paid search')
    // Bob's earliest visit was direct, on the laptop: that is his first touch, with its landing page.
    const b = await person(bob)
    expect(b.firstTouch).toEqual({ channel: 'direct', landingPage: '/docs', at: at(9) })
    expect(b.journey.channel).toBe('direct')
  })

  it.skipIf(skip)('events are marked anonymous on each device until that device joined the person; a later device has its own marker', async () => {
    const a = await person(ada)
    expect(a.identifiedAt).toBe(at(11, 10))
    // Stitched at the identification: the desktop's page view and click.
    expect(a.journey.identification).toMatchObject({ at: at(11, 10), as: ada, earlierEvents: 2, devices: 1 })
    // The phone joined at 12:00 with its four anonymous events (two of them before 11:10, all before 12:00).
    expect(a.journey.linkedDevices).toEqual([{ anonymousId: phone, browser: 'Mobile Chrome 124', os: 'Android 14', device: 'mobile', at: at(12), earlierEvents: 4 }])
    const events = await timelineOf(c.url, a.id)
    const marked = events.filter((e) => e.beforeIdentified).map((e) => `${e.anonymousId === phone ? 'phone' : 'desktop'} ${e.event ?? e.properties?.path}`)
    expect(marked.sort()).toEqual(['desktop /', 'desktop Signup Clicked', 'phone /article', 'phone /pricing', 'phone Page Engaged', 'phone Scroll Depth'])
    expect(marked).toHaveLength(a.journey.identification.earlierEvents + a.journey.linkedDevices[0].earlierEvents)
    // Bob: the laptop joined at 13:00 with its one earlier page view.
    const b = await person(bob)
    expect(b.journey.identification).toMatchObject({ at: at(10, 1), earlierEvents: 1, devices: 1 })
    expect(b.journey.linkedDevices).toMatchObject([{ anonymousId: early, at: at(13), earlierEvents: 1, browser: 'Chrome 124', os: 'Linux' }])
  })

  it.skipIf(skip)('the timeline filters by kind; scroll depth and engaged time are of the page kind', async () => {
    const id = (await person(ada)).id
    const kinds = async (k: string) =>
      (await api(c.url, `/api/profiles/${id}/timeline?order=asc&limit=500&kinds=${k}`)).body.events.map((e: any) => e.event ?? `${e.type} ${e.properties?.path ?? ''}`.trim())
    expect(await kinds('page')).toEqual(['page /pricing', 'page /article', 'Scroll Depth', 'Page Engaged', 'page /', 'page /article'])
    expect(await kinds('identity')).toEqual(['identify', 'identify'])
    expect(await kinds('form,content')).toEqual(['Form Submitted', 'Content Shared'])
    expect(await kinds('custom')).toEqual(['Signup Clicked'])
    expect(await kinds('link')).toEqual([])
    expect(await kinds('page,content,form,link,custom,identity')).toHaveLength(11)
    // Pages of a filtered timeline follow one another.
    const first = (await api(c.url, `/api/profiles/${id}/timeline?order=asc&limit=4&kinds=page`)).body
    const next = (await api(c.url, `/api/profiles/${id}/timeline?order=asc&limit=4&kinds=page&cursor=${first.nextCursor}`)).body
    expect([...first.events, ...next.events].map((e: any) => e.messageId)).toHaveLength(6)
    expect(next.nextCursor).toBeNull()
    const bad = await api(c.url, `/api/profiles/${id}/timeline?kinds=page,pageviews`)
    expect(bad.status).toBe(400)
    expect(bad.body.error).toMatch(/unknown kind "pageviews"/)
  })
})
