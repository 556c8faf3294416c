// The real server libraries against a started collector (collector/README.md, Send from other
// libraries): a backfilled event keeps its day, a server-side page with utm_* in its URL gives
// the person a campaign, and nothing they send is flagged as a bot.
import { Analytics as CustomerIoAnalytics } from '@customerio/cdp-analytics-node'
import RudderAnalytics from '@rudderstack/rudder-sdk-node'
import { Analytics as SegmentAnalytics } from '@segment/analytics-node'
import { describe, expect, it } from 'vitest'
import { BACKENDS, WRITE_KEY, api, collectorForSuite, lookup, timelineOf, uid } from './helpers.js'

const BACKFILL = new Date('2026-01-15T09:00:00.000Z')
const LANDING = 'https://shop.example/spring?utm_source=newsletter&utm_medium=email&utm_campaign=spring'

/** One library's calls, the same for each: what a server sends for one signed-up customer. */
interface Client {
  page(m: object): void
  track(m: object): void
  identify(m: object): void
}

function sendJourney(client: Client, userId: string, email: string): void {
  client.page({ userId, name: 'Spring', properties: { url: LANDING, path: '/spring', search: '?utm_source=newsletter&utm_medium=email&utm_campaign=spring' } })
  client.identify({ userId, traits: { email, plan: 'pro' } })
  client.track({ userId, event: 'Ordered', timestamp: BACKFILL, properties: { total: 42 } })
}

describe.each(BACKENDS)('server libraries on $name', ({ name, skip }) => {
  const c = collectorForSuite(name, skip)

  /** Everything the person's timeline and profile say after the library flushed. */
  async function expectLanded(userId: string, email: string) {
    const person = await lookup(c.url, `email=${email}`)
    expect(person.userId).toBe(userId)
    const events = await timelineOf(c.url, person.id)
    expect(events.map((e) => e.event ?? e.name ?? e.type).sort()).toEqual(['Ordered', 'Spring', 'identify'])
    expect(events.find((e) => e.event === 'Ordered').timestamp.slice(0, 10)).toBe('2026-01-15')
    expect(events.filter((e) => e.isBot)).toEqual([])
    expect(person.firstTouch).toMatchObject({ source: 'newsletter', medium: 'email', campaign: 'spring', landingPage: '/spring' })
    const profile = (await api(c.url, `/api/profiles/${person.id}`)).body.profile
    expect(profile.traits.plan.value).toBe('pro')
  }

  it.skipIf(skip)('@segment/analytics-node', async () => {
    const analytics = new SegmentAnalytics({ writeKey: WRITE_KEY, host: c.url, flushAt: 10, flushInterval: 200, maxRetries: 1 })
    const failures: unknown[] = []
    analytics.on('error', (err) => failures.push(err))
    const userId = uid('seg')
    sendJourney(analytics as unknown as Client, userId, `${userId}@example.com`)
    await analytics.closeAndFlush({ timeout: 10_000 })
    expect(failures).toEqual([])
    await expectLanded(userId, `${userId}@example.com`)
  })

  it.skipIf(skip)('@customerio/cdp-analytics-node (analytics-node\'s fork: batches to {host}/v1/batch)', async () => {
    const analytics = new CustomerIoAnalytics({ writeKey: WRITE_KEY, host: c.url, maxEventsInBatch: 10, flushInterval: 200, maxRetries: 1 })
    const failures: unknown[] = []
    analytics.on('error', (err) => failures.push(err))
    const userId = uid('cio')
    sendJourney(analytics as unknown as Client, userId, `${userId}@example.com`)
    await analytics.closeAndFlush({ timeout: 10_000 })
    expect(failures).toEqual([])
    await expectLanded(userId, `${userId}@example.com`)
  })

  it.skipIf(skip)('@rudderstack/rudder-sdk-node (gzip, originalTimestamp = now on every event)', async () => {
    const failures: unknown[] = []
    const client = new RudderAnalytics(WRITE_KEY, { dataPlaneUrl: c.url, flushAt: 10, flushInterval: 200, retryCount: 0, logLevel: 'error', errorHandler: (err: unknown) => failures.push(err) })
    const userId = uid('rs')
    sendJourney(client as unknown as Client, userId, `${userId}@example.com`)
    await client.flush()
    expect(failures).toEqual([])
    await expectLanded(userId, `${userId}@example.com`)
  })
})
