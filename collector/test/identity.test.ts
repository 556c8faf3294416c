// The identity rules 1–7 (docs/contract.md), one test (or more) per rule, on SQLite and PostgreSQL.
import { monotonicFactory } from 'ulid'
import { describe, expect, it } from 'vitest'
import {
  BACKENDS,
  api,
  identify,
  lookup,
  page,
  post,
  sendBatch,
  collectorForSuite,
  timelineOf,
  track,
  uid,
} from './helpers.js'

describe.each(BACKENDS)('identity graph on $name', ({ name, skip }) => {
  const c = collectorForSuite(name, skip)

  const ok = async (batch: unknown[], extra: Record<string, unknown> = {}) => {
    const r = await sendBatch(c.url, batch, extra)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.rejected).toEqual([])
    return r.body
  }
  const okAt = ok

  it.skipIf(skip)('rule 1: an anonymous browser is a profile of its own, and every event belongs to exactly one profile', async () => {
    const a = uid('anon')
    const b = uid('anon')
    await ok([page(a), track(a), page(b)])
    const pa = await lookup(c.url, `anonymousId=${a}`)
    const pb = await lookup(c.url, `anonymousId=${b}`)
    expect(pa.id).not.toBe(pb.id)
    expect(pa.stage).toBe('anonymous')
    expect(pa.eventCount).toBe(2)
    expect(pb.eventCount).toBe(1)
    // No event in two timelines, none in no timeline.
    const ta = await timelineOf(c.url, pa.id)
    const tb = await timelineOf(c.url, pb.id)
    expect(ta.map((e) => e.anonymousId)).toEqual([a, a])
    expect(tb.map((e) => e.anonymousId)).toEqual([b])
  })

  it.skipIf(skip)('rule 2: identify merges the anonymous history, and late anonymous events land in the merged timeline', async () => {
    const a = uid('anon')
    const email = `${uid('ada')}@example.com`
    await ok([page(a), track(a, 'Read Article')])
    const anonProfile = await lookup(c.url, `anonymousId=${a}`)
    await ok([identify(a, { email, name: 'Ada' })])
    const person = await lookup(c.url, `email=${email}`)
    expect(person.stage).toBe('known')
    expect((await lookup(c.url, `anonymousId=${a}`)).id).toBe(person.id)
    // An offline queue delivers older anonymous events after the merge.
    const earlier = new Date(Date.now() - 3_600_000).toISOString()
    await ok([track(a, 'Offline Click', { timestamp: earlier })])
    const events = await timelineOf(c.url, person.id)
    expect(events.map((e) => e.event ?? e.type).sort()).toEqual(['Offline Click', 'Read Article', 'identify', 'page'].sort())
    // The old profile id still resolves (tombstone), to the same person.
    const old = await api(c.url, `/api/profiles/${anonProfile.id}`)
    expect(old.body.profile.id).toBe(person.id)
  })

  it.skipIf(skip)('rule 2: a merge rewrites identifier rows and never event rows', async () => {
    const a = uid('anon')
    await ok(Array.from({ length: 30 }, () => track(a)))
    const before = await c.store.db.selectFrom('events').selectAll().where('anonymous_id', '=', a).orderBy('id').execute()
    await ok([identify(a, { email: `${uid('m')}@example.com` })])
    const after = await c.store.db.selectFrom('events').selectAll().where('anonymous_id', '=', a).orderBy('id').execute()
    // The 30 original rows are byte-for-byte unchanged; only the identify event was added.
    expect(after.slice(0, 30)).toEqual(before)
    expect(after).toHaveLength(31)
  })

  it.skipIf(skip)('rule 3: the same email on several devices gathers all their anonymous histories', async () => {
    const email = `${uid('multi')}@example.com`
    const devices = [uid('phone'), uid('laptop'), uid('tablet')]
    for (const d of devices) await ok([page(d), track(d, `On ${d}`)])
    const laptop = await lookup(c.url, `anonymousId=${devices[1]}`)
    // Same email, written differently on each device: normalized to one identifier.
    await ok([identify(devices[0]!, { email })])
    await ok([identify(devices[1]!, { email: `  ${email.toUpperCase()} ` })])
    await ok([identify(devices[2]!, { email })])
    const person = await lookup(c.url, `email=${email}`)
    for (const d of devices) expect((await lookup(c.url, `anonymousId=${d}`)).id).toBe(person.id)
    const events = await timelineOf(c.url, person.id)
    expect(events.filter((e) => e.type === 'track').map((e) => e.event).sort()).toEqual(devices.map((d) => `On ${d}`).sort())
    expect(person.eventCount).toBe(9)
    // The laptop's own profile was merged away; its id still opens the whole person's timeline.
    expect(laptop.id).not.toBe(person.id)
    const viaLaptop = await api(c.url, `/api/profiles/${laptop.id}/timeline`)
    expect(viaLaptop.body.profileId).toBe(person.id)
    expect(viaLaptop.body.events.map((e: { messageId: string }) => e.messageId)).toEqual(events.map((e) => e.messageId))
    const laptopProfile = (await api(c.url, `/api/profiles/${laptop.id}`)).body.profile
    expect(laptopProfile).toMatchObject({ id: person.id, email, mergedFrom: laptop.id, eventCount: 9 })
  })

  it.skipIf(skip)('rule 4: two different emails are never merged; the conflict is recorded', async () => {
    const a = uid('shared')
    const ada = `${uid('ada')}@example.com`
    const bob = `${uid('bob')}@example.com`
    await ok([page(a), identify(a, { email: ada })])
    await ok([identify(a, { email: bob })])
    const pAda = await lookup(c.url, `email=${ada}`)
    const pBob = await lookup(c.url, `email=${bob}`)
    expect(pAda.id).not.toBe(pBob.id)
    // The device stays with the first person.
    expect((await lookup(c.url, `anonymousId=${a}`)).id).toBe(pAda.id)
    const detail = (await api(c.url, `/api/profiles/${pAda.id}`)).body.profile
    expect(detail.conflicts).toHaveLength(1)
    expect(detail.conflicts[0]).toMatchObject({ identifier: `anonymousId:${a}`, profileId: pAda.id, otherProfileId: pBob.id })
    // Bob's identify event is in Bob's timeline, not Ada's.
    expect((await timelineOf(c.url, pBob.id)).map((e) => e.type)).toEqual(['identify'])
    // The device keeps sending as Bob: still no merge, and the refusal is recorded once.
    await ok([track(a, 'As Bob', { context: { traits: { email: bob } } })])
    await ok([track(a, 'As Bob again', { context: { traits: { email: bob } } })])
    expect((await api(c.url, `/api/profiles/${pAda.id}`)).body.profile.conflicts).toHaveLength(1)
    expect((await timelineOf(c.url, pBob.id)).map((e) => e.event ?? e.type).sort()).toEqual(['As Bob', 'As Bob again', 'identify'])
  })

  it.skipIf(skip)('rule 4: two different userIds are never merged, also through alias', async () => {
    const a = uid('anon')
    const u1 = uid('user')
    const u2 = uid('user')
    await ok([track(a, 'x', { userId: u1 })])
    await ok([track(a, 'y', { userId: u2 })])
    const p1 = await lookup(c.url, `userId=${u1}`)
    const p2 = await lookup(c.url, `userId=${u2}`)
    expect(p1.id).not.toBe(p2.id)
    const r = await post(c.url, '/v1/alias', { messageId: uid('m'), userId: u2, previousId: u1 })
    expect(r.status).toBe(200)
    expect((await lookup(c.url, `userId=${u1}`)).id).toBe(p1.id)
    expect((await lookup(c.url, `userId=${u2}`)).id).toBe(p2.id)
    expect((await api(c.url, `/api/profiles/${p2.id}`)).body.profile.conflicts.length).toBeGreaterThan(0)
  })

  it.skipIf(skip)('alias links a previous anonymous id to a userId', async () => {
    const a = uid('anon')
    const u = uid('user')
    await ok([page(a)])
    const r = await post(c.url, '/v1/alias', { messageId: uid('m'), userId: u, previousId: a })
    expect(r.status).toBe(200)
    expect((await lookup(c.url, `anonymousId=${a}`)).id).toBe((await lookup(c.url, `userId=${u}`)).id)
  })

  it.skipIf(skip)('rule 4: an email and a userId that belong to different people are not merged', async () => {
    const ada = `${uid('ada')}@example.com`
    const u1 = uid('user')
    const u2 = uid('user')
    await ok([identify(uid('a'), { email: ada }, { userId: u1 })])
    await ok([identify(uid('a'), { email: ada }, { userId: u2 })])
    const pAda = await lookup(c.url, `email=${ada}`)
    expect(pAda.userId).toBe(u1)
    expect((await lookup(c.url, `userId=${u2}`)).id).not.toBe(pAda.id)
  })

  it.skipIf(skip)('placeholder ids are refused, never linked', async () => {
    const r = await sendBatch(c.url, [
      track('anonymous'),
      track('[object Object]'),
      track(uid('a'), 'x', { userId: 'undefined' }),
      track(uid('a'), 'x', { userId: '0' }),
      track(uid('a'), 'x', { userId: 'null' }),
    ])
    expect(r.status).toBe(400)
    expect(r.body.rejected.map((x: any) => x.error)).toEqual([
      'anonymousId "anonymous" is a placeholder, not an identifier',
      'anonymousId "[object Object]" is a placeholder, not an identifier',
      'userId "undefined" is a placeholder, not an identifier',
      'userId "0" is a placeholder, not an identifier',
      'userId "null" is a placeholder, not an identifier',
    ])
    expect(await lookup(c.url, 'userId=undefined')).toBeNull()
  })

  it.skipIf(skip)('rule 5: concurrent identifies of the same person on many devices end with one profile', async () => {
    const email = `${uid('race')}@example.com`
    const devices = Array.from({ length: 12 }, () => uid('dev'))
    await Promise.all(devices.map((d) => ok([page(d)])))
    await Promise.all(devices.map((d, i) => ok([identify(d, { email }, i % 2 ? { userId: `uid-${email}` } : {})])))
    const person = await lookup(c.url, `email=${email}`)
    for (const d of devices) expect((await lookup(c.url, `anonymousId=${d}`)).id).toBe(person.id)
    expect(person.userId).toBe(`uid-${email}`)
    const live = await c.store.db.selectFrom('profiles').select('id').where('email', '=', email).execute()
    expect(live).toHaveLength(1)
  })

  it.skipIf(skip)('rule 6: DELETE /api/profiles/:id erases events, identifiers and traits', async () => {
    const a = uid('anon')
    const b = uid('anon')
    const email = `${uid('gone')}@example.com`
    await ok([page(a), track(a), identify(a, { email, plan: 'pro' }), page(b), identify(b, { email })])
    const person = await lookup(c.url, `email=${email}`)
    const other = uid('keep')
    await ok([page(other)])
    const del = await api(c.url, `/api/profiles/${person.id}`, { method: 'DELETE' })
    expect(del.status).toBe(200)
    expect(del.body.erased).toMatchObject({ profileId: person.id, events: 5, identifiers: 3 })
    expect(await lookup(c.url, `email=${email}`)).toBeNull()
    expect(await lookup(c.url, `anonymousId=${a}`)).toBeNull()
    expect((await api(c.url, `/api/profiles/${person.id}`)).status).toBe(404)
    const db = c.store.db
    expect(await db.selectFrom('events').select('id').where('anonymous_id', 'in', [a, b]).execute()).toEqual([])
    expect(await db.selectFrom('traits').select('name').where('identifier_key', 'like', `%${email}`).execute()).toEqual([])
    expect(await db.selectFrom('identifiers').select('key').where('value', 'in', [a, b, email]).execute()).toEqual([])
    // Someone else is untouched.
    expect((await lookup(c.url, `anonymousId=${other}`)).eventCount).toBe(1)
    expect((await api(c.url, `/api/profiles/${person.id}`, { method: 'DELETE' })).status).toBe(404)
  })

  it.skipIf(skip)('rule 7: the timeline marks events that happened before identification, late identifies included', async () => {
    const a = uid('anon')
    const email = `${uid('t')}@example.com`
    const t0 = Date.now() - 60_000
    const at = (ms: number) => new Date(t0 + ms).toISOString()
    const ok = (batch: unknown[]) => okAt(batch, { sentAt: undefined })
    await ok([page(a, { timestamp: at(0) }), track(a, 'Before', { timestamp: at(1000) })])
    await ok([track(a, 'After', { timestamp: at(5000), userId: undefined })])
    await ok([identify(a, { email }, { timestamp: at(3000) })])
    const person = await lookup(c.url, `email=${email}`)
    expect(person.identifiedAt).toBe(at(3000))
    const events = await timelineOf(c.url, person.id)
    const flag = Object.fromEntries(events.map((e) => [e.event ?? e.type, e.beforeIdentified]))
    expect(flag).toEqual({ page: true, Before: true, identify: false, After: false })
  })

  it.skipIf(skip)('rule 7 whatever the arrival order: an earlier event carrying the userId, delivered after the identify, moves identifiedAt back', async () => {
    // analytics.js 2 retries an event with the userId of the moment of the retry: an event of
    // the anonymous visit can arrive, carrying the userId, after the identify was stored.
    const t0 = Date.now() - 60_000
    const at = (ms: number) => new Date(t0 + ms).toISOString()
    const ok = (batch: unknown[]) => okAt(batch, { sentAt: undefined })
    const flags = async (order: 'identify first' | 'retried first') => {
      const a = uid('anon')
      const userId = uid('u')
      const retried = track(a, 'Retried', { timestamp: at(1000), userId })
      const identified = identify(a, {}, { timestamp: at(3000), userId })
      await ok([page(a, { timestamp: at(0) })])
      await ok([order === 'identify first' ? identified : retried])
      await ok([order === 'identify first' ? retried : identified])
      const person = await lookup(c.url, `userId=${userId}`)
      const events = await timelineOf(c.url, person.id)
      return { identifiedAt: person.identifiedAt, flags: Object.fromEntries(events.map((e) => [e.event ?? e.type, e.beforeIdentified])) }
    }
    const expected = { identifiedAt: at(1000), flags: { page: true, Retried: false, identify: false } }
    expect(await flags('retried first')).toEqual(expected)
    expect(await flags('identify first')).toEqual(expected)
  })

  it.skipIf(skip)('rule 7 and a resent identify: the copy, corrected for its own transit time, moves nothing', async () => {
    // An SDK that sent an identify by beacon while the page closed sends it again from its
    // queue on the next page; each copy is corrected by its own request's sentAt.
    const a = uid('anon')
    const email = `${uid('resent')}@example.com`
    const t0 = Date.now() - 60_000
    const at = (ms: number) => new Date(t0 + ms).toISOString()
    await ok([page(a, { timestamp: at(0) })], { sentAt: undefined })
    const sent = identify(a, { email }, { timestamp: at(3000) })
    await ok([sent], { sentAt: at(3000) })
    const stored = (await lookup(c.url, `email=${email}`)).identifiedAt
    // The copy left 40 ms after it was made, and arrived at once: corrected 40 ms earlier.
    const copy = await sendBatch(c.url, [sent], { sentAt: at(3040) })
    expect(copy.body).toMatchObject({ accepted: 0, duplicates: 1 })
    const person = await lookup(c.url, `email=${email}`)
    const identifyEvent = (await timelineOf(c.url, person.id)).find((e) => e.type === 'identify')
    expect(person.identifiedAt).toBe(stored)
    expect(identifyEvent.timestamp).toBe(stored)
  })

  it.skipIf(skip)('rule 7 in the identifying millisecond: an event without identity counts as before; the Person page counts agree with the badges', async () => {
    const [phone, laptop] = [uid('phone'), uid('laptop')]
    const email = `${uid('tie')}@example.com`
    const t0 = Date.now() - 60_000
    const at = (ms: number) => new Date(t0 + ms).toISOString()
    // The SDK's messageIds grow in call order, but no order within a millisecond is used: an
    // anonymous event of that millisecond is before, whichever id it has.
    const next = monotonicFactory()
    await okAt(
      [
        track(laptop, 'Laptop earlier', { timestamp: at(-5000) }),
        track(phone, 'Phone earlier', { timestamp: at(-1000) }),
        track(phone, 'Same ms, anonymous', { timestamp: at(0), messageId: next(t0) }),
        identify(phone, { email }, { timestamp: at(0), messageId: next(t0) }),
        track(phone, 'Same ms, after the identify', { timestamp: at(0), messageId: next(t0) }),
        track(phone, 'Later', { timestamp: at(1000) }),
        identify(laptop, { email }, { timestamp: at(2000) }),
      ],
      { sentAt: undefined },
    )
    const person = await lookup(c.url, `email=${email}`)
    const events = await timelineOf(c.url, person.id)
    const flag = Object.fromEntries(events.map((e) => [e.event ?? `${e.type} ${e.anonymousId}`, e.beforeIdentified]))
    expect(flag).toEqual({
      'Laptop earlier': true,
      'Phone earlier': true,
      'Same ms, anonymous': true,
      [`identify ${phone}`]: false,
      'Same ms, after the identify': true,
      Later: false,
      [`identify ${laptop}`]: false,
    })
    // The phone identified first: its three anonymous events are stitched then; the laptop joined
    // later, with its own earlier event. The markers' counts add up to the badges.
    const badged = events.filter((e) => e.beforeIdentified)
    const { journey } = (await api(c.url, `/api/profiles/${person.id}`)).body.profile
    expect(journey.identification).toMatchObject({ earlierEvents: 3, devices: 1 })
    expect(journey.linkedDevices).toMatchObject([{ anonymousId: laptop, at: at(2000), earlierEvents: 1 }])
    expect(badged).toHaveLength(journey.identification.earlierEvents + journey.linkedDevices[0].earlierEvents)
  })

  it.skipIf(skip)('profiles keep traits (last write wins per trait, by event time), first/last touch and counts', async () => {
    const a = uid('anon')
    const email = `${uid('tr')}@example.com`
    const base = Date.now() - 600_000
    const t = (m: number) => new Date(base + m * 1000).toISOString()
    // No sentAt: these timestamps are taken as they are (no clock-skew correction).
    const ok = (batch: unknown[]) => okAt(batch, { sentAt: undefined })
    await ok([
      page(a, { timestamp: t(0), context: { page: { url: 'https://site.test/?utm_source=newsletter&utm_medium=email&utm_campaign=launch', referrer: '' } } }),
      page(a, { timestamp: t(10), context: { page: { url: 'https://site.test/pricing', referrer: 'https://www.google.com/' } } }),
    ])
    await ok([identify(a, { email, plan: 'pro', name: 'New' }, { timestamp: t(30) })])
    // An older identify delivered late must not overwrite newer values.
    await ok([identify(a, { email, plan: 'free', company: 'Acme' }, { timestamp: t(20) })])
    const p = (await api(c.url, `/api/profiles/${(await lookup(c.url, `email=${email}`)).id}`)).body.profile
    expect(p.traits.plan.value).toBe('pro')
    expect(p.traits.name.value).toBe('New')
    expect(p.traits.company.value).toBe('Acme')
    expect(p.traits.plan.updatedAt).toBe(t(30))
    expect(p.firstTouch).toMatchObject({ source: 'newsletter', medium: 'email', campaign: 'launch', at: t(0) })
    expect(p.lastTouch).toMatchObject({ referrer: 'https://www.google.com/', at: t(10) })
    expect(p.eventCount).toBe(4)
    expect(p.firstSeen).toBe(t(0))
    expect(p.lastSeen).toBe(t(30))
  })
})
