// Pure journey rules: matching, score with decay and caps, stages, segment conditions, config
// checking and its limits, event → signal.
import { describe, expect, it } from 'vitest'
import { checkJourneyConfig, JourneyConfigError } from '../src/journey/config.js'
import { signalOf } from '../src/journey/signal.js'
import { DEFAULT_CONFIG, evaluate, factsOf, glob, holds, matches, matchersOf, scoreOf, stageOf, type Facts, type JourneyConfig, type Signal } from '../src/journey/model.js'

const DAY = 86_400_000
const NOW = Date.UTC(2026, 10, 22, 12)
const sig = (over: Partial<Signal>): Signal => ({
  t: NOW, type: 'track', event: null, path: null, content: null, form: null, url: null,
  channel: null, source: null, sessionId: null, identified: false, ...over,
})
/** A history's facts for every matcher the default config and these tests use. */
const TEST_MATCHERS = matchersOf({
  ...DEFAULT_CONFIG,
  score: { halfLifeDays: null, rules: [...DEFAULT_CONFIG.score.rules, { id: 'f', label: 'F', points: 1, match: { event: 'Form Submitted' } }] },
  segments: [...DEFAULT_CONFIG.segments, { id: 'p', name: 'P', when: { did: { path: '/pricing' } } }],
})
const person = (signals: Signal[], identifiedAt: number | null = null): Facts => factsOf({ id: 'p', identifiedAt, signals }, TEST_MATCHERS)
const scoreFor = (signals: Signal[], score: JourneyConfig['score'], now: number) =>
  scoreOf(factsOf({ id: 'p', identifiedAt: null, signals }, matchersOf({ ...DEFAULT_CONFIG, score })), score, now)
const ctx = { now: NOW, score: 0, stageIndex: 0, stageIds: ['anonymous', 'known'], channel: null, source: null }

describe('matching', () => {
  it('globs are anchored and case-insensitive; regex characters are literal', () => {
    expect(glob('*pricing*').test('/Pricing.html')).toBe(true)
    expect(glob('/pricing').test('/pricing/x')).toBe(false)
    expect(glob('a.b').test('axb')).toBe(false)
  })
  it('every field given must match; a missing value never matches', () => {
    const s = sig({ type: 'page', path: '/pricing' })
    expect(matches({ type: 'page', path: '*pric*' }, s)).toBe(true)
    expect(matches({ type: 'page', content: '*' }, s)).toBe(false)
    expect(matches({ event: ['A', 'B'] }, sig({ event: 'b' }))).toBe(true)
  })
})

describe('matching untrusted text', () => {
  it('runs in linear time: a value built to make a regular expression backtrack returns at once', () => {
    const path = `${'pricing'.repeat(4_600)}\n`
    const started = performance.now()
    for (let i = 0; i < 100; i++) glob('*pricing*x').test(path)
    expect(glob('*a*a*a*a*a*a*a*a*b').test('a'.repeat(30_000))).toBe(false)
    // Generous: the regular expression took seconds for the first loop alone.
    expect(performance.now() - started).toBeLessThan(1_000)
  })
  it('stars match any run, parts in order, anchored at both ends', () => {
    expect(glob('*a*b*').test('xxaxxbxx')).toBe(true)
    expect(glob('*b*a*').test('xxaxxbxx')).toBe(false)
    expect(glob('ab*ab').test('ab')).toBe(false)
    expect(glob('ab*ab').test('abab')).toBe(true)
    expect(glob('*').test('')).toBe(true)
    expect(glob('a**b').test('ab')).toBe(true)
  })
})

describe('lead score', () => {
  const rules = [
    { id: 'page', label: 'Page', points: 1, match: { type: 'page' }, max: 2 },
    { id: 'form', label: 'Form', points: 10, match: { event: 'Form Submitted' } },
  ]
  it('sums points per rule with reasons, caps counted events at max', () => {
    const signals = [sig({ type: 'page' }), sig({ type: 'page' }), sig({ type: 'page' }), sig({ event: 'Form Submitted' })]
    expect(scoreFor(signals, { rules, halfLifeDays: null }, NOW)).toEqual({
      score: 12,
      reasons: [
        { rule: 'form', label: 'Form', count: 1, points: 10 },
        { rule: 'page', label: 'Page', count: 2, points: 2 },
      ],
    })
  })
  it('decays: points halve every half-life', () => {
    const old = [sig({ event: 'Form Submitted', t: NOW - 30 * DAY })]
    expect(scoreFor(old, { rules, halfLifeDays: 30 }, NOW).score).toBe(5)
    expect(scoreFor(old, { rules, halfLifeDays: 15 }, NOW).reasons[0]!.points).toBe(2.5)
  })
  it('the cap keeps the most recent events', () => {
    const signals = [sig({ type: 'page', t: NOW - 60 * DAY }), sig({ type: 'page', t: NOW }), sig({ type: 'page', t: NOW })]
    expect(scoreFor(signals, { rules, halfLifeDays: 30 }, NOW).reasons[0]!.points).toBe(2)
  })
})

describe('conditions and stages', () => {
  it('did: atLeast within a window of days', () => {
    const c = { did: { path: '/pricing' }, atLeast: 2, withinDays: 7 }
    const recent = [sig({ path: '/pricing', t: NOW - DAY }), sig({ path: '/pricing', t: NOW - 2 * DAY })]
    expect(holds(c, person(recent), ctx)).toBe(true)
    expect(holds(c, person([recent[0]!, sig({ path: '/pricing', t: NOW - 8 * DAY })]), ctx)).toBe(false)
  })
  it('all/any/not, identified, score bounds, channel', () => {
    const p = person([], NOW)
    expect(holds({ all: [{ identified: true }, { score: { gte: 10, lte: 20 } }] }, p, { ...ctx, score: 15 })).toBe(true)
    expect(holds({ any: [{ identified: false }, { channel: ['paid *'] }] }, p, { ...ctx, channel: 'paid search' })).toBe(true)
    expect(holds({ not: { identified: true } }, p, ctx)).toBe(false)
    expect(holds({ all: [] }, p, ctx)).toBe(true)
  })
  it('the stage is the last one whose condition holds, even past an unmet one', () => {
    const stages = DEFAULT_CONFIG.stages
    const base = { now: NOW, score: 0, stageIds: stages.map((s) => s.id), channel: null, source: null }
    expect(stageOf(person([]), stages, base)).toBe(0)
    expect(stageOf(person([], NOW), stages, base)).toBe(1)
    expect(stageOf(person([], NOW), stages, { ...base, score: 30 })).toBe(2)
    expect(stageOf(person([sig({ event: 'Order Completed' })], NOW), stages, base)).toBe(3)
    expect(stageOf(person([sig({ event: 'Referral Sent' })], NOW), stages, base)).toBe(4)
  })
  it('evaluate: first-touch channel is that of the earliest event with a campaign', () => {
    const e = evaluate(
      { id: 'p', identifiedAt: null, signals: [sig({ t: NOW - 5, channel: 'email', source: 'nl' }), sig({ t: NOW - 10, channel: 'paid search', source: 'google' }), sig({ t: NOW - 20 })] },
      DEFAULT_CONFIG,
      NOW,
    )
    expect([e.channel, e.source, e.firstSeen, e.lastSeen]).toEqual(['paid search', 'google', NOW - 20, NOW - 5])
    expect(e.segments).toContain('paid-search')
    expect(e.segments).toContain('anonymous')
  })
})

describe('journey config', () => {
  it('defaults when empty; sections replace defaults', () => {
    expect(checkJourneyConfig({}).stages.map((s) => s.id)).toEqual(['anonymous', 'known', 'engaged', 'customer', 'advocate'])
    const c = checkJourneyConfig({
      stages: [{ id: 'visitor', name: 'Visitor' }, { id: 'lead', name: 'Lead', when: { identified: true } }],
      score: { rules: [{ id: 'demo', points: 50, match: { event: 'Demo Requested' } }] },
    })
    expect(c.score).toEqual({ halfLifeDays: null, rules: [{ id: 'demo', label: 'demo', points: 50, match: { event: 'Demo Requested' } }] })
    // Default segments that name dropped stages are left out.
    expect(c.segments.map((s) => s.id)).not.toContain('hot-leads')
    expect(c.segments.map((s) => s.id)).toContain('whitepaper')
  })
  it('names the path of a mistake', () => {
    const bad = (v: unknown) => () => checkJourneyConfig(v)
    expect(bad({ stages: [{ id: 'a', name: 'A' }, { id: 'b', name: 'B', when: { stage: 'a' } }] })).toThrow(/stages\[1\]\.when\.stage: a stage condition cannot refer to stages/)
    expect(bad({ stages: [{ id: 'a', name: 'A', when: { identified: true } }, { id: 'b', name: 'B', when: { identified: true } }] })).toThrow(/first stage/)
    expect(bad({ score: { rules: [{ id: 'x', points: 'ten', match: { event: 'E' } }] } })).toThrow(/score\.rules\[0\]\.points/)
    expect(bad({ segments: [{ id: 'x', name: 'X', when: { did: { evnt: 'E' } } }] })).toThrow(/segments\[0\]\.when\.did\.evnt: unknown field/)
    expect(bad({ segments: [{ id: 'x', name: 'X', when: {} }, { id: 'x', name: 'Y', when: {} }] })).toThrow(JourneyConfigError)
    expect(bad({ segmentz: [] })).toThrow(/unexpected field/)
  })
  it('limits wildcards, conditions and depth', () => {
    const seg = (when: unknown) => () => checkJourneyConfig({ segments: [{ id: 'x', name: 'X', when }] })
    expect(seg({ did: { path: '*a*a*a*a*a*a*a*a*a*a*b' } })).toThrow(/at most 8 wildcards/)
    expect(seg({ any: Array.from({ length: 70 }, () => ({ identified: true })) })).toThrow(/at most 64 conditions/)
    let deep: unknown = { identified: true }
    for (let i = 0; i < 10; i++) deep = { not: deep }
    expect(seg(deep)).toThrow(/nested more than 8 deep/)
    expect(seg({ did: { path: '*a*b*' } })).not.toThrow()
  })
})

describe('signalOf', () => {
  it('page path from properties, else the page context; content/form/url by event', () => {
    const row = { type: 'page', event: null, timestamp: NOW, session_id: 's1', user_id: null, email: null }
    expect(signalOf({ ...row, properties: '{"path":"/a"}', context: '{"page":{"path":"/b"},"campaign":{"channel":"email","source":"nl"}}' })).toMatchObject({
      path: '/a', channel: 'email', source: 'nl', sessionId: 's1', identified: false,
    })
    expect(signalOf({ ...row, properties: null, context: { page: { url: 'https://x.example/c?q=1' } } }).path).toBe('/c')
    const track = { ...row, type: 'track', context: '{"page":{"path":"/p"}}' }
    expect(signalOf({ ...track, event: 'Content Clicked', properties: '{"name":"Hero"}' })).toMatchObject({ content: 'Hero', path: '/p', form: null })
    expect(signalOf({ ...track, event: 'Form Submitted', properties: '{"id":"f1"}' }).form).toBe('f1')
    expect(signalOf({ ...track, event: 'File Downloaded', properties: '{"url":"/w.pdf"}', email: 'a@b.c' })).toMatchObject({ url: '/w.pdf', identified: true })
  })
})

describe('WAYMARK_JOURNEY_CONFIG', () => {
  it('is read and checked at start; a mistake is a configuration error', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const { loadConfig, ConfigError } = await import('../src/config.js')
    const dir = mkdtempSync(join(tmpdir(), 'waymark-journey-'))
    const good = join(dir, 'journey.json')
    writeFileSync(good, JSON.stringify({ score: { halfLifeDays: 7, rules: [{ id: 'x', points: 3, match: { type: 'page' } }] } }))
    expect(loadConfig([], { WAYMARK_JOURNEY_CONFIG: good }).journey.score.halfLifeDays).toBe(7)
    const bad = join(dir, 'bad.json')
    writeFileSync(bad, '{"stages": [}')
    expect(() => loadConfig([], { WAYMARK_JOURNEY_CONFIG: bad })).toThrow(ConfigError)
    expect(() => loadConfig([], { WAYMARK_JOURNEY_CONFIG: join(dir, 'missing.json') })).toThrow(/cannot read journey config/)
  })
})
