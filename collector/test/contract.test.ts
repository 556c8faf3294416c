// @vitest-environment jsdom
// The identity rules are written once (@waymark/contract); this proves the SDK and the collector
// apply them alike. Each edge case goes through the SDK's identify() into a real collector, and
// the same raw value is sent to the collector as another library would send it: the SDK accepts
// exactly what the collector links, and nothing the SDK sends after an identify is refused.
import 'fake-indexeddb/auto'
import { IDBFactory } from 'fake-indexeddb'
import { beforeEach, describe, expect, it } from 'vitest'
import { createTracker, type WaymarkError } from '../../src/index'
import { fetchTransport } from '../../src/platform/network'
import { collectorForSuite, identify, lookup, sendBatch, track, uid, WRITE_KEY } from './helpers.js'

const long = (n: number) => 'x'.repeat(n)

/** [what identify() is given, the identifier kind it is about]. */
const VALUES: Array<[string | number, 'email' | 'userId']> = [
  ['Ada@Example.COM', 'email'],
  ['  grace@example.com ', 'email'],
  ['ada@localhost', 'email'],
  [`${long(240)}@example.com`, 'email'],
  [`${long(250)}@example.com`, 'email'],
  ['a@b@c.com', 'email'],
  ['ada @example.com', 'email'],
  ['u-1', 'userId'],
  ['  u-2  ', 'userId'],
  [1234, 'userId'],
  ['unknown', 'userId'],
  ['true', 'userId'],
  ['id', 'userId'],
  ['email', 'userId'],
  ['NULL', 'userId'],
  ['[object Object]', 'userId'],
  ['0', 'userId'],
  [long(256), 'userId'],
  [long(257), 'userId'],
]
const shown = (v: string | number) => (typeof v === 'string' && v.length > 40 ? `${v.length} characters` : JSON.stringify(v))
const CASES = VALUES.map(([value, kind]) => [shown(value), kind, value] as const)

/** What each side makes of one value: accepted as that identifier, or not. */
async function throughSdk(url: string, value: string | number, kind: 'email' | 'userId') {
  const errors: WaymarkError[] = []
  const rejected: unknown[] = []
  const wm = createTracker(
    { collector: url, writeKey: WRITE_KEY, storageName: uid('contract'), flushInterval: 60_000, onError: (e) => errors.push(e) },
    {
      transport: async (u, body, keepalive) => {
        const reply = await fetchTransport(u, body, keepalive)
        rejected.push(...(JSON.parse(reply.body).rejected ?? []))
        return reply
      },
    },
  )
  const anonymousId = (await wm.ready()).anonymousId
  wm.track('Before')
  wm.identify(kind === 'email' ? { email: value as string } : { userId: value as string })
  wm.track('After')
  const { pending } = await wm.flush()
  await wm.shutdown()
  const accepted = !errors.some((e) => e.code === 'invalid_call')
  return { accepted, anonymousId, user: wm.user(), rejected, pending }
}

async function throughCollector(url: string, value: string | number, kind: 'email' | 'userId') {
  const anonymousId = uid('raw')
  const event = kind === 'email' ? identify(anonymousId, { email: value }) : identify(anonymousId, {}, { userId: value })
  const r = await sendBatch(url, [event, track(anonymousId)])
  expect(r.status).toBe(200)
  const profile = await lookup(url, `anonymousId=${anonymousId}`)
  const linked = profile?.identifiers.some((i: { kind: string }) => i.kind === kind) ?? false
  return { linked, rejected: r.body.rejected }
}

describe('identity contract: the SDK and the collector agree', () => {
  beforeEach(() => {
    globalThis.indexedDB = new IDBFactory()
    localStorage.clear()
  })
  const c = collectorForSuite('sqlite', false)

  it.each(CASES)('identify(%s) as %s', async (_shown, kind, value) => {
    const sdk = await throughSdk(c.url, value, kind)
    const raw = await throughCollector(c.url, value, kind)
    // The SDK accepts a value exactly when the collector links it as that identifier.
    expect(sdk.accepted).toBe(raw.linked)
    // Whatever the SDK sent was stored: a refused identify never stamps a bad id on later events.
    expect(sdk.rejected).toEqual([])
    expect(sdk.pending).toBe(0)
    const profile = await lookup(c.url, `anonymousId=${sdk.anonymousId}`)
    expect(profile).not.toBeNull()
    if (sdk.accepted) expect(profile.identifiers.some((i: { kind: string }) => i.kind === kind)).toBe(true)
  })
})
