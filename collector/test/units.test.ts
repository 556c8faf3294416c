// Pure functions at the edges: configuration, validation, normalization, rate limiting.
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { ConfigError, DEMO_WRITE_KEY, loadConfig } from '../src/config.js'
import { isPlaceholderId, normalizeEmail } from '@waymark/contract'
import { eventIdentityKey } from '../src/identity/identifiers.js'
import { applyIpPolicy, correctTimestamp, extractTouch, parseAgent, truncateIp, withChannels } from '../src/ingest/normalize.js'
import { safeEqual } from '../src/routes/http.js'
import { jobRunner, packRows } from '../src/ingest/sqlite-writer.js'
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
    for (const id of ['anonymous', 'NULL', 'undefined', '0', '[object Object]', '', '  ']) expect(isPlaceholderId(id), id).toBe(true)
    for (const id of ['01J9Z', 'user-1', 'ada@example.com']) expect(isPlaceholderId(id), id).toBe(false)
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
  })
})

describe('rows for the writer thread', () => {
  it('arrive in the database exactly as packed: strings of any kind, numbers, nulls', () => {
    const db = new Database(':memory:')
    db.exec('CREATE TABLE t (id TEXT PRIMARY KEY, a, b, c)')
    const run = jobRunner(db, { insert: 'INSERT INTO t VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING', stats: 'SELECT value FROM json_each(?)', traits: 'SELECT ?' })
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

describe('safeEqual (admin token, write keys)', () => {
  it('is true only for the same secret, whatever the lengths', () => {
    expect(safeEqual('adm_secret', 'adm_secret')).toBe(true)
    expect(safeEqual('adm_secreT', 'adm_secret')).toBe(false)
    expect(safeEqual('adm_secret!', 'adm_secret')).toBe(false)
    expect(safeEqual('', 'adm_secret')).toBe(false)
    expect(safeEqual('ädm', 'adm')).toBe(false)
  })
})
