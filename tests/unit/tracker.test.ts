// The public API, end to end inside one DOM emulation: real (fake-)IndexedDB, injected time
// and collector.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createTracker, type Tracker, type TrackerOptions, type WaymarkError } from '../../src/index'
import { idle, storedEvents, testClock, testCollector, testTabs } from './helpers'

type Time = ReturnType<typeof testClock>
type Collector = ReturnType<typeof testCollector>

const open: Tracker[] = []
afterEach(async () => {
  while (open.length) await open.pop()!.shutdown()
})

// Tabs started with one clock share one in-memory channel: its messages arrive as time advances.
const hubs = new WeakMap<Time, ReturnType<typeof testTabs>>()
const hubOf = (time: Time) => hubs.get(time) ?? hubs.set(time, testTabs(time.clock)).get(time)!

function start(options: Partial<TrackerOptions> = {}, shared: { time?: Time; collector?: Collector } = {}) {
  const time = shared.time ?? testClock()
  const collector = shared.collector ?? testCollector(time.clock.now)
  const errors: WaymarkError[] = []
  const tracker = createTracker(
    { collector: 'https://collect.example.com/', writeKey: 'wk_test', onError: (e) => errors.push(e), ...options },
    { clock: time.clock, transport: collector.transport, channel: hubOf(time).channel },
  )
  open.push(tracker)
  return { tracker, time, collector, errors }
}

describe('recording and delivery', () => {
  it('sends Segment-shaped events in call order to {collector}/v1/batch', async () => {
    const { tracker, time, collector } = start()
    tracker.page('Home')
    tracker.track('Clicked CTA', { plan: 'pro' })
    await time.advance(2000)
    const [first, second] = collector.delivered()
    expect(collector.names()).toEqual(['Home', 'Clicked CTA'])
    expect(first).toMatchObject({ type: 'page', name: 'Home', context: { library: { name: 'waymark' } } })
    expect(first.context.page?.url).toBe(location.href)
    expect(second).toMatchObject({ type: 'track', event: 'Clicked CTA', properties: { plan: 'pro' } })
    expect(first.anonymousId).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/)
    expect(second.anonymousId).toBe(first.anonymousId)
    expect(first.messageId < second.messageId).toBe(true)
    expect(first.timestamp).toBe('2026-11-22T10:00:00.000Z')
    expect(collector.requests[0].body).toMatchObject({ writeKey: 'wk_test', sentAt: expect.any(String) })
  })

  it('writes a burst of calls to storage in one transaction of 100-event chunks, before sending', async () => {
    const { tracker, time, collector } = start({ flushInterval: 60_000, batchSize: 500 })
    await time.advance(0)
    const put = vi.spyOn(IDBObjectStore.prototype, 'put')
    const transactions = vi.spyOn(IDBDatabase.prototype, 'transaction')
    for (let i = 0; i < 250; i++) tracker.track('Burst', { i })
    expect(await storedEvents()).toHaveLength(0) // nothing written on the call path
    await time.advance(0)
    expect(put.mock.calls.map(([chunk, key]) => [(chunk as unknown[]).length, (key as [string, number])[1]])).toEqual([
      [100, 100],
      [100, 100],
      [50, 50],
    ])
    expect(transactions.mock.calls.filter(([, mode]) => mode === 'readwrite')).toHaveLength(1)
    expect((await storedEvents()).map((e) => e.properties!.i)).toEqual([...Array(250).keys()])
    expect(collector.requests).toHaveLength(0)
    put.mockRestore()
    transactions.mockRestore()
  })

  it('sends a full batch at once and the rest after flushInterval', async () => {
    const { tracker, time, collector } = start({ batchSize: 10, flushInterval: 5000 })
    for (let i = 0; i < 25; i++) tracker.track('E', { i })
    await time.advance(0)
    expect(collector.requests.map((r) => r.events.length)).toEqual([10, 10, 5])
    tracker.track('Later')
    await time.advance(4999)
    expect(collector.requests).toHaveLength(3)
    await time.advance(1)
    expect(collector.names().at(-1)).toBe('Later')
  })

  it('keeps events in storage until the collector acknowledges them', async () => {
    const { tracker, time, collector } = start()
    collector.answer(() => new Error('offline'))
    tracker.track('Kept')
    await time.advance(2000)
    expect(collector.requests).toHaveLength(1)
    expect((await storedEvents()).map((e) => e.event)).toEqual(['Kept'])
    collector.answer(() => ({ status: 200, body: '{}' }))
    await time.advance(60_000)
    expect(collector.names()).toEqual(['Kept'])
    expect(await storedEvents()).toHaveLength(0)
  })

  it('flush() sends everything and says what is left', async () => {
    const { tracker, collector } = start({ flushInterval: 60_000 })
    tracker.track('A')
    tracker.track('B')
    expect(await tracker.flush()).toEqual({ sent: 2, pending: 0 })
    collector.answer(() => ({ status: 503 }))
    tracker.track('C')
    expect(await tracker.flush()).toEqual({ sent: 0, pending: 1 })
  })

  it('acknowledged events leave their chunk; the rest stay in order', async () => {
    const { tracker, time, collector } = start({ flushInterval: 100, batchSize: 30 })
    collector.answer((request) => ({ status: request.events[0].properties!.i === 60 ? 503 : 200 }))
    for (let i = 0; i < 100; i++) tracker.track('E', { i })
    await time.advance(100)
    expect((await storedEvents()).map((e) => e.properties!.i)).toEqual([...Array(40).keys()].map((i) => i + 60))
    expect(await tracker.flush()).toMatchObject({ pending: 40 })
  })

  it('drops the oldest events beyond maxQueue and reports the drop', async () => {
    const { tracker, time, collector, errors } = start({ maxQueue: 5 })
    collector.answer(() => new Error('offline'))
    for (let i = 0; i < 8; i++) tracker.track('E', { i })
    await time.advance(0)
    expect((await storedEvents()).map((e) => e.properties!.i)).toEqual([3, 4, 5, 6, 7])
    expect(errors).toContainEqual(expect.objectContaining({ code: 'queue_overflow', message: expect.stringContaining('3') }))
  })

  it('sends what an earlier page load left behind, under its own identity', async () => {
    const first = start()
    first.collector.answer(() => new Error('offline'))
    first.tracker.track('Before reload')
    await first.time.advance(2000)
    const anonymousId = first.tracker.user().anonymousId
    await first.tracker.shutdown()

    const second = start()
    await second.time.advance(0)
    expect(second.tracker.user().anonymousId).toBe(anonymousId)
    expect(second.collector.delivered().map((e) => [e.event, e.anonymousId])).toEqual([['Before reload', anonymousId]])
  })
})

describe('retries', () => {
  it('backs off exponentially on 5xx and network errors', async () => {
    const { tracker, time, collector } = start({ flushInterval: 100 })
    collector.answer(() => ({ status: 500 }))
    tracker.track('E')
    await time.advance(100)
    await time.advance(60_000 * 3)
    const gaps = collector.requests.slice(1, 6).map((r, i) => r.at - collector.requests[i].at)
    // random() is 0.5 in tests: each wait is 75% of 1 s, 2 s, 4 s, …
    expect(gaps).toEqual([750, 1500, 3000, 6000, 12000])
    expect(Math.max(...collector.requests.slice(1).map((r, i) => r.at - collector.requests[i].at))).toBe(60_000 * 0.75)
  })

  it('flush() does not wait out a backoff: the host asked to send now', async () => {
    const { tracker, time, collector } = start({ flushInterval: 100 })
    collector.answer(() => ({ status: 503, retryAfter: '3600' }))
    tracker.track('E')
    await time.advance(100)
    collector.answer(() => ({ status: 200 }))
    expect(await tracker.flush()).toEqual({ sent: 1, pending: 0 })
  })

  it('events recorded during a backoff do not cut the backoff short, nor cancel the retry', async () => {
    const { tracker, time, collector } = start({ flushInterval: 100 })
    collector.answer(() => ({ status: 503, retryAfter: '5' }))
    tracker.track('First')
    await time.advance(100)
    tracker.track('During backoff')
    await time.advance(1000)
    expect(collector.requests).toHaveLength(1)
    collector.answer(() => ({ status: 200 }))
    await time.advance(4000)
    expect(collector.names()).toEqual(['First', 'During backoff'])
  })

  it('honours Retry-After on 429', async () => {
    const { tracker, time, collector } = start({ flushInterval: 100 })
    collector.answer(() => ({ status: 429, retryAfter: '30' }))
    tracker.track('E')
    await time.advance(100)
    collector.answer(() => ({ status: 200 }))
    await time.advance(29_000)
    expect(collector.requests).toHaveLength(1)
    await time.advance(1_000)
    expect(collector.names()).toEqual(['E'])
  })

  it('isolates and drops only the event a 400 refuses; the others arrive', async () => {
    const { tracker, time, collector, errors } = start({ flushInterval: 100 })
    collector.answer((request) => ({ status: request.events.some((e) => e.properties!.bad) ? 400 : 200 }))
    for (let i = 0; i < 10; i++) tracker.track('E', { i, bad: i === 6 })
    await time.advance(100)
    expect(collector.delivered().map((e) => e.properties!.i)).toEqual([0, 1, 2, 3, 4, 5, 7, 8, 9])
    expect(errors).toContainEqual(expect.objectContaining({ code: 'rejected', messageIds: [expect.any(String)] }))
    expect(await storedEvents()).toHaveLength(0)
  })

  it('splits a batch the collector finds too large (413)', async () => {
    const { tracker, time, collector } = start({ flushInterval: 100 })
    collector.answer((request) => ({ status: request.events.length > 3 ? 413 : 200 }))
    for (let i = 0; i < 10; i++) tracker.track('E', { i })
    await time.advance(100)
    expect(collector.delivered().map((e) => e.properties!.i)).toEqual([...Array(10).keys()])
  })

  it('never sends an event over 32 KB; reports it and goes on', async () => {
    const { tracker, time, collector, errors } = start({ flushInterval: 100 })
    tracker.track('Huge', { blob: 'x'.repeat(40_000) })
    tracker.track('Small')
    await time.advance(100)
    expect(collector.names()).toEqual(['Small'])
    expect(errors).toContainEqual(expect.objectContaining({ code: 'rejected', message: expect.stringContaining('32 KB') }))
  })

  it('reports the events a 200 lists as rejected, and does not resend them', async () => {
    const { tracker, time, collector, errors } = start({ flushInterval: 100 })
    collector.answer((request) => ({
      status: 200,
      body: JSON.stringify({ accepted: 1, duplicates: 0, rejected: [{ index: 1, error: 'bad' }] }),
    }))
    tracker.track('Good')
    tracker.track('Refused')
    await time.advance(100)
    const refused = collector.requests[0].events[1].messageId
    expect(errors).toContainEqual(expect.objectContaining({ code: 'rejected', messageIds: [refused] }))
    await time.advance(10_000)
    expect(collector.requests).toHaveLength(1)
  })

  it('stops sending on 401 and keeps the events', async () => {
    const { tracker, time, collector, errors } = start({ flushInterval: 100 })
    collector.answer(() => ({ status: 401 }))
    tracker.track('E')
    await time.advance(100)
    tracker.track('F')
    await time.advance(60_000)
    expect(collector.requests).toHaveLength(1)
    expect(errors).toContainEqual(expect.objectContaining({ code: 'unauthorized' }))
    expect((await storedEvents()).map((e) => e.event)).toEqual(['E', 'F'])
  })
})

describe('identity', () => {
  it('identify trims and lower-cases the email and links it to the anonymous id', async () => {
    const { tracker, time, collector } = start()
    tracker.page()
    tracker.identify('  Ada@Example.COM ', { plan: 'pro' })
    await time.advance(2000)
    const [page, identify] = collector.delivered()
    expect(identify).toMatchObject({ type: 'identify', traits: { email: 'ada@example.com', plan: 'pro' } })
    expect(identify.anonymousId).toBe(page.anonymousId)
    expect(tracker.user()).toEqual({ anonymousId: page.anonymousId, email: 'ada@example.com' })
  })

  it('accepts {email, userId, traits} and a plain userId', async () => {
    const { tracker, time, collector } = start()
    tracker.identify({ email: 'ada@example.com', userId: 'u-1', traits: { name: 'Ada' } })
    tracker.track('After')
    await time.advance(2000)
    const [identify, after] = collector.delivered()
    expect(identify).toMatchObject({ userId: 'u-1', traits: { email: 'ada@example.com', name: 'Ada' } })
    expect(after.userId).toBe('u-1')
  })

  it('refuses placeholder ids and malformed emails, and says so', async () => {
    const { tracker, time, collector, errors } = start()
    tracker.identify('null')
    tracker.identify({ email: 'not-an-email' })
    tracker.identify('[object Object]')
    await time.advance(2000)
    expect(collector.requests).toHaveLength(0)
    expect(errors.filter((e) => e.code === 'invalid_call')).toHaveLength(3)
  })

  it('a second, different email starts a new anonymous identity (rule 4)', async () => {
    const { tracker, time, collector } = start()
    tracker.identify('ada@example.com')
    tracker.identify('ADA@example.com') // same person: no change
    tracker.identify('bob@example.com')
    tracker.track('Bob clicks')
    await time.advance(2000)
    const [ada, adaAgain, bob, click] = collector.delivered()
    expect(adaAgain.anonymousId).toBe(ada.anonymousId)
    expect(bob.anonymousId).not.toBe(ada.anonymousId)
    expect(click.anonymousId).toBe(bob.anonymousId)
    expect(tracker.user()).toEqual({ anonymousId: bob.anonymousId, email: 'bob@example.com' })
  })

  it('reset() starts a new anonymous identity; earlier events keep the old one', async () => {
    const { tracker, time, collector } = start()
    tracker.identify('ada@example.com')
    tracker.track('Ada')
    tracker.reset()
    tracker.track('Next visitor')
    await time.advance(2000)
    const [, ada, next] = collector.delivered()
    expect(next.anonymousId).not.toBe(ada.anonymousId)
    expect(next.userId).toBeUndefined()
    expect(tracker.user()).toEqual({ anonymousId: next.anonymousId })
  })

  it('ready() resolves with the stored identity, after every earlier call', async () => {
    const first = start()
    await first.time.advance(0)
    const stored = first.tracker.user().anonymousId
    await first.tracker.shutdown()
    const { tracker, time } = start()
    const before = tracker.ready()
    tracker.identify('ada@example.com')
    const after = tracker.ready()
    await time.advance(0)
    expect(await before).toEqual({ anonymousId: stored })
    expect(await after).toEqual({ anonymousId: stored, email: 'ada@example.com' })
  })

  it('alias links a new userId to the current identity', async () => {
    const { tracker, time, collector } = start()
    tracker.alias('u-42')
    await time.advance(2000)
    const [alias] = collector.delivered()
    expect(alias).toMatchObject({ type: 'alias', userId: 'u-42', previousId: alias.anonymousId })
    expect(tracker.user().userId).toBe('u-42')
  })

  it('keeps the anonymous id in a first-party cookie when cookieDomain is set, and adopts it', async () => {
    document.cookie = 'wm_aid=01JCOOKIE0000000000000000A; path=/'
    const { tracker, time } = start({ cookieDomain: location.hostname })
    await time.advance(0)
    expect(tracker.user().anonymousId).toBe('01JCOOKIE0000000000000000A')
    tracker.reset()
    await time.advance(0)
    expect(document.cookie).toContain(`wm_aid=${tracker.user().anonymousId}`)
    document.cookie = 'wm_aid=; path=/; max-age=0'
  })
})

describe('several tabs', () => {
  it('share one anonymous id and one queue, and send every event once', async () => {
    const time = testClock()
    const collector = testCollector(time.clock.now)
    const tabs = [start({}, { time, collector }), start({}, { time, collector }), start({}, { time, collector })]
    await time.advance(0)
    const ids = new Set(tabs.map((t) => t.tracker.user().anonymousId))
    expect(ids.size).toBe(1)
    for (let round = 0; round < 5; round++) {
      tabs.forEach((tab, i) => tab.tracker.track('E', { tab: i, round }))
      await time.advance(500)
    }
    await time.advance(10_000)
    const delivered = collector.delivered()
    expect(delivered).toHaveLength(15)
    expect(new Set(delivered.map((e) => e.messageId)).size).toBe(15)
    expect(await storedEvents()).toHaveLength(0)
  })
})

describe('a tab closing while another lives on', () => {
  it('hands its unstored events to one live tab, which stores and sends them once', async () => {
    const time = testClock()
    const collector = testCollector(time.clock.now)
    const closing = start({ flushInterval: 60_000 }, { time, collector })
    const live = start({ flushInterval: 60_000 }, { time, collector })
    start({ flushInterval: 60_000 }, { time, collector }) // a third tab: two could adopt, one does
    await time.advance(0) // hello / hello back
    closing.tracker.track('Last words')
    dispatchEvent(new Event('pagehide')) // both trackers share this window: the live one has nothing unstored
    const handover = hubOf(time).posted.filter((m) => 'adopt' in m && m.adopt.length)
    expect(handover).toHaveLength(1) // one heir named, not two
    await time.advance(0) // the handover message
    await live.tracker.flush()
    expect(collector.requests.filter((r) => r.keepalive)).toEqual([]) // no race with the live tab
    expect(collector.names()).toEqual(['Last words'])
    expect(await storedEvents()).toHaveLength(0)
  })
})

describe('acknowledged by another tab', () => {
  it('an event another tab got acknowledged is never sent again, even if it is still stored', async () => {
    const { tracker, time, collector } = start({ flushInterval: 100 })
    collector.answer(() => new Error('offline'))
    tracker.track('Sent by another tab')
    tracker.track('Still ours')
    await time.advance(100)
    const [theirs] = await storedEvents()
    // another tab delivered it, then died before its removal from storage committed
    const otherTab = hubOf(time).channel('waymark:waymark')
    otherTab.postMessage({ acknowledged: [theirs.messageId] })
    otherTab.close()
    await time.advance(0)
    collector.answer(() => ({ status: 200 }))
    await tracker.flush()
    expect(collector.names()).toEqual(['Still ours'])
    expect(await storedEvents()).toHaveLength(0)
  })
})

describe('consent', () => {
  it('pending keeps events in memory only; granted stores and sends them', async () => {
    const { tracker, time, collector } = start({ consent: 'pending' })
    tracker.track('Waiting')
    await time.advance(5000)
    expect(await storedEvents()).toHaveLength(0)
    expect(collector.requests).toHaveLength(0)
    const { createStore, keys } = await import('idb-keyval')
    expect(await keys(createStore('waymark-meta', 'meta'))).toEqual([]) // not even the id
    expect(localStorage.length).toBe(0)
    tracker.consent('granted')
    await time.advance(2000)
    expect(collector.names()).toEqual(['Waiting'])
    expect(JSON.parse(localStorage.getItem('waymark:identity')!)).toEqual(await tracker.ready())
  })

  it('denied drops queued events, wipes stored ones and records nothing more', async () => {
    const { tracker, time, collector } = start()
    collector.answer(() => new Error('offline'))
    tracker.track('Stored')
    await time.advance(2000)
    expect(await storedEvents()).toHaveLength(1)
    expect(localStorage.getItem('waymark:identity')).not.toBeNull()
    tracker.consent('denied')
    tracker.track('After denial')
    await time.advance(60_000)
    expect(await storedEvents()).toHaveLength(0)
    expect(localStorage.getItem('waymark:identity')).toBeNull()
    collector.answer(() => ({ status: 200 }))
    await time.advance(60_000)
    expect(collector.names()).toEqual([])
  })

  it('respectDoNotTrack honours Global Privacy Control', async () => {
    Object.defineProperty(navigator, 'globalPrivacyControl', { value: true, configurable: true })
    const { tracker, time, collector } = start({ respectDoNotTrack: true })
    tracker.track('E')
    await time.advance(5000)
    expect(collector.requests).toHaveLength(0)
    expect(await storedEvents()).toHaveLength(0)
    delete (navigator as { globalPrivacyControl?: boolean }).globalPrivacyControl
  })
})

describe('the host page is never hurt', () => {
  it('bad calls do not throw; they are reported', async () => {
    const { tracker, errors } = start()
    const anyTracker = tracker as unknown as Record<string, (...args: unknown[]) => unknown>
    expect(() => {
      anyTracker.track()
      anyTracker.track(42)
      anyTracker.identify(null)
      anyTracker.consent('maybe')
      anyTracker.page(undefined, null)
    }).not.toThrow()
    expect(errors.filter((e) => e.code === 'invalid_call').length).toBeGreaterThanOrEqual(4)
  })

  it('a throwing beforeSend or onError does not escape', async () => {
    const { tracker, time } = start({
      beforeSend: () => {
        throw new Error('host bug')
      },
      onError: () => {
        throw new Error('host bug too')
      },
    })
    expect(() => tracker.track('E')).not.toThrow()
    await time.advance(2000)
  })

  it('a property storage cannot clone (a function, an element) is kept as JSON sends it; storage stays durable', async () => {
    const { tracker, time, collector, errors } = start()
    await time.advance(0)
    tracker.track('Before')
    tracker.track('Clicked', { onClick: () => 1, target: document.body, at: new Date(0) })
    tracker.track('After')
    await time.advance(10)
    // before: the clone failure took IndexedDB down for the page's life ("kept in memory only")
    expect((await storedEvents()).map((e) => e.event)).toEqual(['Before', 'Clicked', 'After'])
    await time.advance(2000)
    expect(collector.names()).toEqual(['Before', 'Clicked', 'After'])
    expect(collector.delivered()[1].properties).toEqual({ target: {}, at: '1970-01-01T00:00:00.000Z' })
    expect(errors).toEqual([])
  })

  it('a property JSON cannot encode (a cycle, a BigInt) is refused at the call, and blocks nothing', async () => {
    const { tracker, time, collector, errors } = start()
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    tracker.track('Before')
    tracker.track('Cyclic', { cycle })
    tracker.identify('ada@example.com', { score: 10n })
    tracker.track('After')
    await time.advance(2000)
    // before: the event was stored, and every send of its batch threw: nothing left, ever
    expect(collector.names()).toEqual(['Before', 'After'])
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/^track failed/), expect.stringMatching(/^identify failed/)])
  })

  it('beforeSend can change or drop an event before it is stored', async () => {
    const { tracker, time, collector } = start({
      beforeSend: (event) => (event.event === 'Secret' ? null : { ...event, properties: { ...event.properties, seen: true } }),
    })
    tracker.track('Secret')
    tracker.track('Public')
    await time.advance(2000)
    expect(collector.delivered().map((e) => [e.event, e.properties!.seen])).toEqual([['Public', true]])
  })

  it('an autotracker that throws at install costs only itself; the others see consent changes', async () => {
    const seen: string[] = []
    const { tracker, time, collector, errors } = start({
      autotrack: [
        () => {
          throw new Error('broken plugin')
        },
        (host) => {
          seen.push(host.consent())
          host.onConsent((state) => seen.push(state))
        },
      ],
    })
    tracker.track('Still works')
    tracker.consent('denied')
    await time.advance(2000)
    expect(collector.names()).toEqual([])
    expect(seen).toEqual(['granted', 'denied'])
    expect(errors).toContainEqual(expect.objectContaining({ code: 'invalid_call', message: expect.stringContaining('broken plugin') }))
    tracker.consent('granted')
    tracker.track('After grant')
    await time.advance(2000)
    expect(collector.names()).toEqual(['After grant'])
  })

  it('missing collector or writeKey gives an inert tracker and a clear error', () => {
    const errors: WaymarkError[] = []
    const tracker = createTracker({ collector: '', writeKey: '', onError: (e) => errors.push(e) } as TrackerOptions)
    tracker.track('E')
    expect(tracker.user()).toEqual({ anonymousId: '' })
    expect(errors[0]).toMatchObject({ code: 'invalid_call', message: expect.stringContaining('collector') })
  })
})

describe('storage trouble', () => {
  it('without IndexedDB the queue lives in memory, says so, and still delivers', async () => {
    const saved = globalThis.indexedDB
    // @ts-expect-error private mode in some browsers: no IndexedDB at all
    delete globalThis.indexedDB
    try {
      const { tracker, time, collector, errors } = start()
      tracker.track('E')
      await time.advance(2000)
      expect(collector.names()).toEqual(['E'])
      expect(errors).toContainEqual(expect.objectContaining({ code: 'storage_unavailable' }))
    } finally {
      globalThis.indexedDB = saved
    }
  })

  it('quota exceeded on write moves to memory without losing the events', async () => {
    const { tracker, time, collector, errors } = start()
    await time.advance(0)
    const put = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(() => {
      throw new DOMException('quota', 'QuotaExceededError')
    })
    try {
      tracker.track('A')
      tracker.track('B')
      await time.advance(2000)
      expect(collector.names()).toEqual(['A', 'B'])
      expect(errors).toContainEqual(expect.objectContaining({ code: 'storage_unavailable' }))
    } finally {
      put.mockRestore()
    }
  })
})

describe('leaving the page', () => {
  it('a page leaving right after a 2xx does not hand the acknowledged events over again', async () => {
    const { tracker, time, collector } = start({ flushInterval: 100 })
    await time.advance(0)
    collector.answer((request) => {
      if (!request.keepalive) {
        // the page goes away a moment after the answer, before storage has caught up
        Promise.resolve()
          .then(() => Promise.resolve())
          .then(() => dispatchEvent(new Event('pagehide')))
      }
      return { status: 200 }
    })
    tracker.track('Once')
    await time.advance(100)
    expect(collector.requests.map((r) => [r.keepalive, r.events.map((e) => e.event)])).toEqual([[false, ['Once']]])
  })

  it('a page leaving before its stored identity has loaded sends what it recorded, under that identity', async () => {
    const earlier = start()
    const { anonymousId } = await earlier.tracker.ready()
    await earlier.tracker.shutdown()
    // A returning visitor's page that is left at once (a redirect, a quick click): IndexedDB has
    // not answered yet when the page view is recorded and the page hides.
    const { tracker, collector } = start()
    tracker.page('Bounce')
    dispatchEvent(new Event('pagehide'))
    expect(collector.requests.map((r) => [r.keepalive, r.events.map((e) => [e.name, e.anonymousId])])).toEqual([
      [true, [['Bounce', anonymousId]]],
    ])
  })

  it('a first visit left before storage answers sends its events under the id it will keep', async () => {
    const { tracker, time, collector } = start()
    tracker.page('First')
    dispatchEvent(new Event('pagehide'))
    const [sent] = collector.requests
    expect(sent.events.map((e) => e.name)).toEqual(['First'])
    // kept at once: the page may die before IndexedDB stores the new id
    expect(JSON.parse(localStorage.getItem('waymark:identity')!)).toEqual({ anonymousId: sent.events[0].anonymousId })
    await time.advance(0)
    expect((await tracker.ready()).anonymousId).toBe(sent.events[0].anonymousId)
  })

  it('hands unacknowledged events to keepalive requests on pagehide', async () => {
    const { tracker, time, collector } = start({ flushInterval: 60_000 })
    await time.advance(0)
    tracker.track('Last click')
    dispatchEvent(new Event('pagehide'))
    expect(collector.requests).toHaveLength(1)
    expect(collector.requests[0]).toMatchObject({ keepalive: true })
    expect(collector.requests[0].events.map((e) => e.event)).toEqual(['Last click'])
    await idle()
    // The page lived on (tab switch): the acknowledgement removed it from storage.
    await time.advance(0)
    expect(await storedEvents()).toHaveLength(0)
    await time.advance(60_000)
    expect(collector.requests).toHaveLength(1)
  })
})
