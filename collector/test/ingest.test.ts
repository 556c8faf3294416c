// Ingestion over HTTP (docs/contract.md, Wire format): auth, body formats, limits, answers, dedupe, clock skew, UA, IP.
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import {
  ADMIN_TOKEN,
  BACKENDS,
  WRITE_KEY,
  basic,
  identify,
  lookup,
  mid,
  page,
  post,
  sendBatch,
  collectorForSuite,
  timelineOf,
  track,
  uid,
} from './helpers.js'

const CHROME = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'

describe.each(BACKENDS)('ingestion on $name', ({ name, skip }) => {
  const c = collectorForSuite(name, skip)

  const storedCount = async (messageIds: string[]) =>
    (await c.store.db.selectFrom('events').select('message_id').where('message_id', 'in', messageIds).execute()).length

  it.skipIf(skip)('accepts a batch and answers accepted/duplicates/rejected', async () => {
    const a = uid('a')
    const r = await sendBatch(c.url, [page(a), track(a), identify(a, { email: `${a}@x.io` })])
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ accepted: 3, duplicates: 0, rejected: [] })
  })

  it.skipIf(skip)('an empty batch is fine', async () => {
    const r = await sendBatch(c.url, [])
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ accepted: 0, duplicates: 0, rejected: [] })
  })

  it.skipIf(skip)('stores each messageId once, ever: resends and in-batch repeats are duplicates', async () => {
    const a = uid('a')
    const e1 = track(a)
    const e2 = track(a)
    expect((await sendBatch(c.url, [e1, e2, e1])).body).toEqual({ accepted: 2, duplicates: 1, rejected: [] })
    expect((await sendBatch(c.url, [e1, e2])).body).toEqual({ accepted: 0, duplicates: 2, rejected: [] })
    // Concurrent resends of the same batch: still one row each.
    const e3 = track(a)
    const answers = await Promise.all(Array.from({ length: 5 }, () => sendBatch(c.url, [e3])))
    expect(answers.map((x) => x.body.accepted).reduce((s, n) => s + n, 0)).toBe(1)
    expect(await storedCount([e1.messageId, e2.messageId, e3.messageId])).toBe(3)
    expect((await lookup(c.url, `anonymousId=${a}`)).eventCount).toBe(3)
  })

  it.skipIf(skip)('single-event endpoints /v1/track, /v1/page, /v1/identify, /v1/alias', async () => {
    const a = uid('a')
    const u = uid('u')
    for (const [path, body] of [
      ['/v1/track', { messageId: mid(), anonymousId: a, event: 'Signed Up' }],
      ['/v1/page', { messageId: mid(), anonymousId: a, name: 'Pricing' }],
      ['/v1/identify', { messageId: mid(), anonymousId: a, traits: { plan: 'pro' } }],
      ['/v1/alias', { messageId: mid(), previousId: a, userId: u }],
    ] as const) {
      const r = await post(c.url, path, body)
      expect(r.status, path).toBe(200)
      expect(r.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] })
    }
    const events = await timelineOf(c.url, (await lookup(c.url, `userId=${u}`)).id)
    expect(events.map((e) => e.type).sort()).toEqual(['alias', 'identify', 'page', 'track'])
  })

  it.skipIf(skip)('takes the write key from Basic auth or the body; text/plain beacons; gzip bodies', async () => {
    const a = uid('a')
    const plain = await post(c.url, '/v1/batch', { writeKey: WRITE_KEY, batch: [track(a)] }, { auth: null, contentType: 'text/plain;charset=UTF-8' })
    expect(plain.status).toBe(200)
    expect(plain.body.accepted).toBe(1)
    const gz = await post(c.url, '/v1/batch', { batch: [track(a), track(a)] }, { gzip: true })
    expect(gz.body).toEqual({ accepted: 2, duplicates: 0, rejected: [] })
    const gzPlain = await post(c.url, '/v1/batch', { writeKey: WRITE_KEY, batch: [track(a)] }, { gzip: true, auth: null, contentType: 'text/plain' })
    expect(gzPlain.body.accepted).toBe(1)
  })

  it.skipIf(skip)('401 for a missing or unknown write key, in the header or the body; the admin token is not a write key', async () => {
    const body = { batch: [track(uid('a'))] }
    const none = await post(c.url, '/v1/batch', body, { auth: null })
    expect(none.status).toBe(401)
    expect(none.body.error).toMatch(/missing write key/)
    expect((await post(c.url, '/v1/batch', body, { auth: basic('wk_nope') })).status).toBe(401)
    expect((await post(c.url, '/v1/batch', { ...body, writeKey: 'wk_nope' }, { auth: null })).status).toBe(401)
    expect((await post(c.url, '/v1/batch', body, { auth: basic(ADMIN_TOKEN) })).status).toBe(401)
    expect(await storedCount([body.batch[0]!.messageId])).toBe(0)
  })

  it.skipIf(skip)('400 with a message for an unparseable or malformed body', async () => {
    const cases: Array<[string | object, RegExp, Record<string, unknown>?]> = [
      ['{"batch": [', /not valid JSON/],
      ['', /empty/],
      ['[1,2,3]', /JSON object/],
      ['"hello"', /JSON object/],
      [{ batch: 'nope' }, /batch must be an array/],
      [{ batch: [], sentAt: 'yesterday' }, /sentAt/],
      [{ batch: [], sentAt: '+200000-01-01T00:00:00.000Z' }, /outside 1970–2999/],
      [{ batch: Array.from({ length: 10_001 }, () => ({})) }, /10001 events; the limit is 10000/],
      ['x'.repeat(100), /not valid JSON/],
      ['['.repeat(100_000), /not valid JSON|nested/],
    ]
    for (const [body, message] of cases) {
      const r = await post(c.url, '/v1/batch', body)
      expect(r.status, String(body).slice(0, 40)).toBe(400)
      expect(r.body.error).toMatch(message)
    }
    const badGzip = await fetch(`${c.url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: basic(WRITE_KEY) },
      body: 'definitely not gzip',
    })
    expect(badGzip.status).toBe(400)
    expect((await badGzip.json()).error).toMatch(/decompress/)
    const brotli = await post(c.url, '/v1/batch', { batch: [] }, { headers: { 'content-encoding': 'br' } })
    expect(brotli.status).toBe(415)
  })

  it.skipIf(skip)('rejects bad events one by one and keeps their valid neighbours', async () => {
    const a = uid('a')
    const good = [track(a), page(a)]
    const deep: any = {}
    let cur = deep
    for (let i = 0; i < 60; i++) cur = cur.x = {}
    const batch = [
      good[0],
      { type: 'track', messageId: mid(), anonymousId: a },
      { type: 'bogus', messageId: mid(), anonymousId: a },
      { type: 'track', messageId: mid(), event: 'No Id' },
      { type: 'track', messageId: 42, anonymousId: a, event: 'x' },
      { type: 'track', messageId: mid(), anonymousId: { id: 1 }, event: 'x' },
      { type: 'track', messageId: mid(), anonymousId: a, event: 'x', properties: [1, 2] },
      { type: 'track', messageId: mid(), anonymousId: a, event: 'x', timestamp: 'not a date' },
      { type: 'track', messageId: mid(), anonymousId: 'a'.repeat(10_000), event: 'x' },
      { type: 'track', messageId: mid(), anonymousId: a, event: 'x', properties: { blob: 'x'.repeat(40_000) } },
      { type: 'track', messageId: mid(), anonymousId: a, event: 'x', properties: deep },
      { type: 'track', messageId: mid(), anonymousId: a, event: 'x', properties: { s: 'nul\u0000byte' } },
      null,
      'a string',
      good[1],
    ]
    const r = await sendBatch(c.url, batch)
    expect(r.status).toBe(200)
    expect(r.body.accepted).toBe(2)
    expect(r.body.rejected.map((x: any) => x.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])
    const errors = r.body.rejected.map((x: any) => x.error)
    expect(errors).toEqual([
      'event is required',
      expect.stringMatching(/^type must be one of/),
      'anonymousId or userId is required',
      'messageId must be a non-empty string',
      'anonymousId must be a string',
      'properties must be an object',
      'timestamp "not a date" is not an ISO-8601 date',
      'anonymousId is longer than 256 characters',
      expect.stringMatching(/^event is \d+ bytes; the limit is 32768$/),
      'event is nested deeper than 32 levels',
      'event contains a NUL character or invalid Unicode',
      'event must be a JSON object',
      'event must be a JSON object',
    ])
    expect(r.body.rejected[1].messageId).toBe((batch[2] as any).messageId)
    expect(await storedCount(good.map((e) => e!.messageId))).toBe(2)
  })

  it.skipIf(skip)('an event the database itself refuses is rejected alone; its neighbours are stored (no 5xx)', async () => {
    // Validation keeps out everything we know the databases refuse; this trigger stands in for
    // whatever slips through.
    const statements =
      name === 'sqlite'
        ? [`CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.event = 'Poison' BEGIN SELECT RAISE(ABORT, 'poisoned event'); END`]
        : [
            `CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN IF NEW.event = 'Poison' THEN RAISE EXCEPTION 'poisoned event'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
            `CREATE TRIGGER poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION poison()`,
          ]
    for (const statement of statements) await sql.raw(statement).execute(c.store.db)
    try {
      const a = uid('a')
      const batch = [track(a), track(a, 'Poison'), track(a)]
      const r = await sendBatch(c.url, batch)
      expect(r.status).toBe(200)
      expect(r.body.accepted).toBe(2)
      expect(r.body.rejected).toEqual([{ index: 1, messageId: batch[1]!.messageId, error: expect.stringMatching(/database refused this event: .*poisoned event/) }])
      expect(await storedCount(batch.map((e) => e.messageId))).toBe(2)
      const alone = await sendBatch(c.url, [track(a, 'Poison')])
      expect(alone.status).toBe(400)
    } finally {
      await sql.raw('DROP TRIGGER poison' + (name === 'postgres' ? ' ON events' : '')).execute(c.store.db)
    }
  })

  it.skipIf(skip)('413 for a request over 500 KB, plain or gzip-compressed; nothing stored', async () => {
    const a = uid('a')
    const batch = Array.from({ length: 40 }, () => track(a, 'Big', { properties: { pad: 'x'.repeat(14_000) } }))
    const r = await sendBatch(c.url, batch)
    expect(r.status).toBe(413)
    expect(r.body.error).toMatch(/larger than 512000 bytes/)
    // Compresses to a few KB, inflates past the limit: the limit applies to the real size.
    const gz = await post(c.url, '/v1/batch', { batch }, { gzip: true })
    expect(gz.status).toBe(413)
    expect(await storedCount(batch.map((e) => e.messageId))).toBe(0)
  })

  it.skipIf(skip)('corrects client clock skew with sentAt and stores receivedAt', async () => {
    const a = uid('a')
    // The client clock runs 2 hours behind.
    const skew = 2 * 3_600_000
    const clientNow = Date.now() - skew
    const e = track(a, 'Skewed', { timestamp: new Date(clientNow - 10_000).toISOString() })
    const before = Date.now()
    await sendBatch(c.url, [e], { sentAt: new Date(clientNow).toISOString() })
    const after = Date.now()
    const [stored] = await timelineOf(c.url, (await lookup(c.url, `anonymousId=${a}`)).id)
    const ts = Date.parse(stored.timestamp)
    const received = Date.parse(stored.receivedAt)
    expect(received).toBeGreaterThanOrEqual(before)
    expect(received).toBeLessThanOrEqual(after)
    expect(ts).toBe(received - 10_000 - (Date.parse(new Date(clientNow).toISOString()) - clientNow))
    expect(stored.originalTimestamp).toBe(e.timestamp)
  })

  it.skipIf(skip)('parses the user agent, flags bots without dropping them, truncates the IP', async () => {
    const human = uid('a')
    const bot = uid('a')
    await sendBatch(c.url, [page(human, { context: { userAgent: CHROME } }), page(bot, { context: { userAgent: GOOGLEBOT, ip: '203.0.113.77' } })])
    const [h] = await timelineOf(c.url, (await lookup(c.url, `anonymousId=${human}`)).id)
    const [b] = await timelineOf(c.url, (await lookup(c.url, `anonymousId=${bot}`)).id)
    expect(h).toMatchObject({ browser: 'Chrome 131', os: 'macOS 10.15.7', device: 'desktop', isBot: false, ip: '127.0.0.0' })
    expect(b.isBot).toBe(true)
    expect(b.ip).toBe('203.0.113.0')
    expect(b.context.ip).toBe('203.0.113.0')
  })

  it.skipIf(skip)('merges batch-level context under each event', async () => {
    const a = uid('a')
    await sendBatch(c.url, [track(a, 'x', { context: { locale: 'fr-FR' } })], { context: { library: { name: 'lib' }, locale: 'en' } })
    const [e] = await timelineOf(c.url, (await lookup(c.url, `anonymousId=${a}`)).id)
    expect(e.context).toMatchObject({ library: { name: 'lib' }, locale: 'fr-FR' })
  })
})

describe.each(BACKENDS)('ingestion policies on $name', ({ name, skip }) => {
  const c = collectorForSuite(name, skip, {
    WAYMARK_ALLOWED_ORIGINS: 'https://shop.example',
    WAYMARK_IP: 'full',
  })

  it.skipIf(skip)('CORS: allowed origins get CORS headers, others are refused', async () => {
    const pre = await fetch(`${c.url}/v1/batch`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    })
    expect(pre.status).toBe(204)
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://shop.example')
    const good = await post(c.url, '/v1/batch', { batch: [track(uid('a'))] }, { headers: { origin: 'https://shop.example' } })
    expect(good.status).toBe(200)
    expect(good.headers.get('access-control-allow-origin')).toBe('https://shop.example')
    const evil = await post(c.url, '/v1/batch', { batch: [track(uid('a'))] }, { headers: { origin: 'https://evil.example' } })
    expect(evil.status).toBe(403)
    // the refused page may read why (nothing else is in the answer); nothing was stored
    expect(evil.headers.get('access-control-allow-origin')).toBe('https://evil.example')
    expect(evil.body.error).toMatch(/not allowed/)
  })

  it.skipIf(skip)('stores the full IP only when configured', async () => {
    const a = uid('a')
    const r = await sendBatch(c.url, [page(a, { context: { ip: '203.0.113.77' } })])
    expect(r.status).toBe(200)
    const [e] = await timelineOf(c.url, (await lookup(c.url, `anonymousId=${a}`)).id)
    expect(e.ip).toBe('203.0.113.77')
  })
})
