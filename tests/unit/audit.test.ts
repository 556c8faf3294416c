// Adversarial probes of the SDK core through the public API: each test failed before its fix.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createTracker, memoryEventStore, memoryMetaStore, type Stores, type Tracker, type TrackerOptions, type WaymarkError } from '../../src/index'
import { storedEvents, testClock, testCollector } from './helpers'

type Time = ReturnType<typeof testClock>
type Collector = ReturnType<typeof testCollector>

const open: Tracker[] = []
afterEach(async () => {
  while (open.length) await open.pop()!.shutdown()
})

function start(options: Partial<TrackerOptions> = {}, shared: { time?: Time; collector?: Collector } = {}, stores?: Stores) {
  const time = shared.time ?? testClock()
  const collector = shared.collector ?? testCollector(time.clock.now)
  const errors: WaymarkError[] = []
  const tracker = createTracker(
    { collector: 'https://collect.example.com/', writeKey: 'wk_test', onError: (e) => errors.push(e), ...options },
    { clock: time.clock, transport: collector.transport, ...(stores && { stores }) },
  )
  open.push(tracker)
  return { tracker, time, collector, errors }
}


const channelRound = () => new Promise((resolve) => setTimeout(resolve, 20))

describe('consent called before the stored identity has loaded', () => {
  it('an event recorded after consent("denied") is dropped, even if consent is granted later', async () => {
    const { tracker, time, collector } = start()
    tracker.consent('denied')
    tracker.track('After denial')
    await time.advance(0)
    tracker.consent('granted')
    tracker.track('After grant')
    await time.advance(5000)
    expect(collector.names()).toEqual(['After grant'])
  })

  it('an event recorded after consent("granted") on a tracker started denied is kept', async () => {
    const { tracker, time, collector } = start({ consent: 'denied' })
    tracker.consent('granted')
    tracker.page('Home')
    await time.advance(5000)
    expect(collector.names()).toEqual(['Home'])
  })
})

describe('a closing tab hands its events to a tab that can keep them', () => {
  /** Two tabs (the second with `other` options); `prepare` runs once they know each other. */
  async function closeBeside(other: Partial<TrackerOptions>, prepare: (other: ReturnType<typeof start>) => Promise<void> = async () => {}) {
    const time = testClock()
    const collector = testCollector(time.clock.now)
    const closing = start({ flushInterval: 60_000 }, { time, collector })
    const live = start({ flushInterval: 60_000, ...other }, { time, collector })
    await time.advance(0)
    await channelRound()
    await prepare(live)
    closing.tracker.track('Last words')
    dispatchEvent(new Event('pagehide'))
    await time.advance(0)
    await channelRound()
    // the closing tab is gone: what it recorded is on its way or in storage
    return [...collector.requests.flatMap((r) => r.events), ...(await storedEvents())].map((e) => e.event)
  }

  it('a tab with consent pending is not chosen', async () => {
    expect(await closeBeside({ consent: 'pending' })).toContain('Last words')
  })

  it('a tab whose tracker was shut down is not chosen', async () => {
    const kept = await closeBeside({}, async (other) => {
      await other.tracker.shutdown()
      await channelRound()
    })
    expect(kept).toContain('Last words')
  })
})

describe('flush() counts what the collector accepted', () => {
  it('an event never sent (over 32 KB) is not counted as sent', async () => {
    const { tracker, collector } = start({ flushInterval: 60_000 })
    tracker.track('Huge', { blob: 'x'.repeat(40_000) })
    expect(await tracker.flush()).toEqual({ sent: 0, pending: 0 })
    expect(collector.requests).toHaveLength(0)
  })

  it('events refused (a 400 down to the single event, or listed in a 200) are not counted as sent', async () => {
    const { tracker, collector } = start({ flushInterval: 60_000 })
    collector.answer((request) => {
      if (request.events.some((e) => e.properties!.bad)) return { status: 400 }
      const index = request.events.findIndex((e) => e.properties!.listed)
      return { status: 200, body: JSON.stringify({ rejected: index < 0 ? [] : [{ index }] }) }
    })
    for (let i = 0; i < 6; i++) tracker.track('E', { i, bad: i === 2, listed: i === 4 })
    expect(await tracker.flush()).toEqual({ sent: 4, pending: 0 })
  })
})

describe('identity calls run early, because the page hid before the stored identity loaded', () => {
  // The page is hidden (a tab switch, or left into the back/forward cache and restored) before
  // IndexedDB answers: the waiting calls run then, under the identity known at once.
  async function returningVisitor(email?: string) {
    const earlier = start()
    if (email) earlier.tracker.identify(email)
    const { anonymousId } = await earlier.tracker.ready()
    await earlier.tracker.shutdown()
    return anonymousId
  }

  it('reset() is not undone when the stored identity arrives', async () => {
    const old = await returningVisitor()
    const { tracker, time, collector } = start()
    tracker.reset()
    dispatchEvent(new Event('pagehide'))
    await time.advance(0)
    tracker.track('Next visitor')
    await time.advance(2000)
    expect(collector.delivered().find((e) => e.event === 'Next visitor')!.anonymousId).not.toBe(old)
  })

  it('identify() of another person is not undone: their later events never join the first person', async () => {
    const ada = await returningVisitor('ada@example.com')
    const { tracker, time, collector } = start()
    tracker.identify('bob@example.com')
    dispatchEvent(new Event('pagehide'))
    await time.advance(0)
    tracker.track('Bob again')
    await time.advance(2000)
    expect(tracker.user().email).toBe('bob@example.com')
    expect(collector.delivered().find((e) => e.event === 'Bob again')!.anonymousId).not.toBe(ada)
  })
})

describe('consent withdrawn while the sender is at work', () => {
  it('denied while the stored events are being read: none of them is sent', async () => {
    const events = memoryEventStore()
    let whileReading = () => {}
    const slowRead = async (limit: number) => {
      const read = await events.oldest(limit)
      whileReading()
      return read
    }
    const { tracker, time, collector } = start({ flushInterval: 100 }, {}, { events: { ...events, oldest: slowRead }, meta: memoryMetaStore() })
    await time.advance(0)
    tracker.track('Stored')
    whileReading = () => tracker.consent('denied')
    await time.advance(100)
    expect(collector.requests).toHaveLength(0)
  })
})

describe('denied wipes what earlier pages stored', () => {
  it('a tracker started with consent denied wipes the stored events and identity; a later grant starts afresh', async () => {
    const earlier = start()
    earlier.collector.answer(() => new Error('offline'))
    earlier.tracker.track('Before')
    await earlier.time.advance(2000)
    const { anonymousId } = await earlier.tracker.ready()
    await earlier.tracker.shutdown()

    const { tracker, time, collector } = start({ consent: 'denied' }) // the consent manager says: refused
    await time.advance(0)
    expect(await storedEvents()).toEqual([])
    expect(localStorage.getItem('waymark:identity')).toBeNull()
    tracker.consent('granted')
    tracker.track('After grant')
    await time.advance(5000)
    expect(collector.delivered().map((e) => [e.event, e.anonymousId === anonymousId])).toEqual([['After grant', false]])
  })

  it('with cookieDomain, a denial also forgets the cookie, so the next page does not bring the id back', async () => {
    const first = start({ cookieDomain: location.hostname })
    const { anonymousId } = await first.tracker.ready()
    expect(document.cookie).toContain(`wm_aid=${anonymousId}`)
    first.tracker.consent('denied')
    await first.time.advance(0)
    await first.tracker.shutdown()
    const next = start({ cookieDomain: location.hostname }) // a later page, consent granted again
    expect((await next.tracker.ready()).anonymousId).not.toBe(anonymousId)
    document.cookie = 'wm_aid=; path=/; max-age=0'
  })
})

describe('beforeSend returning something other than the event', () => {
  it('an event without its messageId is stored under the one it was recorded with; the queue stays in IndexedDB', async () => {
    const { tracker, time, collector, errors } = start({
      flushInterval: 60_000,
      beforeSend: ({ messageId, ...rest }) => (rest.event === 'Rebuilt' ? (rest as never) : { messageId, ...rest }),
    })
    await time.advance(0)
    tracker.track('Rebuilt')
    tracker.track('Same burst')
    await time.advance(0)
    tracker.track('Later')
    await time.advance(0)
    // before: the write failed on the missing key and the queue moved to memory for the page
    expect((await storedEvents()).map((e) => [e.event, e.messageId])).toEqual([
      ['Rebuilt', expect.stringMatching(/^[0-9A-Z]{26}$/)],
      ['Same burst', expect.any(String)],
      ['Later', expect.any(String)],
    ])
    expect(errors).toEqual([])
    await tracker.flush()
    expect(collector.names()).toEqual(['Rebuilt', 'Same burst', 'Later'])
  })

  it('a value that is no event is refused at that event (invalid_call); the others stay in IndexedDB', async () => {
    const { tracker, time, errors } = start({ flushInterval: 60_000, beforeSend: (e) => (e.event === 'Odd' ? (true as never) : e) })
    await time.advance(0)
    tracker.track('Odd')
    tracker.track('Fine')
    await time.advance(0)
    expect((await storedEvents()).map((e) => e.event)).toEqual(['Fine'])
    expect(errors.map((e) => e.code)).toEqual(['invalid_call'])
  })
})

describe('a send timer that fires while the sender is finishing', () => {
  it('is not swallowed: events saved during the sender’s last read leave within flushInterval', async () => {
    const events = memoryEventStore()
    let lastRead: (() => void) | undefined
    const slowWhenEmpty = async (limit: number) => {
      const read = await events.oldest(limit)
      if (!read.length && lastRead) {
        // The sender found nothing left; new events are saved and their timer fires before it is done.
        lastRead()
        lastRead = undefined
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      return read
    }
    const { tracker, time, collector } = start({ flushInterval: 1000, batchSize: 2 }, {}, { events: { ...events, oldest: slowWhenEmpty }, meta: memoryMetaStore() })
    collector.answer((request) => {
      if (request.events[0].event === 'A')
        lastRead = () => {
          tracker.track('B')
          tracker.track('C') // a full batch: sent at once
        }
      return { status: 200 }
    })
    await time.advance(0)
    tracker.track('A')
    await time.advance(1000)
    await new Promise((resolve) => setTimeout(resolve, 150)) // the slow last read ends
    await time.advance(1000)
    expect(collector.names()).toEqual(['A', 'B', 'C'])
  })
})

describe('the IndexedDB lease (no Web Locks) during a long run of requests', () => {
  it('does not expire under a request still out: another tab never sends the same events', async () => {
    const time = testClock()
    const collector = testCollector(time.clock.now)
    const answers: (() => void)[] = []
    // A slow collector: each request is answered 25 s after it was sent (under the 30 s timeout).
    const slow = {
      ...collector,
      transport: async (url: string, body: string, keepalive: boolean) => {
        await new Promise<void>((resolve) => answers.push(resolve))
        return collector.transport(url, body, keepalive)
      },
    }
    const first = start({ flushInterval: 1000, batchSize: 5 }, { time, collector: slow })
    start({ flushInterval: 1000, batchSize: 5 }, { time, collector: slow }) // a second tab, waiting for the lease
    await time.advance(0)
    for (let i = 0; i < 20; i++) first.tracker.track('E', { i })
    await time.advance(0)
    for (let round = 0; round < 12; round++) {
      await time.advance(25_000)
      answers.splice(0).forEach((answer) => answer())
      await time.advance(0)
    }
    const ids = collector.delivered().map((e) => e.messageId)
    expect(ids).toHaveLength(20)
    expect(new Set(ids).size).toBe(20)
  })
})

describe('a tab whose queue moved to memory (quota exceeded) closing while another tab lives on', () => {
  it('sends its queue itself: the live tab cannot see it', async () => {
    const time = testClock()
    const collector = testCollector(time.clock.now)
    const closing = start({ flushInterval: 60_000 }, { time, collector })
    start({ flushInterval: 60_000 }, { time, collector })
    await time.advance(0)
    await channelRound() // hello / hello back
    const put = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(() => {
      throw new DOMException('quota', 'QuotaExceededError')
    })
    closing.tracker.track('In memory')
    await time.advance(0) // the write fails and is redone in memory
    put.mockRestore()
    dispatchEvent(new Event('pagehide'))
    await time.advance(0)
    await channelRound()
    // before: only unsaved events were handed over, and this one was saved, in memory: lost with the tab
    expect(collector.requests.filter((r) => r.keepalive).flatMap((r) => r.events.map((e) => e.event))).toEqual(['In memory'])
  })
})

describe('consent("pending") said right after createTracker, in the same tick', () => {
  it('finds nothing written: not the anonymous id in IndexedDB, nor its copy in localStorage', async () => {
    const { tracker, time, collector } = start() // consent option left at its default, granted
    tracker.consent('pending')
    tracker.page('Home')
    await time.advance(5000)
    const { createStore, keys } = await import('idb-keyval')
    expect(await keys(createStore('waymark-meta', 'meta'))).toEqual([])
    expect(localStorage.length).toBe(0)
    expect(collector.requests).toHaveLength(0)
    tracker.consent('granted')
    await time.advance(2000)
    expect(collector.names()).toEqual(['Home'])
  })
})

describe('options that make no sense', () => {
  it('a batchSize of 0 or NaN (data-batch-size="" or a typo) still delivers, in batches of the default size', async () => {
    for (const batchSize of [0, Number('fifty')]) {
      const { tracker, time, collector } = start({ batchSize })
      tracker.track('E')
      await time.advance(2000)
      // before: every read of the store asked for no event, and nothing was ever sent
      expect(collector.names()).toEqual(['E'])
      await tracker.shutdown()
    }
  })
})

describe('calls after shutdown()', () => {
  it('an identify is applied in full and reports nothing (the tabs channel is closed by then)', async () => {
    const { tracker, time, errors } = start()
    await tracker.ready()
    await tracker.shutdown()
    tracker.identify('ada@example.com')
    await time.advance(0)
    // before: "InvalidStateError: BroadcastChannel is closed" as invalid_call, and the identity
    // copy for the next page load (and the cookie, with cookieDomain) was not written
    expect(errors).toEqual([])
    expect(JSON.parse(localStorage.getItem('waymark:identity')!)).toMatchObject({ email: 'ada@example.com' })
  })
})

describe('consent granted after pending', () => {
  it('sends what earlier pages left stored, even when nothing was recorded while pending', async () => {
    const earlier = start()
    earlier.collector.answer(() => new Error('offline'))
    earlier.tracker.track('Before')
    await earlier.time.advance(2000)
    await earlier.tracker.shutdown()
    const { tracker, time, collector } = start({ consent: 'pending' })
    await time.advance(0)
    tracker.consent('granted')
    await time.advance(5000)
    // before: it waited for the next event recorded, or the next page load
    expect(collector.names()).toEqual(['Before'])
  })
})

describe('consent pending for long', () => {
  it('keeps at most about maxQueue events in memory, reports the drop, and sends the newest on a grant', async () => {
    const { tracker, time, collector, errors } = start({ consent: 'pending', maxQueue: 5 })
    await time.advance(0)
    for (let i = 0; i < 40; i++) tracker.track(`E${i}`)
    // while pending, flush() counts what waits in this tab's memory: before, all 40 stayed there
    expect((await tracker.flush()).pending).toBeLessThanOrEqual(10)
    expect(errors.filter((e) => e.code === 'queue_overflow').length).toBeGreaterThan(0)
    tracker.consent('granted')
    await time.advance(5000)
    expect(collector.names()).toEqual(['E35', 'E36', 'E37', 'E38', 'E39'])
  })
})
