// The pure part of webhooks: checks, matching, the body, and the retry policy, with the clock
// and randomness handed in.
import { Webhook } from 'standardwebhooks'
import { describe, expect, it } from 'vitest'
import type { PersonChange, PersonState } from '../src/journey/hooks.js'
import {
  backoffMs,
  checkSecret,
  checkTargetUrl,
  checkTriggers,
  decide,
  DEFAULT_RETRY,
  inCauseOrder,
  isPrivateAddress,
  itemOfChange,
  parseRetryAfter,
  payloadOf,
  secretOf,
  wants,
  type Item,
  type Outcome,
} from '../src/webhooks/model.js'
import { checkConfigWebhooks } from '../src/webhooks/subscriptions.js'
import { signedHeaders } from '../src/webhooks/transport.js'

const known = { stages: ['anonymous', 'known', 'customer'], segments: ['all', 'hot-leads'] }
const person: PersonState = {
  profileId: 'p_1',
  email: 'ada@example.com',
  userId: null,
  identifiedAt: Date.UTC(2026, 0, 2),
  stage: 'known',
  score: 12,
  segments: ['all'],
  channel: 'email',
  source: 'newsletter',
  firstSeen: Date.UTC(2026, 0, 1),
  lastSeen: Date.UTC(2026, 0, 2),
}
const cause = (id: number, at = Date.UTC(2026, 0, 2)) => ({ id, messageId: `m${id}`, event: null, type: 'identify', at, receivedAt: at + 5 })
const change = (kind: PersonChange['kind'], extra: Partial<PersonChange> = {}): PersonChange => ({ kind, person, cause: cause(10), origin: 'event', ...extra })
const sub = { id: 'wh_1', triggers: { 'stage.entered': ['known'], 'person.identified': true as const, event: ['Order Completed'] }, fromEvent: 5, createdAt: Date.UTC(2026, 0, 1) }

describe('checking subscriptions', () => {
  it('triggers name known stages and segments; event names are free text; nothing else passes', () => {
    expect(checkTriggers({ 'stage.entered': ['known', 'known'], 'segment.left': ['hot-leads'], event: ['Order Completed'] }, known)).toEqual({
      'stage.entered': ['known'],
      'segment.left': ['hot-leads'],
      event: ['Order Completed'],
    })
    expect(() => checkTriggers({ 'stage.entered': ['lead'] }, known)).toThrow(/triggers.stage.entered: unknown stage "lead"; known are anonymous, known, customer/)
    expect(() => checkTriggers({ 'segment.entered': ['cold'] }, known)).toThrow(/unknown segment "cold"/)
    expect(() => checkTriggers({ 'stage.left': ['known'] }, known)).toThrow(/unknown trigger/)
    expect(() => checkTriggers({ event: 'Order Completed' }, known)).toThrow(/must list 1–50 names/)
    expect(() => checkTriggers({ event: Array(51).fill('x') }, known)).toThrow(/1–50/)
    expect(() => checkTriggers({ 'person.identified': 'yes' }, known)).toThrow(/true or false/)
    expect(() => checkTriggers({ 'person.identified': false }, known)).toThrow(/at least one trigger/)
    expect(() => checkTriggers([], known)).toThrow(/must be an object/)
  })

  it('targets are http(s) URLs without a fragment', () => {
    expect(checkTargetUrl('https://Hooks.Example.com/a?b=1').href).toBe('https://hooks.example.com/a?b=1')
    expect(() => checkTargetUrl('ftp://x.example/')).toThrow(/http:\/\/ or https:\/\//)
    expect(() => checkTargetUrl('javascript:alert(1)')).toThrow(/http:\/\/ or https:\/\//)
    expect(() => checkTargetUrl('https://x.example/#frag')).toThrow(/fragment/)
    expect(() => checkTargetUrl('nope')).toThrow(/not a URL/)
    expect(() => checkTargetUrl(`https://x.example/${'a'.repeat(2000)}`)).toThrow(/1–2000/)
  })

  it('secrets are whsec_ and base64 of 24–64 bytes; generated ones are what standardwebhooks reads', () => {
    const s = secretOf(new Uint8Array(32).fill(3))
    expect(checkSecret(s)).toBe(s)
    expect(() => new Webhook(s)).not.toThrow()
    expect(() => checkSecret('whsec_short')).toThrow(/whsec_/)
    expect(() => checkSecret(`whsec_${Buffer.alloc(100).toString('base64')}`)).toThrow(/24–64 bytes/)
    expect(() => checkSecret(Buffer.alloc(32).toString('base64'))).toThrow(/whsec_/)
  })

  it('loopback, private, link-local and reserved addresses are private; public ones are not', () => {
    for (const a of ['127.0.0.1', '127.9.9.9', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fe80::1%eth0', 'fd12:3456::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a00:1', 'not-an-ip']) {
      expect(isPrivateAddress(a), a).toBe(true)
    }
    for (const a of ['8.8.8.8', '172.32.0.1', '192.169.0.1', '203.0.113.10', '2606:4700::1111', '::ffff:8.8.8.8']) expect(isPrivateAddress(a), a).toBe(false)
  })

  it('the config file list: ids, one secret source, triggers against the config', () => {
    const secret = secretOf(new Uint8Array(24).fill(1))
    const list = checkConfigWebhooks(
      [
        { id: 'crm', url: 'https://crm.example.com/h', secret, triggers: { 'stage.entered': ['customer'] } },
        { id: 'n8n', url: 'https://n8n.example.com/h', secretEnv: 'N8N_SECRET', triggers: { 'person.identified': true } },
      ],
      known,
      { N8N_SECRET: ` ${secret} ` },
    )
    expect(list.map((w) => [w.id, w.url, w.secret])).toEqual([
      ['crm', 'https://crm.example.com/h', secret],
      ['n8n', 'https://n8n.example.com/h', secret],
    ])
    expect(checkConfigWebhooks(undefined, known, {})).toEqual([])
    const one = (w: Record<string, unknown>, env = {}) => () => checkConfigWebhooks([{ id: 'a', url: 'https://a.example/', secret, triggers: { 'person.identified': true }, ...w }], known, env)
    expect(one({ id: 'A B' })).toThrow(/webhooks\[0\].id/)
    expect(one({ secretEnv: 'X' })).toThrow(/needs secret or secretEnv \(one of them\)/)
    expect(one({ secret: undefined, secretEnv: 'MISSING' })).toThrow(/MISSING is not set/)
    expect(one({ url: 'ftp://a/' })).toThrow(/webhooks\[0\].url must be http/)
    expect(one({ triggers: { 'stage.entered': ['vip'] } })).toThrow(/webhooks\[0\].triggers.stage.entered: unknown stage "vip"/)
    expect(one({ header: 1 })).toThrow(/webhooks\[0\].header: unexpected field/)
    expect(() => checkConfigWebhooks([{ id: 'a', url: 'https://a.example/', secret, triggers: { 'person.identified': true } }, { id: 'a', url: 'https://b.example/', secret, triggers: { 'person.identified': true } }], known, {})).toThrow(/duplicate id "a"/)
  })
})

describe('what a subscription is sent', () => {
  it('its triggers, for changes caused by events after it was made, and time passing; never restated history', () => {
    const now = Date.UTC(2026, 0, 3)
    const w = (c: PersonChange) => wants(sub, itemOfChange(c, now), c.origin, now)
    expect(w(change('stage.entered', { stage: 'known' }))).toBe(true)
    expect(w(change('stage.entered', { stage: 'customer' }))).toBe(false)
    expect(w(change('person.identified'))).toBe(true)
    expect(w(change('segment.entered', { segment: 'all' }))).toBe(false)
    // Caused by an event stored before the subscription: history.
    expect(w(change('person.identified', { cause: cause(5) }))).toBe(false)
    expect(w(change('person.identified', { cause: cause(6) }))).toBe(true)
    // Time passing after it was made: news. Definitions changed: history.
    expect(w(change('stage.entered', { stage: 'known', cause: null, origin: 'time' }))).toBe(true)
    expect(w(change('stage.entered', { stage: 'known', cause: null, origin: 'config' }))).toBe(false)
    expect(wants(sub, itemOfChange(change('stage.entered', { stage: 'known', cause: null, origin: 'time' }), sub.createdAt - 1), 'time', sub.createdAt - 1)).toBe(false)
  })

  it('event triggers: track events by exact name', () => {
    const track = (event: string, type = 'track'): Item => ({ type: 'event', name: event, person, cause: { ...cause(9), event, type }, at: 1 })
    expect(wants(sub, track('Order Completed'))).toBe(true)
    expect(wants(sub, track('order completed'))).toBe(false)
    expect(wants(sub, track('Order Completed', 'page'))).toBe(false)
  })

  it('one person\'s items go out in the order their causes happened; one cause\'s changes keep theirs', () => {
    const item = (name: string, at: number): Item => ({ type: 'stage.entered', name, person, cause: null, at })
    expect(inCauseOrder([item('c', 30), item('a', 10), item('b1', 20), item('b2', 20)]).map((i) => i.name)).toEqual(['a', 'b1', 'b2', 'c'])
  })

  it('the body: the person, the trigger, the cause; signed over id.timestamp.body so standardwebhooks verifies it', () => {
    const body = payloadOf('msg_1', 'wh_1', itemOfChange(change('stage.entered', { stage: 'known' }), 0))
    expect(JSON.parse(body)).toEqual({
      id: 'msg_1',
      type: 'stage.entered',
      timestamp: '2026-01-02T00:00:00.000Z',
      data: {
        webhook: 'wh_1',
        stage: 'known',
        person: {
          profileId: 'p_1',
          email: 'ada@example.com',
          userId: null,
          identifiedAt: '2026-01-02T00:00:00.000Z',
          stage: 'known',
          score: 12,
          segments: ['all'],
          firstTouch: { channel: 'email', source: 'newsletter' },
          firstSeen: '2026-01-01T00:00:00.000Z',
          lastSeen: '2026-01-02T00:00:00.000Z',
        },
        cause: { messageId: 'm10', type: 'identify', event: null, timestamp: '2026-01-02T00:00:00.000Z', receivedAt: '2026-01-02T00:00:00.005Z' },
      },
    })
    const secret = secretOf(new Uint8Array(32).fill(5))
    const now = new Date()
    const headers = signedHeaders(secret, 'msg_1', now, body)
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(now.getTime() / 1000)))
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body))
    expect(() => new Webhook(secret).verify(body.replace('known', 'vip'), headers)).toThrow()
    // Time passing: no cause; the change's time is the step's.
    expect(JSON.parse(payloadOf('msg_2', 'wh_1', itemOfChange(change('segment.left', { segment: 'hot-leads', cause: null, origin: 'time' }), 42)))).toMatchObject({
      type: 'segment.left',
      timestamp: '1970-01-01T00:00:00.042Z',
      data: { segment: 'hot-leads', cause: null },
    })
  })
})

describe('retries', () => {
  const policy = DEFAULT_RETRY
  const now = 1_000_000
  const expires = now + policy.maxAgeMs
  const answer = (status: number, retryAfter: string | null = null): Outcome => ({ kind: 'answer', status, retryAfter, body: '' })

  it('backoff doubles from the base, half fixed and half random, up to the cap', () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(n, () => 0, policy))).toEqual([2_500, 5_000, 10_000, 20_000])
    expect([1, 2, 3, 4].map((n) => backoffMs(n, () => 1, policy))).toEqual([5_000, 10_000, 20_000, 40_000])
    expect(backoffMs(30, () => 1, policy)).toBe(policy.maxDelayMs)
    expect(backoffMs(1000, () => 0.5, policy)).toBe(policy.maxDelayMs * 0.75)
  })

  it('Retry-After: seconds or an HTTP date; anything else is ignored', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000)
    expect(parseRetryAfter(' 0 ', now)).toBe(0)
    expect(parseRetryAfter(new Date(now + 30_000).toUTCString(), now)).toBe(30_000)
    expect(parseRetryAfter(new Date(now - 30_000).toUTCString(), now)).toBe(0)
    for (const v of [null, '', 'soon', '-5', '1.5', '9'.repeat(100)]) expect(parseRetryAfter(v, now), String(v)).toBeNull()
  })

  it('2xx delivers; network errors, timeouts, 408, 429 and 5xx retry; other 4xx and redirects stop with the reason', () => {
    const d = (o: Outcome, attempts = 1) => decide(o, attempts, now, expires, () => 0, policy)
    expect(d(answer(204))).toEqual({ status: 'delivered' })
    for (const s of [408, 429, 500, 502, 503]) expect(d(answer(s))).toEqual({ status: 'pending', nextAt: now + 2_500, reason: `HTTP ${s}` })
    expect(d({ kind: 'error', error: 'network error: ECONNREFUSED', retryable: true }, 3)).toEqual({ status: 'pending', nextAt: now + 10_000, reason: 'network error: ECONNREFUSED' })
    expect(d({ kind: 'error', error: 'timeout: no answer within 10 s', retryable: true })).toMatchObject({ status: 'pending' })
    for (const s of [400, 401, 403, 404, 410, 422]) expect(d(answer(s))).toEqual({ status: 'failed', reason: `HTTP ${s}` })
    expect(d(answer(301))).toEqual({ status: 'failed', reason: 'HTTP 301: redirects are not followed' })
    expect(d({ kind: 'error', error: 'refused: 10.0.0.1 is private', retryable: false })).toEqual({ status: 'failed', reason: 'refused: 10.0.0.1 is private' })
  })

  it('Retry-After sets the wait (never a busy loop); past 24 h the delivery is given up', () => {
    const d = (o: Outcome, at = now) => decide(o, 1, at, expires, () => 0, policy)
    expect(d(answer(429, '600'))).toMatchObject({ status: 'pending', nextAt: now + 600_000 })
    expect(d(answer(503, '0'))).toMatchObject({ status: 'pending', nextAt: now + 1_000 })
    expect(d(answer(429, String(25 * 3600)))).toEqual({ status: 'failed', reason: 'gave up: retries end 24 h after the delivery was made; last: HTTP 429' })
    expect(d(answer(500), expires - 1_000)).toMatchObject({ status: 'failed', reason: expect.stringMatching(/^gave up: .*last: HTTP 500$/) })
  })
})
