// The script-tag wiring (src/autotrack/script-tag.ts) and the autotrackers on a real tracker.
import { afterEach, describe, expect, it } from 'vitest'
import { AUTOTRACKERS, autotrack } from '../../../src/autotrack/index'
import { install, optionsFromDataset } from '../../../src/autotrack/script-tag'
import { createTracker, memoryEventStore, memoryMetaStore, type Tracker } from '../../../src/index'
import { testClock, testCollector } from '../helpers'
import { goTo, tick } from './host'

const open: Tracker[] = []
afterEach(async () => {
  while (open.length) await open.pop()!.shutdown()
  localStorage.clear()
  delete (window as { waymark?: unknown }).waymark
})

const dataset = (attrs: Record<string, string>) => {
  const script = document.createElement('script')
  for (const [name, value] of Object.entries(attrs)) script.setAttribute(`data-${name}`, value)
  return script.dataset
}

describe('optionsFromDataset', () => {
  it('installs every autotracker by default, redaction first', () => {
    const options = optionsFromDataset(dataset({ collector: 'https://c.test', 'write-key': 'wk' }), {})
    expect(options.autotrack).toHaveLength(AUTOTRACKERS.length + 1)
    expect(options).toMatchObject({ collector: 'https://c.test', writeKey: 'wk' })
  })

  it('reads the switches', () => {
    const none = optionsFromDataset(dataset({ autotrack: 'false' }), {})
    expect(none.autotrack).toHaveLength(1) // redaction only
    const some = optionsFromDataset(dataset({ autotrack: 'pages, forms' }), {})
    expect(some.autotrack).toHaveLength(3)
    const allBut = optionsFromDataset(
      dataset({ 'autotrack-scroll': 'false', 'autotrack-emails': 'false', 'autotrack-pages': 'true', 'session-timeout': '60000' }),
      {},
    ) as unknown as Record<string, unknown>
    expect(allBut.autotrack).toHaveLength(AUTOTRACKERS.length - 1)
    expect(allBut.sessionTimeout).toBe(60000)
  })

  it('sends to the page origin when data-collector is empty or missing', () => {
    expect(optionsFromDataset(dataset({ collector: '' }), {}).collector).toBe(location.origin)
    expect(optionsFromDataset(dataset({}), {}).collector).toBe(location.origin)
  })
})

describe('install', () => {
  it('applies a queued consent call before the automatic page view is recorded', async () => {
    const script = document.createElement('script')
    script.dataset.writeKey = 'wk'
    script.dataset.autotrack = 'pages'
    const queued = [['consent', ['pending']]]
    const host = window as unknown as Window & { waymark?: { q?: unknown[] } }
    host.waymark = { q: queued }
    const tracker = install(script, host as never)
    open.push(tracker)
    expect((await tracker.flush()).pending).toBe(1) // the page view, held in memory
    const { createStore, values } = await import('idb-keyval')
    expect(await values(createStore('waymark-events', 'events'))).toEqual([]) // nothing stored
  })
})

describe('autotrack on a real tracker', () => {
  it('keeps the first touch for the life of the anonymous id: reset() starts it over', async () => {
    goTo('/?utm_source=news&utm_medium=email')
    const first = createTracker(
      { collector: 'https://c.test', writeKey: 'wk', autotrack: autotrack({ only: ['attribution'] }) },
      { stores: { events: memoryEventStore(), meta: memoryMetaStore() }, transport: testCollector().transport },
    )
    open.push(first)
    await first.ready()
    await tick()
    goTo('/pricing') // a later visit, direct: the first touch stays
    const time = testClock()
    const collector = testCollector(time.clock.now)
    const stores = { events: memoryEventStore(), meta: memoryMetaStore() }
    await stores.meta.set('identity', first.user())
    const tracker = createTracker(
      { collector: 'https://c.test', writeKey: 'wk', autotrack: autotrack({ only: ['attribution'] }) },
      { clock: time.clock, transport: collector.transport, stores },
    )
    open.push(tracker)
    await tracker.ready()
    tracker.identify('ada@example.com')
    tracker.reset()
    tracker.identify('bob@example.com')
    await tracker.flush()
    const [ada, bob] = collector.delivered().filter((e) => e.type === 'identify')
    expect(ada.traits!.firstTouch).toMatchObject({ source: 'news', medium: 'email' })
    expect(bob.traits!.firstTouch).toEqual({ landing: '/pricing' }) // direct: no referrer, no campaign
  })

  it('delivers page views with session, campaign and no e-mail address, and uninstalls on shutdown', async () => {
    goTo('/landing?utm_source=news&utm_medium=email&wm_email=ada%40example.com')
    const time = testClock()
    const collector = testCollector(time.clock.now)
    const tracker = createTracker(
      { collector: 'https://c.test', writeKey: 'wk', autotrack: autotrack() },
      { clock: time.clock, transport: collector.transport, stores: { events: memoryEventStore(), meta: memoryMetaStore() } },
    )
    history.pushState({}, '', '/next')
    await tick()
    await tracker.flush()
    const events = collector.delivered()
    expect(events.map((e) => e.type)).toEqual(['identify', 'page', 'page'])
    for (const e of events) expect(JSON.stringify([e.context, e.properties])).not.toMatch(/ada|wm_email/)
    expect(events[0]).toMatchObject({ traits: { email: 'ada@example.com', firstTouch: { source: 'news', medium: 'email' } } })
    const sessionIds = new Set(events.map((e) => e.context.sessionId))
    expect(sessionIds.size).toBe(1)
    expect([...sessionIds][0]).toMatch(/^[0-9A-Z]{26}$/)
    for (const e of events) expect(e.context.campaign).toMatchObject({ source: 'news', medium: 'email', landing: '/landing' })
    await tracker.shutdown()
    history.pushState({}, '', '/after-shutdown')
    await tick()
    expect(collector.delivered()).toHaveLength(3)
  })
})
