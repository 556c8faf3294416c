import { beforeEach, describe, expect, it } from 'vitest'
import { attribution, sessions } from '../../../src/autotrack/index'
import { fakeHost, goTo, setReferrer } from './host'

const MIN = 60_000
const sessionOf = (host: ReturnType<typeof fakeHost>) => host.events.at(-1)!.context.sessionId

beforeEach(() => {
  goTo('/')
  setReferrer('')
})

describe('sessions', () => {
  it('puts one session id on every event until 30 minutes pass without any', () => {
    const host = fakeHost()
    host.install(sessions())
    host.host.tracker.track('A')
    const first = sessionOf(host)
    expect(first).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/)
    host.advance(29 * MIN)
    host.host.tracker.track('B')
    host.advance(29 * MIN)
    host.host.tracker.track('C')
    expect(sessionOf(host)).toBe(first) // activity kept it alive
    host.advance(31 * MIN)
    host.host.tracker.track('D')
    expect(sessionOf(host)).not.toBe(first)
  })

  it('is shared by tabs: a new tab joins it, and activity in any tab keeps it alive', () => {
    const tabA = fakeHost()
    tabA.install(sessions())
    tabA.host.tracker.track('A')
    const tabB = fakeHost()
    tabB.install(sessions())
    tabB.host.tracker.track('B')
    expect(sessionOf(tabB)).toBe(sessionOf(tabA))
    // tab B stays active for 40 minutes while tab A sleeps
    for (let i = 0; i < 8; i++) {
      tabB.advance(5 * MIN + 1)
      tabB.host.tracker.track('B')
    }
    tabA.advance(40 * MIN + 8)
    tabA.host.tracker.track('A again')
    expect(sessionOf(tabA)).toBe(sessionOf(tabB))
  })

  it('adopts a session another tab started (storage event)', () => {
    const tabA = fakeHost()
    tabA.install(sessions())
    const tabB = fakeHost()
    tabB.advance(31 * MIN)
    goTo('/?utm_source=ads&utm_campaign=x')
    tabB.install(sessions()) // new campaign: new session, written to storage
    tabB.host.tracker.track('B')
    dispatchEvent(new StorageEvent('storage', { key: 'wm_session' }))
    tabA.advance(31 * MIN)
    tabA.host.tracker.track('A')
    expect(sessionOf(tabA)).toBe(sessionOf(tabB))
  })

  it('converges on the newest session when another tab started one (no storage event)', () => {
    const tabA = fakeHost()
    tabA.install(sessions())
    tabA.host.tracker.track('A')
    goTo('/?utm_source=ads')
    const tabB = fakeHost(tabA.host.now() + MIN)
    tabB.install(sessions())
    tabB.host.tracker.track('B')
    expect(sessionOf(tabB)).not.toBe(sessionOf(tabA))
    tabA.advance(MIN)
    tabA.host.tracker.track('A2')
    expect(sessionOf(tabA)).toBe(sessionOf(tabB))
  })

  it('starts a new session when the visitor arrives from a new campaign', () => {
    const load1 = fakeHost()
    load1.install(sessions())
    load1.host.tracker.track('A')
    const first = sessionOf(load1)
    load1.unload()
    goTo('/?utm_source=news&utm_campaign=nov') // through a campaign link, a minute later
    const load2 = fakeHost(load1.host.now() + MIN)
    load2.install(sessions())
    load2.host.tracker.track('B')
    const second = sessionOf(load2)
    expect(second).not.toBe(first)
    load2.unload()
    const load3 = fakeHost(load2.host.now() + MIN) // reload of the same landing page: same session
    load3.install(sessions())
    load3.host.tracker.track('C')
    expect(sessionOf(load3)).toBe(second)
  })
})

describe('attribution', () => {
  it('puts the last touch on every event and the first touch on identify', () => {
    goTo('/?utm_source=news&utm_medium=email&utm_campaign=nov')
    const visit1 = fakeHost()
    visit1.install(attribution())
    visit1.host.tracker.track('A')
    expect(visit1.events[0].context.campaign).toMatchObject({ source: 'news', medium: 'email', name: 'nov' })

    // later visit from Google
    goTo('/pricing')
    setReferrer('https://www.google.com/')
    const visit2 = fakeHost()
    visit2.install(attribution())
    visit2.host.tracker.identify({ email: 'ada@example.com' })
    const [identify] = visit2.events
    expect(identify.context.campaign).toMatchObject({ source: 'google.com', referrer: 'https://www.google.com/' })
    expect(identify.traits).toMatchObject({ email: 'ada@example.com', firstTouch: { source: 'news', medium: 'email', landing: '/' } })

    // direct visit: keeps the last non-direct touch
    goTo('/')
    setReferrer('')
    const visit3 = fakeHost()
    visit3.install(attribution())
    visit3.host.tracker.track('B')
    expect(visit3.events[0].context.campaign).toMatchObject({ source: 'google.com' })
    expect(visit3.named('B')[0].traits).toBeUndefined()
  })

  it('marks events of a browser that only ever came direct as direct, first touch included', () => {
    const host = fakeHost()
    host.install(attribution())
    host.host.tracker.identify({ email: 'a@b.co' })
    expect(host.events[0].context.campaign).toEqual({})
    expect(host.events[0].traits!.firstTouch).toEqual({ landing: '/' })
  })

  it('treats a navigation within the site as no touch', () => {
    goTo('/?gclid=abc')
    fakeHost().install(attribution())
    goTo('/next')
    setReferrer(`${location.origin}/?gclid=abc`)
    const host = fakeHost()
    host.install(attribution())
    host.host.tracker.track('A')
    expect(host.events[0].context.campaign).toMatchObject({ gclid: 'abc', landing: '/' })
  })
})

describe('consent (nothing stored while pending, wiped when denied)', () => {
  it('keeps session and touches in memory while pending, writes them once granted', () => {
    goTo('/?utm_source=news&utm_medium=email')
    const host = fakeHost(undefined, { consent: 'pending' })
    host.install(sessions(), attribution())
    host.host.tracker.track('A')
    expect(host.events[0].context.sessionId).toBeTruthy()
    expect(localStorage.getItem('wm_session')).toBeNull()
    expect(localStorage.getItem('wm_touch')).toBeNull()
    host.setConsent('granted')
    expect(JSON.parse(localStorage.getItem('wm_session')!).id).toBe(host.events[0].context.sessionId)
    expect(JSON.parse(localStorage.getItem('wm_touch')!).last).toMatchObject({ source: 'news' })
  })

  it('wipes them when consent is denied', () => {
    const host = fakeHost()
    host.install(sessions(), attribution())
    host.host.tracker.track('A')
    expect(localStorage.getItem('wm_session')).not.toBeNull()
    host.setConsent('denied')
    expect(localStorage.getItem('wm_session')).toBeNull()
    expect(localStorage.getItem('wm_touch')).toBeNull()
  })
})
