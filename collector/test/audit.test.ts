// Security and bad-input audit: each case here failed before its fix (see the commit that added it).
import { JSDOM } from 'jsdom'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { ADMIN_TOKEN, BACKENDS, WRITE_KEY, api, basic, collectorForSuite, identify, lookup, page, post, sendBatch, startTestCollector, timelineOf, track, uid } from './helpers.js'

describe.each(BACKENDS)('read API edges on $name', ({ name, skip }) => {
  const c = collectorForSuite(name, skip)

  it.skipIf(skip)('a query parameter given twice or holding a NUL is a 400, never a 500', async () => {
    for (const path of [
      '/api/profiles?q=a&q=b',
      '/api/segments/engaged/profiles?q=a&q=b',
      '/api/profiles?q=%00',
      '/api/lookup?anonymousId=%00',
      '/api/lookup?userId=a&userId=b',
      '/api/profiles/x/timeline?cursor=a&cursor=b',
    ]) {
      const r = await api(c.url, path)
      expect(r.status, path).toBe(400)
      expect(r.body.error, path).toMatch(/once|NUL/)
    }
  })

  it.skipIf(skip)('a profile id holding a NUL is a 404, never a 500', async () => {
    for (const [method, path] of [
      ['GET', '/api/profiles/%00'],
      ['GET', '/api/profiles/p%00x/timeline'],
      ['DELETE', '/api/profiles/%00'],
      ['GET', '/api/segments/%00/profiles'],
    ] as const) {
      const r = await api(c.url, path, { method })
      expect(r.status, `${method} ${path}`).toBe(404)
    }
  })

  it.skipIf(skip)('a trait named "__proto__" is kept and shown like any other trait', async () => {
    const a = uid('a')
    const body = JSON.stringify({ batch: [identify(a, { email: `${a}@x.io`, plan: 'pro' })] }).replace('"traits":{', '"traits":{"__proto__":{"admin":true},')
    expect((await post(c.url, '/v1/batch', body)).status).toBe(200)
    const profile = await lookup(c.url, `anonymousId=${a}`)
    expect(Object.keys(profile.traits).sort()).toEqual(['__proto__', 'email', 'plan'])
    expect(profile.traits.__proto__.value).toEqual({ admin: true })
    expect(Object.getPrototypeOf(profile.traits)).toBe(Object.prototype)
  })
})

describe.each(BACKENDS)('IP policy on $name', ({ name, skip }) => {
  const c = collectorForSuite(name, skip)
  const proxied = collectorForSuite(name, skip, { WAYMARK_TRUST_PROXY: '1' })

  const stored = async (url: string, anonymousId: string) => (await timelineOf(url, (await lookup(url, `anonymousId=${anonymousId}`)).id))[0]

  it.skipIf(skip)('an address with a port, or in any IPv6 spelling, is truncated; what is not an address is not stored', async () => {
    const cases: Array<[string, string | null]> = [
      ['203.0.113.77:51234', '203.0.113.0'],
      ['[2001:db8:abcd:12::1]:443', '2001:db8:abcd::'],
      ['::ffff:cb00:714d', '203.0.113.0'],
      ['2001:DB8:ABCD:0012:0000:0000:0000:0001', '2001:db8:abcd::'],
      ['not an ip 203.0.113.77', null],
    ]
    for (const [ip, expected] of cases) {
      const a = uid('a')
      expect((await sendBatch(c.url, [track(a, 'x', { context: { ip } })])).status).toBe(200)
      const e = await stored(c.url, a)
      expect(e.ip, ip).toBe(expected)
      expect(e.context.ip, ip).toBe(expected ?? undefined)
    }
  })

  it.skipIf(skip)('without WAYMARK_TRUST_PROXY, X-Forwarded-For is ignored', async () => {
    const a = uid('a')
    await post(c.url, '/v1/batch', { batch: [track(a)] }, { headers: { 'x-forwarded-for': '198.51.100.7' } })
    expect((await stored(c.url, a)).ip).toBe('127.0.0.0')
  })

  it.skipIf(skip)('behind a proxy, the address the proxy saw is taken, not one the client put in X-Forwarded-For', async () => {
    const a = uid('a')
    // The client sent "X-Forwarded-For: 6.6.6.6"; the proxy appended the address it saw.
    await post(proxied.url, '/v1/batch', { batch: [track(a)] }, { headers: { 'x-forwarded-for': '6.6.6.6, 198.51.100.7' } })
    expect((await stored(proxied.url, a)).ip).toBe('198.51.100.0')
  })

  it.skipIf(skip)('the proxies can be named by address instead of counted; a bad value stops the start', async () => {
    const named = await startTestCollector(name, { WAYMARK_TRUST_PROXY: '127.0.0.0/8,10.0.0.1' })
    try {
      const a = uid('a')
      await post(named.url, '/v1/batch', { batch: [track(a)] }, { headers: { 'x-forwarded-for': '6.6.6.6, 198.51.100.7, 10.0.0.1' } })
      expect((await stored(named.url, a)).ip).toBe('198.51.100.0')
    } finally {
      await named.stop()
    }
    expect(() => loadConfig([], { WAYMARK_TRUST_PROXY: 'my-proxy' })).toThrow(/WAYMARK_TRUST_PROXY/)
  })
})

describe.each(BACKENDS)('ingest edges on $name', ({ name, skip }) => {
  const c = collectorForSuite(name, skip)

  it.skipIf(skip)('a timestamp that is not ISO-8601 is rejected, not read as some other date', async () => {
    const a = uid('a')
    const bad = ['12', '0', 'May 5', 'Tue Dec 01 2026', '2026/11/22 10:00', '1764000000000']
    const good = ['2026-11-22T10:00:00.000Z', '2026-11-22T10:00:00Z', '2026-11-22T11:00:00+01:00', '2026-11-22T10:00:00.123456Z', '2026-11-22']
    const r = await sendBatch(c.url, [...bad, ...good].map((timestamp) => track(a, 'x', { timestamp })))
    expect(r.status).toBe(200)
    expect(r.body.accepted).toBe(good.length)
    expect(r.body.rejected.map((x: any) => x.index)).toEqual(bad.map((_, i) => i))
    expect(r.body.rejected[0].error).toMatch(/ISO-8601/)
    const sentAt = await post(c.url, '/v1/batch', { batch: [track(a)], sentAt: '12' })
    expect(sentAt.status).toBe(400)
  })

  it.skipIf(skip)('the batch-level context counts toward each event: size, depth and NUL limits apply to the event as stored', async () => {
    const a = uid('a')
    // 50 tiny events and a 100 KB context: 5 MB of events out of a 100 KB request.
    const big = await sendBatch(c.url, Array.from({ length: 50 }, () => track(a)), { context: { pad: 'x'.repeat(100_000) } })
    expect(big.status).toBe(400)
    expect(big.body.rejected[0].error).toMatch(/^event is \d+ bytes; the limit is 32768$/)
    const deep = `{"batch":[${JSON.stringify(track(a))}],"context":${'{"x":'.repeat(5000)}{}${'}'.repeat(5000)}}`
    const d = await post(c.url, '/v1/batch', deep)
    expect(d.status).toBe(400)
    expect(d.body.rejected[0].error).toBe('event is nested deeper than 32 levels')
    const nul = await sendBatch(c.url, [track(a)], { context: { s: 'nul\u0000byte' } })
    expect(nul.status).toBe(400)
    expect(nul.body.rejected[0].error).toBe('event contains a NUL character or invalid Unicode')
    // A small batch context is still merged under each event's own.
    const ok = await sendBatch(c.url, [track(a, 'y', { context: { locale: 'fr' } })], { context: { locale: 'en', library: { name: 'l' } } })
    expect(ok.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] })
    const events = await timelineOf(c.url, (await lookup(c.url, `anonymousId=${a}`)).id)
    expect(events.map((e) => e.context)).toEqual([{ locale: 'fr', library: { name: 'l' } }])
  })

  it.skipIf(skip)('one request cannot fan a batch context out past 20 times the request limit', async () => {
    const a = uid('a')
    // 5,000 events of ~60 bytes and a 30 KB context, each under 32 KB as merged: 150 MB.
    const batch = Array.from({ length: 5_000 }, () => ({ type: 'track', anonymousId: a, event: 'x' }))
    const r = await sendBatch(c.url, batch, { context: { pad: 'x'.repeat(30_000) } })
    expect(r.status).toBe(413)
    expect(r.body.error).toMatch(/context/)
    expect((await lookup(c.url, `anonymousId=${a}`))).toBeNull()
  })
})

describe.each(BACKENDS)('event times on $name', ({ name, skip }) => {
  const c = collectorForSuite(name, skip)

  it.skipIf(skip)('an event dated far in the future is stored at its arrival, not years ahead (its client time is kept)', async () => {
    const a = uid('a')
    const before = Date.now()
    // A server-side library with a wrong clock (no sentAt), and an event dated after its own sentAt.
    expect((await post(c.url, '/v1/track', { anonymousId: a, event: 'Future', timestamp: '2999-01-01T00:00:00.000Z' })).status).toBe(200)
    expect((await sendBatch(c.url, [track(a, 'Ahead', { timestamp: '2031-06-01T00:00:00.000Z' })])).status).toBe(200)
    // A client a few minutes fast is left alone.
    const soon = new Date(before + 5 * 60_000).toISOString()
    expect((await post(c.url, '/v1/track', { anonymousId: a, event: 'Soon', timestamp: soon })).status).toBe(200)
    const after = Date.now()
    const events = await timelineOf(c.url, (await lookup(c.url, `anonymousId=${a}`)).id)
    const byName = Object.fromEntries(events.map((e) => [e.event, e]))
    for (const n of ['Future', 'Ahead']) {
      expect(Date.parse(byName[n].timestamp), n).toBeGreaterThanOrEqual(before)
      expect(Date.parse(byName[n].timestamp), n).toBeLessThanOrEqual(after)
    }
    expect(byName.Future.originalTimestamp).toBe('2999-01-01T00:00:00.000Z')
    expect(byName.Soon.timestamp).toBe(soon)
    expect(Date.parse((await lookup(c.url, `anonymousId=${a}`)).lastSeen)).toBeLessThanOrEqual(after + 5 * 60_000)
  })
})

describe.each(BACKENDS)('people with very many identifiers on $name', ({ name, skip }) => {
  const c = collectorForSuite(name, skip)

  it.skipIf(skip)('one email gathers at most 1,000 browsers: the next stays a person of its own, recorded as a conflict, its events kept', async () => {
    // Anyone with the public write key could otherwise pile browsers onto someone's email.
    const a = uid('cap')
    const email = `${a}@example.com`
    for (let i = 0; i < 1_001; i += 250) {
      const batch = Array.from({ length: Math.min(250, 1_001 - i) }, (_, j) => identify(`${a}-${i + j}`, { email }))
      expect((await sendBatch(c.url, batch)).status).toBe(200)
    }
    const extra = `${a}-extra`
    await sendBatch(c.url, [track(extra), identify(extra, { email })])
    const person = await lookup(c.url, `email=${encodeURIComponent(email)}`)
    const detail = (await api(c.url, `/api/profiles/${person.id}`)).body.profile
    expect(detail.identifierCount).toBe(1_001) // 1,000 browsers and the email
    expect(detail.identifiers.length).toBe(101)
    const own = await lookup(c.url, `anonymousId=${extra}`)
    expect(own.id).not.toBe(person.id)
    expect((await timelineOf(c.url, own.id)).map((e: any) => e.type)).toContain('track')
    const overCap = detail.conflicts.filter((x: any) => /at most 1000 anonymous ids/.test(x.reason))
    expect(overCap.map((x: any) => x.identifier)).toContain(`anonymousId:${extra}`)
    // Every browser pages through /devices, most recent first, a cursor to the next page.
    const seen = new Set<string>()
    let cursor: string | null = ''
    while (cursor !== null) {
      const page = await api(c.url, `/api/profiles/${person.id}/devices?limit=200${cursor ? `&cursor=${cursor}` : ''}`)
      expect(page.status).toBe(200)
      for (const d of page.body.devices) seen.add(d.anonymousId)
      cursor = page.body.nextCursor
    }
    expect(seen.size).toBe(1_000)
    expect(seen.has(extra)).toBe(false)
    expect((await api(c.url, `/api/profiles/${person.id}/devices?cursor=nonsense`)).status).toBe(400)
    expect((await api(c.url, `/api/profiles/${person.id}/devices?limit=201`)).status).toBe(400)
    expect((await api(c.url, `/api/profiles/nobody/devices`)).status).toBe(404)
  }, 120_000)

  it.skipIf(skip)('each device is described by its latest event, on the profile and on every page of /devices', async () => {
    const a = uid('dev')
    const email = `${a}@example.com`
    const firefox = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0'
    const android = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36'
    const at = (ms: number) => new Date(Date.now() - ms).toISOString()
    const desktop = `${a}-desktop`
    const phone = `${a}-phone`
    await sendBatch(c.url, [
      page(phone, { timestamp: at(60_000), context: { userAgent: firefox } }),
      page(phone, { timestamp: at(30_000), context: { userAgent: android } }),
      identify(phone, { email }, { timestamp: at(50_000) }),
      identify(desktop, { email }, { timestamp: at(45_000) }),
      page(desktop, { timestamp: at(10_000), context: { userAgent: firefox } }),
    ])
    const person = await lookup(c.url, `email=${encodeURIComponent(email)}`)
    const first = await api(c.url, `/api/profiles/${person.id}/devices?limit=1`)
    const second = await api(c.url, `/api/profiles/${person.id}/devices?limit=1&cursor=${first.body.nextCursor}`)
    const described = [...first.body.devices, ...second.body.devices].map((d: any) => [d.anonymousId, d.browser, d.os])
    expect(described).toEqual([
      [desktop, 'Firefox 133', 'Windows 10'],
      [phone, 'Mobile Chrome 131', 'Android 14'],
    ])
    expect(second.body.nextCursor).toBeNull()
  })

  it.skipIf(skip)('a person with 70,000 anonymous ids can still be read and erased (no bind-parameter limit reached)', async () => {
    // Anyone holding the public write key can identify any number of fresh anonymous ids with
    // someone's email; past 32,766 (SQLite) or 65,535 (PostgreSQL) ids, one IN list breaks.
    const a = uid('a')
    const email = `${a}@example.com`
    await sendBatch(c.url, [track(a), identify(a, { email, plan: 'pro' })])
    const profile = await lookup(c.url, `anonymousId=${a}`)
    const now = Date.now()
    for (let i = 0; i < 70_000; i += 2_000) {
      const rows = Array.from({ length: 2_000 }, (_, j) => ({ key: `anonymousId:${a}-${i + j}`, kind: 'anonymousId' as const, value: `${a}-${i + j}`, profile_id: profile.id, created_at: now }))
      // 5 columns per row: 10,000 parameters per statement
      await c.store.db.insertInto('identifiers').values(rows).execute()
    }
    for (const path of [`/api/profiles/${profile.id}`, `/api/lookup?email=${encodeURIComponent(email)}`, `/api/profiles/${profile.id}/timeline?limit=10`]) {
      const r = await api(c.url, path)
      expect(r.status, path).toBe(200)
    }
    const detail = (await api(c.url, `/api/profiles/${profile.id}`)).body.profile
    expect(detail.traits.plan.value).toBe('pro')
    // The profile shows its claims and the 100 most recent browsers; the rest page through /devices.
    expect(detail.identifierCount).toBe(70_002)
    expect(detail.identifiers.length).toBe(101)
    const devices = await api(c.url, `/api/profiles/${profile.id}/devices?limit=200`)
    expect(devices.status).toBe(200)
    expect(devices.body.devices.length).toBe(200)
    expect(devices.body.nextCursor).toBeTruthy()
    expect((await api(c.url, `/api/profiles/${profile.id}/timeline`)).body.events.map((e: any) => e.type)).toEqual(['identify', 'track'])
    const erased = await api(c.url, `/api/profiles/${profile.id}`, { method: 'DELETE' })
    expect(erased.status).toBe(200)
    expect(erased.body.erased.identifiers).toBe(70_002)
  }, 180_000)
})

describe.each(BACKENDS)('viewer privacy on $name', ({ name, skip }) => {
  const c = collectorForSuite(name, skip)

  /** The viewer's People page in a DOM, reading the real collector; every URL it uses is recorded. */
  async function viewerDom() {
    const dom = new JSDOM('<!doctype html><div id="app"></div>', { url: 'http://127.0.0.1/ui#/people' })
    const urls: string[] = []
    const g = globalThis as any
    const saved = Object.fromEntries(['window', 'document', 'location', 'history', 'sessionStorage', 'FormData', 'fetch'].map((k) => [k, g[k]]))
    Object.assign(g, {
      window: dom.window,
      document: dom.window.document,
      location: dom.window.location,
      history: dom.window.history,
      sessionStorage: dom.window.sessionStorage,
      FormData: dom.window.FormData,
      fetch: (path: string, init?: RequestInit) => (urls.push(path), saved.fetch(new URL(path, c.url), init)),
    })
    dom.window.sessionStorage.setItem('waymark.adminToken', ADMIN_TOKEN)
    const { peoplePage } = await import('../ui/people.js')
    const { parseRoute } = await import('../ui/router.js')
    return { dom, urls, show: () => peoplePage(parseRoute(dom.window.location.hash)), restore: () => Object.assign(g, saved) }
  }

  it.skipIf(skip)('searching by email keeps the email out of the address bar, the history and every request URL', async () => {
    const a = uid('a')
    const email = `${a}@example.com`
    await sendBatch(c.url, [track(a), identify(a, { email })])
    const v = await viewerDom()
    try {
      const page = await v.show()
      const input = page.querySelector<HTMLInputElement>('input[name=q]')!
      input.value = email
      page.querySelector('form')!.dispatchEvent(new v.dom.window.Event('submit', { cancelable: true }))
      const hash = v.dom.window.location.hash
      expect(decodeURIComponent(hash)).not.toContain(email)
      expect(decodeURIComponent(hash)).not.toContain(a)
      const found = await v.show()
      // The search still works: the person is listed, the input shows the term.
      expect([...found.querySelectorAll('table a')].map((l) => l.textContent)).toEqual([email])
      expect(found.querySelector<HTMLInputElement>('input[name=q]')!.value).toBe(email)
      expect(v.urls.length).toBeGreaterThan(0)
      for (const url of v.urls) expect(decodeURIComponent(url)).not.toContain(a)
      // Signing out forgets the terms too.
      const { token } = await import('../ui/api.js')
      token.clear()
      expect(Object.values(v.dom.window.sessionStorage)).toEqual([])
    } finally {
      v.restore()
    }
  })

  it.skipIf(skip)('POST /api/profiles/search: the people list with the query in the body, admin token only, typed', async () => {
    const a = uid('a')
    const email = `${a}@example.com`
    await sendBatch(c.url, [identify(a, { email })])
    const search = (body: unknown, auth = `Bearer ${ADMIN_TOKEN}`) =>
      fetch(`${c.url}/api/profiles/search`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const r = await search({ q: email.toUpperCase(), limit: 5 })
    expect(r.status).toBe(200)
    expect((await r.json()).profiles.map((p: any) => p.email)).toEqual([email])
    expect((await search({ q: email }, basic(WRITE_KEY))).status).toBe(403)
    expect((await search({ q: email }, 'Bearer nope')).status).toBe(401)
    for (const body of [[], { q: ['a'] }, { email }, { q: 'a\u0000' }]) {
      const bad = await search(body)
      expect(bad.status, JSON.stringify(body)).toBe(400)
    }
  })
})

describe.each(BACKENDS)('request logs on $name', ({ name, skip }) => {
  it.skipIf(skip)('at info level, no email from a query string, no token and no full client IP reach the log', async () => {
    const lines: string[] = []
    const write = process.stderr.write
    process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => (lines.push(String(chunk)), (write as any).call(process.stderr, chunk, ...rest))) as typeof write
    const c = await startTestCollector(name, { WAYMARK_LOG_LEVEL: 'info' })
    try {
      await api(c.url, '/api/lookup?email=secret.person%40example.com')
      await api(c.url, '/api/profiles?q=secret.person@example.com&limit=5')
      await api(c.url, '/api/profiles', { token: 'wrong-token-xyz' })
      await post(c.url, '/v1/batch', { batch: [track(uid('a'))] })
    } finally {
      process.stderr.write = write
      await c.stop()
    }
    const log = lines.join('')
    expect(log).toContain('/api/lookup') // the requests are logged, only without the query
    expect(log).not.toMatch(/secret\.person/)
    expect(log).not.toContain(ADMIN_TOKEN)
    expect(log).not.toContain('wrong-token-xyz')
    expect(log).not.toContain('127.0.0.1"')
  })
})
