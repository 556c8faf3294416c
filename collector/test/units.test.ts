// Pure functions at the edges: configuration, validation, normalization, rate limiting.
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { ConfigError, DEMO_WRITE_KEY, loadConfig } from '../src/config.js'
import { isAbsentId, isPlaceholderId, normalizeEmail } from '@waymark/contract'
import { eventIdentityKey } from '../src/identity/identifiers.js'
import { applyIpPolicy, correctTimestamp, extractTouch, isBrowserAgent, parseAgent, prepareEvent, sessionIdOf, truncateIp, withChannels, type RequestInfo } from '../src/ingest/normalize.js'
import { refusalReason } from '../src/routes/ingest.js'
import { safeEqual } from '../src/routes/http.js'
import { jobRunner, packRows } from '../src/ingest/sqlite-writer.js'
import { WriteGate } from '../src/db/gate.js'
import { bodyFacts, jsonSizeBound, readEnvelope, validateEvent, type BodyFacts } from '../src/ingest/validate.js'

describe('config', () => {
  it('uses the documented defaults and generates demo credentials only when none are configured', () => {
    const c = loadConfig([], {})
    expect(c).toMatchObject({ host: '127.0.0.1', port: 8787, writeKeys: [DEMO_WRITE_KEY], demo: { writeKey: true, adminToken: true }, allowedOrigins: null })
    expect(c.database).toMatchObject({ kind: 'sqlite' })
    expect((c.database as { file: string }).file).toMatch(/\.waymark\/waymark\.db$/)
    expect(c.adminToken).toMatch(/^adm_/)
    const configured = loadConfig([], { WAYMARK_WRITE_KEYS: 'a, b', WAYMARK_ADMIN_TOKEN: 't', WAYMARK_ALLOWED_ORIGINS: 'https://x.io' })
    expect(configured).toMatchObject({ writeKeys: ['a', 'b'], adminToken: 't', demo: { writeKey: false, adminToken: false }, allowedOrigins: ['https://x.io'] })
  })

  it('reads allowed origins as browsers send them: case and a trailing slash do not matter; a non-origin stops the start', () => {
    const c = loadConfig([], { WAYMARK_ALLOWED_ORIGINS: 'https://Shop.Example.com/, http://localhost:3000' })
    expect(c.allowedOrigins).toEqual(['https://shop.example.com', 'http://localhost:3000'])
    for (const bad of ['*', 'shop.example.com', 'https://shop.example.com/path', 'https://x.io/?a=1'])
      expect(() => loadConfig([], { WAYMARK_ALLOWED_ORIGINS: bad }), bad).toThrow(ConfigError)
  })

  it('flags win over environment variables', () => {
    const env = { PORT: '9000', WAYMARK_DATABASE_URL: 'postgres://env/db', WAYMARK_HOST: '0.0.0.0' }
    expect(loadConfig([], env)).toMatchObject({ port: 9000, host: '0.0.0.0', database: { kind: 'postgres', url: 'postgres://env/db' } })
    const c = loadConfig(['--port=1234', '--host', '::1', '--db', '/tmp/x.db'], env)
    expect(c).toMatchObject({ port: 1234, host: '::1', database: { kind: 'sqlite', file: '/tmp/x.db' } })
  })

  it('refuses bad values with a clear message', () => {
    expect(() => loadConfig(['--port', 'abc'], {})).toThrow(ConfigError)
    expect(() => loadConfig(['--what'], {})).toThrow(/unknown argument/)
    expect(() => loadConfig(['--db'], {})).toThrow(/needs a value/)
    expect(() => loadConfig([], { WAYMARK_IP: 'maybe' })).toThrow(/WAYMARK_IP/)
    expect(() => loadConfig([], { WAYMARK_WRITE_KEYS: 'same', WAYMARK_ADMIN_TOKEN: 'same' })).toThrow(/must differ/)
  })
})

describe('identifiers', () => {
  it('normalizes emails (trim, lower-case) and refuses non-emails', () => {
    expect(normalizeEmail('  Ada@Example.COM ')).toBe('ada@example.com')
    expect(normalizeEmail('not an email')).toBeNull()
    expect(normalizeEmail(42)).toBeNull()
  })

  it('knows placeholder ids', () => {
    for (const id of ['anonymous', 'NULL', 'undefined', '0', '[object Object]']) expect(isPlaceholderId(id), id).toBe(true)
    for (const id of ['01J9Z', 'user-1', 'ada@example.com']) expect(isPlaceholderId(id), id).toBe(false)
  })

  it('an empty id is absent, not a placeholder', () => {
    for (const id of ['', '  ', null, undefined]) expect(isAbsentId(id), String(id)).toBe(true)
    for (const id of ['', '  ']) expect(isPlaceholderId(id), id).toBe(false)
    for (const id of ['0', 'u-1', 0]) expect(isAbsentId(id), String(id)).toBe(false)
  })

  it('files an event under its strongest identifier', () => {
    expect(eventIdentityKey({ anonymousId: 'a', userId: 'u', email: 'e@x.io', previousId: null })).toBe('userId:u')
    expect(eventIdentityKey({ anonymousId: 'a', userId: null, email: 'e@x.io', previousId: null })).toBe('email:e@x.io')
    expect(eventIdentityKey({ anonymousId: 'a', userId: null, email: null, previousId: null })).toBe('anonymousId:a')
  })
})

describe('validation', () => {
  const ok = { type: 'track', messageId: 'm1', anonymousId: 'a1', event: 'Clicked' }

  it('reads batch and single-event envelopes', () => {
    expect(readEnvelope({ batch: [ok], writeKey: 'k', sentAt: '2026-01-01T00:00:00Z' }, null)).toMatchObject({ events: [ok], writeKey: 'k', sentAt: Date.parse('2026-01-01T00:00:00Z') })
    expect(readEnvelope({ ...ok, type: 'page' }, 'track')).toMatchObject({ events: [{ type: 'track' }] })
    expect(readEnvelope([], null)).toEqual({ error: 'body must be a JSON object' })
  })

  it('uses body-level facts to skip per-event serialization only when they prove the checks', () => {
    const nul = { ...ok, properties: { s: 'a\u0000b' } }
    const text = JSON.stringify({ batch: [nul] })
    expect(() => validateEvent(nul, 32768, bodyFacts(text))).toThrow(/NUL/)
    expect(() => validateEvent(nul, 32768)).toThrow(/NUL/)
    const lone = { ...ok, properties: { s: '\ud800' } }
    expect(() => validateEvent(lone, 32768, bodyFacts(JSON.stringify(lone)))).toThrow(/invalid Unicode/)
    // A literal backslash-u in a string is fine.
    const literal = { ...ok, properties: { s: '\\u0000' } }
    expect(validateEvent(literal, 32768, bodyFacts(JSON.stringify(literal))).properties).toEqual({ s: '\\u0000' })
    expect(validateEvent(ok, 32768, bodyFacts(JSON.stringify(ok)))).toMatchObject({ type: 'track', anonymousId: 'a1', event: 'Clicked' })
  })

  it('skips serializing an event of a large body only when its size bound proves it fits', () => {
    const large: BodyFacts = { bytes: 100_000, unstorable: false }
    expect(validateEvent({ ...ok, properties: { s: 'x'.repeat(1000), n: -0.000001234567890123456 } }, 32768, large).properties).toMatchObject({ n: -0.000001234567890123456 })
    // the bound is over the limit (6 bytes per character), the event is not: serialized, accepted
    expect(validateEvent({ ...ok, properties: { s: 'x'.repeat(20_000) } }, 32768, large).properties).toEqual({ s: 'x'.repeat(20_000) })
    // over the limit by its escapes alone
    expect(() => validateEvent({ ...ok, properties: { s: '"'.repeat(16_400) } }, 32768, large)).toThrow(/^event is 32\d{3} bytes; the limit is 32768$/)
    // the size error comes first, as without the bound; a small deep event gets the depth error
    let deep: unknown = {}
    for (let i = 0; i < 40; i++) deep = { deep }
    expect(() => validateEvent({ ...ok, properties: { deep, s: 'x'.repeat(40_000) } }, 32768, large)).toThrow(/^event is \d+ bytes/)
    expect(() => validateEvent({ ...ok, properties: { deep } }, 32768, large)).toThrow('event is nested deeper than 32 levels')
    expect(() => validateEvent({ ...ok, properties: { deep } }, 32768, { bytes: 100, unstorable: false })).toThrow('event is nested deeper than 32 levels')
  })

  it('bounds the serialized size of any JSON value from above', () => {
    const values = [0, -0.000001234567890123456, -1.7976931348623157e308, 'é😀"\\\n\u0001', { 'k"é': [null, true, false, { a: [] }] }, []]
    for (const v of values) expect(jsonSizeBound(v, 32), JSON.stringify(v)).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(v)))
    expect(jsonSizeBound({ a: { b: {} } }, 2)).toBe(-1)
    expect(jsonSizeBound({ a: { b: 1 } }, 2)).toBeGreaterThan(0)
  })

  it('accepts numeric ids as strings and takes the email from traits or context.traits', () => {
    expect(validateEvent({ ...ok, userId: 42 }, 32768).userId).toBe('42')
    expect(validateEvent({ ...ok, type: 'identify', traits: { email: ' A@B.io' } }, 32768).email).toBe('a@b.io')
    expect(validateEvent({ ...ok, context: { traits: { email: 'c@d.io' } } }, 32768).email).toBe('c@d.io')
  })
})

describe('normalization', () => {
  it('corrects clock skew as timestamp + (receivedAt − sentAt)', () => {
    expect(correctTimestamp(1_000, 5_000, 65_000)).toBe(61_000)
    expect(correctTimestamp(1_000, null, 65_000)).toBe(1_000)
    expect(correctTimestamp(null, 5_000, 65_000)).toBe(65_000)
  })

  it('truncates IPs to /24 and /48 unless configured', () => {
    expect(truncateIp('203.0.113.77')).toBe('203.0.113.0')
    expect(truncateIp('::ffff:203.0.113.77')).toBe('203.0.113.0')
    expect(truncateIp('2001:db8:abcd:12:1:2:3:4')).toBe('2001:db8:abcd::')
    expect(truncateIp('2001:db8::1')).toBe('2001:db8:0::')
    expect(applyIpPolicy('203.0.113.77', 'full')).toBe('203.0.113.77')
    expect(applyIpPolicy('203.0.113.77', 'none')).toBeNull()
  })

  it('extracts campaign and external referrer; ignores internal referrers', () => {
    expect(extractTouch({ page: { url: 'https://s.io/?utm_source=a&utm_medium=b', referrer: 'https://s.io/prev' } })).toEqual({ source: 'a', medium: 'b', landingPage: 'https://s.io/?utm_source=a&utm_medium=b' })
    expect(extractTouch({ campaign: { name: 'spring' }, page: { url: 'https://s.io/', referrer: 'https://news.io/x' } })).toEqual({ campaign: 'spring', referrer: 'https://news.io/x', landingPage: 'https://s.io/' })
    expect(extractTouch({ page: { url: 'https://s.io/', referrer: 'https://s.io/a' } })).toBeNull()
  })

  it("takes utm_* from a page's properties when context.campaign and context.page carry none", () => {
    const url = 'https://s.io/pricing?utm_source=news&utm_campaign=spring'
    expect(extractTouch({ library: { name: 'analytics-node' } }, { url })).toEqual({ source: 'news', campaign: 'spring', landingPage: url })
    expect(extractTouch(null, { search: '?utm_medium=cpc', url: 'https://s.io/' })).toEqual({ medium: 'cpc', landingPage: 'https://s.io/' })
    // context.page's own utm_* and context.campaign come first
    expect(extractTouch({ page: { url: 'https://s.io/?utm_source=page' } }, { url })?.source).toBe('page')
    expect(extractTouch({ campaign: { source: 'ctx' } }, { url })?.source).toBe('ctx')
    expect(extractTouch(null, { url: 'https://s.io/' })).toBeNull()
  })

  it('adds the channel to a copy of context.campaign and traits.firstTouch, keys in place, "__proto__" kept', () => {
    const text = '{"page":{"url":"https://s.io/"},"campaign":{"source":"newsletter","__proto__":{"x":1}},"locale":"en"}'
    const context = JSON.parse(text)
    const traits = JSON.parse('{"firstTouch":{"medium":"cpc"},"plan":"pro"}')
    const out = withChannels(context, traits)
    expect(JSON.stringify(out.context)).toBe('{"page":{"url":"https://s.io/"},"campaign":{"source":"newsletter","__proto__":{"x":1},"channel":"email"},"locale":"en"}')
    expect(JSON.stringify(out.traits)).toBe('{"firstTouch":{"medium":"cpc","channel":"paid search"},"plan":"pro"}')
    expect(JSON.stringify(context)).toBe(text) // the client's objects are left as they were
    expect(withChannels(JSON.parse('{"campaign":{"channel":"social"}}'), null).context).toEqual({ campaign: { channel: 'social' } })
  })

  it('stores a touch with only the fields that are set, in a fixed order; a channel alone is no touch', () => {
    const touch = extractTouch({ campaign: { channel: 'email', medium: '', source: 'a', term: 7 }, page: { url: 'https://s.io/', referrer: 'https://news.io/x' } })
    expect(JSON.stringify(touch)).toBe('{"source":"a","channel":"email","referrer":"https://news.io/x","landingPage":"https://s.io/"}')
    expect(Object.keys(extractTouch({ page: { url: 'https://s.io/?utm_medium=m&utm_source=' } })!)).toEqual(['medium', 'landingPage'])
    expect(extractTouch({ campaign: { channel: 'direct' }, page: { url: 'https://s.io/' } })).toBeNull()
  })

  it('parses user agents and flags bots', () => {
    expect(parseAgent('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1')).toMatchObject({ browser: 'Mobile Safari 17', device: 'mobile', isBot: false })
    expect(parseAgent('Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)').isBot).toBe(true)
    // server libraries send for their users: not browsers, so never flagged from the request's agent
    for (const ua of ['analytics-node-next/latest', 'RudderLabs', 'node-fetch/1.0', 'axios/1.7.2', 'undici', 'curl/8.5.0']) expect(isBrowserAgent(ua), ua).toBe(false)
    expect(isBrowserAgent('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36')).toBe(true)
    expect(isBrowserAgent(null)).toBe(false)
  })
})

describe('rows for the writer thread', () => {
  it('arrive in the database exactly as packed: strings of any kind, numbers, nulls', () => {
    const db = new Database(':memory:')
    db.exec('CREATE TABLE t (id TEXT PRIMARY KEY, a, b, c)')
    const run = jobRunner(db, { insert: 'INSERT INTO t VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING', stats: 'SELECT value FROM json_each(?)', traits: 'SELECT ?', profile: 'SELECT ?, ?', browser: 'SELECT ?, ?, ?, ?' }, () => 'p_1')
    const rows = [
      { id: 'é-1', a: '', b: 1_767_225_600_123, c: null },
      { id: '2', a: '{"x":"a \\"quoted\\" 😀 ☃"}', b: 49.5, c: '12' },
      { id: '3', a: undefined, b: Number.NaN, c: 'tail' },
    ]
    const columns = ['id', 'a', 'b', 'c'] as const
    expect(run({ rows: packRows(rows, columns), stats: '[]', anonymousKeys: [], traits: null })).toEqual({ committed: true })
    expect(db.prepare('SELECT id, a, b, c FROM t ORDER BY rowid').all()).toEqual([
      { id: 'é-1', a: '', b: 1_767_225_600_123, c: null },
      { id: '2', a: '{"x":"a \\"quoted\\" 😀 ☃"}', b: 49.5, c: '12' },
      { id: '3', a: null, b: null, c: 'tail' },
    ])
    // a row already stored rolls the whole job back and is reported
    expect(run({ rows: packRows([{ id: 'new', a: 'x', b: 1, c: 2 }, rows[1]!], columns), stats: '[]', anonymousKeys: [], traits: null })).toEqual({ duplicates: ['2'] })
    expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 3 })
  })
})

describe('the write gate (SQLite: writer-thread jobs and this thread\'s transactions)', () => {
  // A task that has entered the gate and ends when told to.
  const task = (log: string[], name: string) => {
    let end!: () => void
    const ended = new Promise<void>((resolve) => (end = resolve))
    return { end, run: async () => (log.push(`${name} in`), await ended, log.push(`${name} out`), name) }
  }
  const settle = () => new Promise((resolve) => setImmediate(resolve))

  it('lets jobs in together, a transaction alone after them, and no job ahead of a waiting transaction', async () => {
    const gate = new WriteGate()
    const log: string[] = []
    const [a, b, t, c, u] = ['a', 'b', 't', 'c', 'u'].map((n) => task(log, n))
    const done = [gate.job(a!.run), gate.job(b!.run), gate.transaction(t!.run), gate.job(c!.run), gate.transaction(u!.run)]
    await settle()
    expect(log).toEqual(['a in', 'b in'])
    a!.end()
    await settle()
    expect(log).toEqual(['a in', 'b in', 'a out'])
    b!.end()
    await settle()
    expect(log.slice(3)).toEqual(['b out', 't in'])
    t!.end()
    await settle()
    expect(log.slice(5)).toEqual(['t out', 'c in'])
    c!.end()
    await settle()
    expect(log.slice(7)).toEqual(['c out', 'u in'])
    u!.end()
    expect(await Promise.all(done)).toEqual(['a', 'b', 't', 'c', 'u'])
  })

  it('lets the next one in when a task fails', async () => {
    const gate = new WriteGate()
    await expect(gate.transaction(async () => Promise.reject(new Error('refused')))).rejects.toThrow('refused')
    await expect(gate.job(async () => Promise.reject(new Error('thread stopped')))).rejects.toThrow('thread stopped')
    expect(await Promise.all([gate.transaction(async () => 1), gate.job(async () => 2)])).toEqual([1, 2])
  })
})

describe('safeEqual (admin token, write keys)', () => {
  it('is true only for the same secret, whatever the lengths', () => {
    expect(safeEqual('adm_secret', 'adm_secret')).toBe(true)
    expect(safeEqual('adm_secreT', 'adm_secret')).toBe(false)
    expect(safeEqual('adm_secret!', 'adm_secret')).toBe(false)
    expect(safeEqual('', 'adm_secret')).toBe(false)
    expect(safeEqual('ädm', 'adm')).toBe(false)
  })
})

describe('lenient normalisation (docs/contract.md, Lenient normalisation)', () => {
  const req = (userAgent: string | null): RequestInfo => ({ receivedAt: Date.UTC(2026, 5, 1), sentAt: null, source: 'wk', ip: null, userAgent, ipPolicy: 'none' })
  const prepare = (raw: Record<string, unknown>, userAgent: string | null = null) => prepareEvent(validateEvent(raw, 32_000), 'm-1', req(userAgent))

  it('an empty userId or anonymousId is absent: the event keeps its other id', () => {
    const e = validateEvent({ type: 'track', event: 'x', userId: '', anonymousId: 'a-1' }, 32_000)
    expect(e).toMatchObject({ userId: null, anonymousId: 'a-1' })
    expect(validateEvent({ type: 'track', event: 'x', userId: 'u-1', anonymousId: '  ' }, 32_000)).toMatchObject({ userId: 'u-1', anonymousId: null })
    expect(() => validateEvent({ type: 'track', event: 'x', userId: '', anonymousId: '' }, 32_000)).toThrow('anonymousId or userId is required')
    // a placeholder is still refused
    expect(() => validateEvent({ type: 'track', event: 'x', userId: 'null', anonymousId: 'a-1' }, 32_000)).toThrow('placeholder')
  })

  it("an identify's traits found only in context.traits are its traits; its own win", () => {
    const p = prepare({ type: 'identify', userId: 'u-1', traits: { plan: 'pro' }, context: { traits: { email: 'Ada@X.io', plan: 'free' } } })
    expect(Object.fromEntries(p.traits)).toEqual({ email: '"Ada@X.io"', plan: '"pro"' })
    expect(p.row.email).toBe('ada@x.io')
    expect(JSON.parse(p.row.traits!)).toEqual({ email: 'Ada@X.io', plan: 'pro' })
    // not for other types: a track's context.traits stay context
    expect(prepare({ type: 'track', event: 'x', userId: 'u-1', context: { traits: { plan: 'pro' } } }).row.traits).toBeNull()
  })

  it('a numeric context.sessionId is a session id, as text', () => {
    expect(prepare({ type: 'track', event: 'x', anonymousId: 'a', context: { sessionId: 1767225600000 } }).row.session_id).toBe('1767225600000')
    expect(sessionIdOf('s-1')).toBe('s-1')
    for (const v of [Number.NaN, '', null, {}, true]) expect(sessionIdOf(v), String(v)).toBeNull()
  })

  it('an explicit timestamp wins over originalTimestamp; the client value is kept as the original', () => {
    const backfill = '2026-01-15T09:00:00.000Z'
    const p = prepare({ type: 'track', event: 'x', anonymousId: 'a', timestamp: backfill, originalTimestamp: '2026-06-01T00:00:00.000Z' })
    expect(p.row.timestamp).toBe(Date.parse(backfill))
    expect(p.row.original_timestamp).toBe(Date.parse(backfill))
    expect(prepare({ type: 'track', event: 'x', anonymousId: 'a', originalTimestamp: backfill }).row.timestamp).toBe(Date.parse(backfill))
    expect(() => validateEvent({ type: 'track', event: 'x', anonymousId: 'a', timestamp: 'soon', originalTimestamp: backfill }, 32_000)).toThrow('timestamp "soon"')
  })

  it("bots are flagged from browser agents only: context.userAgent first, a server library's request agent never", () => {
    const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'
    const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
    const e = { type: 'page', anonymousId: 'a' }
    for (const ua of ['analytics-node-next/latest', 'RudderLabs', 'node-fetch', 'axios/1.7.2', 'undici', 'python-requests/2.32']) expect(prepare(e, ua).row.is_bot, ua).toBe(0)
    expect(prepare(e, GOOGLEBOT).row.is_bot).toBe(1)
    expect(prepare({ ...e, context: { userAgent: GOOGLEBOT } }, 'RudderLabs').row.is_bot).toBe(1)
    expect(prepare({ ...e, context: { userAgent: CHROME } }, GOOGLEBOT).row).toMatchObject({ is_bot: 0, browser: 'Chrome 131' })
  })

  it("a page's touch comes from its properties' URL when its context has none; a track's properties are not a location", () => {
    const url = 'https://s.io/?utm_source=news&utm_medium=email'
    expect(prepare({ type: 'page', userId: 'u', properties: { url } }).touch).toEqual({ source: 'news', medium: 'email', landingPage: url })
    expect(prepare({ type: 'track', event: 'Link Clicked', userId: 'u', properties: { url } }).touch).toBeNull()
  })

  it('logs a refusal without the value it quotes', () => {
    expect(refusalReason('userId "ada@x.io" is a placeholder, not an identifier')).toBe('userId "…" is a placeholder, not an identifier')
    expect(refusalReason('timestamp "a"b"c" is not an ISO-8601 date')).toBe('timestamp "…" is not an ISO-8601 date')
    expect(refusalReason('the database refused this event: value "203.0.113.7" too long')).toBe('the database refused this event')
    expect(refusalReason('event must be a JSON object')).toBe('event must be a JSON object')
  })
})
