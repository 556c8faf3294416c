// Adversarial probes of the SDK core through the public API: each test failed before its fix.
import { afterEach, describe, expect, it } from 'vitest'
import { createTracker, type Tracker, type TrackerOptions, type WaymarkError } from '../../src/index'
import { testClock, testCollector } from './helpers'

type Time = ReturnType<typeof testClock>
type Collector = ReturnType<typeof testCollector>

const open: Tracker[] = []
afterEach(async () => {
  while (open.length) await open.pop()!.shutdown()
})

function start(options: Partial<TrackerOptions> = {}, shared: { time?: Time; collector?: Collector } = {}) {
  const time = shared.time ?? testClock()
  const collector = shared.collector ?? testCollector(time.clock.now)
  const errors: WaymarkError[] = []
  const tracker = createTracker(
    { collector: 'https://collect.example.com/', writeKey: 'wk_test', onError: (e) => errors.push(e), ...options },
    { clock: time.clock, transport: collector.transport },
  )
  open.push(tracker)
  return { tracker, time, collector, errors }
}


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
