// The pure pieces: identity rules, wire encoding, retry policy, ULID randomness.
import { describe, expect, it, vi } from 'vitest'
import { backoff, verdict } from '../../src/core/delivery'
import { encodeBatches, MAX_BEACON_BYTES, stamp, draft } from '../../src/core/events'
import { conflicts, identifyWith, normalizeEmail, normalizeUserId } from '../../src/core/identity'
import { decodeTime, encodeTime, isValid } from 'ulid'
import { ulidFactory } from '../../src/core/ulid'
import type { WireEvent } from '../../src/types'

describe('identity rules', () => {
  it('normalizes emails and refuses what is not one', () => {
    expect(normalizeEmail('  Ada@Example.COM ')).toBe('ada@example.com')
    expect(normalizeEmail('ada@localhost')).toBe('ada@localhost') // as the collector links it
    expect(normalizeEmail('no at sign')).toBeNull()
    expect(normalizeEmail('a@b@c')).toBeNull()
    expect(normalizeEmail(`${'a'.repeat(250)}@b.co`)).toBeNull()
    expect(normalizeEmail(42)).toBeNull()
  })

  it('refuses placeholder user ids', () => {
    for (const bad of ['', ' ', 'null', 'undefined', 'anonymous', '0', '[object Object]', 'NULL', 'unknown', 'true', 'id', 'email', 'x'.repeat(257)]) {
      expect(normalizeUserId(bad)).toBeNull()
    }
    expect(normalizeUserId(' u-1 ')).toBe('u-1')
    expect(normalizeUserId(1234)).toBe('1234')
  })

  it('only a different identifier of the same kind is a conflict', () => {
    const ada = { anonymousId: 'A', email: 'ada@example.com' }
    expect(conflicts(ada, { email: 'bob@example.com' })).toBe(true)
    expect(conflicts(ada, { email: 'ada@example.com' })).toBe(false)
    expect(conflicts(ada, { userId: 'u-1' })).toBe(false)
    expect(conflicts({ anonymousId: 'A', userId: 'u-1' }, { userId: 'u-2' })).toBe(true)
    expect(conflicts({ anonymousId: 'A' }, { email: 'x@example.com', userId: 'u' })).toBe(false)
  })

  it('identifyWith links, adds, or starts over', () => {
    expect(identifyWith({ anonymousId: 'A' }, { email: 'ada@example.com' }, 'B')).toEqual({
      anonymousId: 'A',
      email: 'ada@example.com',
      userId: undefined,
    })
    expect(identifyWith({ anonymousId: 'A', email: 'ada@example.com' }, { userId: 'u-1' }, 'B')).toEqual({
      anonymousId: 'A',
      email: 'ada@example.com',
      userId: 'u-1',
    })
    expect(identifyWith({ anonymousId: 'A', email: 'ada@example.com', userId: 'u-1' }, { email: 'bob@example.com' }, 'B')).toEqual({
      anonymousId: 'B',
      email: 'bob@example.com',
      userId: undefined,
    })
  })
})

describe('wire encoding', () => {
  const event = (i: number, size = 10): WireEvent =>
    stamp(draft({ type: 'track', event: 'E', properties: { i, pad: 'x'.repeat(size) } }, `ID${i}`, 0, { library: { name: 'waymark', version: '1' } }), { anonymousId: 'A' })

  it('produces parseable Segment batches within the byte limit, in order', () => {
    const events = Array.from({ length: 30 }, (_, i) => event(i, 3000))
    const { batches, oversized } = encodeBatches(events, 'wk"key', '2026-11-22T10:00:00.000Z', MAX_BEACON_BYTES)
    expect(oversized).toEqual([])
    expect(batches.length).toBeGreaterThan(1)
    for (const batch of batches) {
      expect(batch.body.length).toBeLessThanOrEqual(MAX_BEACON_BYTES)
      const body = JSON.parse(batch.body)
      expect(body).toMatchObject({ writeKey: 'wk"key', sentAt: '2026-11-22T10:00:00.000Z' })
      expect(body.batch).toEqual(batch.events)
    }
    expect(batches.flatMap((b) => b.events.map((e) => e.properties!.i))).toEqual([...Array(30).keys()])
  })

  it('counts the bytes a request really carries (UTF-8): non-Latin text stays within the keepalive quota', () => {
    const utf8 = (text: string) => new TextEncoder().encode(text).length
    const titled = (i: number, text: string) => ({ ...event(i), properties: { title: text } })
    // 3 bytes a character in UTF-8, 1 unit in a JS string: 20 events of 3,000 characters
    const events = Array.from({ length: 20 }, (_, i) => titled(i, '日本語のページ'.repeat(430)))
    const { batches } = encodeBatches(events, 'k', 'now', MAX_BEACON_BYTES)
    for (const batch of batches) expect(utf8(batch.body)).toBeLessThanOrEqual(MAX_BEACON_BYTES)
    expect(batches.flatMap((b) => b.events)).toHaveLength(20)
    // and the 32 KB event limit is the collector's, in bytes too
    const { oversized } = encodeBatches([titled(1, 'é'.repeat(20_000))], 'k', 'now', 500_000)
    expect(oversized).toHaveLength(1)
  })

  it('sets aside events over 32 KB', () => {
    const { batches, oversized } = encodeBatches([event(1), event(2, 40_000), event(3)], 'k', 'now', 500_000)
    expect(oversized.map((e) => e.messageId)).toEqual(['ID2'])
    expect(batches[0].events.map((e) => e.messageId)).toEqual(['ID1', 'ID3'])
  })
})

describe('retry policy', () => {
  it('maps statuses to what happens to the batch', () => {
    expect([200, 204, 401, 403, 404, 408, 429, 500, 503, 400, 413, 422].map(verdict)).toEqual([
      'delivered', 'delivered', 'halt', 'halt', 'halt', 'retry', 'retry', 'retry', 'retry', 'split', 'split', 'split',
    ])
  })

  it('grows exponentially with jitter, caps at a minute, and honours Retry-After', () => {
    expect(backoff(1, null, 0, 0)).toBe(500)
    expect(backoff(1, null, 0, 1)).toBe(1000)
    expect(backoff(4, null, 0, 1)).toBe(8000)
    expect(backoff(20, null, 0, 1)).toBe(60_000)
    expect(backoff(1, '120', 0, 1)).toBe(120_000)
    const now = Date.parse('2026-11-22T10:00:00Z')
    expect(backoff(1, 'Sun, 22 Nov 2026 10:00:30 GMT', now, 1)).toBe(30_000)
    expect(backoff(1, 'garbage', now, 1)).toBe(1000)
  })
})

describe('ulidFactory (messageIds, anonymous ids)', () => {
  it('makes valid ULIDs of the given time, drawing 256 CSPRNG bytes per 16 milliseconds', () => {
    const fill = vi.spyOn(crypto, 'getRandomValues')
    const newId = ulidFactory()
    const ids = [1000, 1000, 1000, 1001].map((time) => newId(time))
    expect(fill).toHaveBeenCalledTimes(1)
    expect(ids.every(isValid)).toBe(true)
    expect(ids.map(decodeTime)).toEqual([1000, 1000, 1000, 1001])
    expect(new Set(ids).size).toBe(4)
    for (let time = 1002; time < 1016; time++) newId(time) // 16 milliseconds: the pool is used up
    expect(fill).toHaveBeenCalledTimes(1)
    newId(1016)
    expect(fill).toHaveBeenCalledTimes(2)
    fill.mockRestore()
  })

  it('grows in call order within a millisecond, across a carry and when the clock steps back', () => {
    // every random digit 31 but the last two: the second id carries into the digit before them
    const newId = ulidFactory((bytes) => bytes.fill(255).set([30, 31], 14)) // the first 16 bytes are the first id's
    const ids = [newId(5000), newId(5000), newId(5000), newId(4000)]
    expect([...ids].sort()).toEqual(ids)
    expect(ids[0].slice(10)).toBe('ZZZZZZZZZZZZZZYZ')
    expect(ids[1].slice(10)).toBe('ZZZZZZZZZZZZZZZ0')
    expect(decodeTime(ids[3])).toBe(5000) // never behind the ids already made
  })

  it('encodes the time as the ulid package does, up to the largest 48-bit time', () => {
    const times = [0, 1, 31, 32, 1_700_000_000_000, Date.parse('2026-12-06T00:00:00Z'), 2 ** 48 - 1]
    for (const time of times) expect(ulidFactory()(time).slice(0, 10)).toBe(encodeTime(time, 10))
  })

  it('draws different random parts in different milliseconds', () => {
    const newId = ulidFactory()
    const randoms = Array.from({ length: 200 }, (_, i) => newId(i + 1).slice(10))
    expect(new Set(randoms).size).toBe(200)
    expect(new Set(randoms.join('')).size).toBe(32) // every Crockford digit shows up
  })
})
