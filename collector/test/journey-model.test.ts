// Pure journey rules (issue 5): matching, score with decay and caps, stages, segment conditions,
// config checking, event → signal.
import { describe, expect, it } from 'vitest'
import { checkJourneyConfig, JourneyConfigError } from '../src/journey/config.js'
import { signalOf } from '../src/journey/index.js'
import { DEFAULT_CONFIG, evaluate, glob, holds, matches, scoreOf, stageOf, type Person, type Signal } from '../src/journey/model.js'

const DAY = 86_400_000
const NOW = Date.UTC(2026, 10, 22, 12)
const sig = (over: Partial<Signal>): Signal => ({
  t: NOW, type: 'track', event: null, path: null, content: null, form: null, url: null,
  channel: null, source: null, sessionId: null, identified: false, ...over,
})
const person = (signals: Signal[], identifiedAt: number | null = null): Person => ({ id: 'p', identifiedAt, signals })
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

describe('lead score', () => {
  const rules = [
    { id: 'page', label: 'Page', points: 1, match: { type: 'page' }, max: 2 },
    { id: 'form', label: 'Form', points: 10, match: { event: 'Form Submitted' } },
  ]
  it('sums points per rule with reasons, caps counted events at max', () => {
    const signals = [sig({ type: 'page' }), sig({ type: 'page' }), sig({ type: 'page' }), sig({ event: 'Form Submitted' })]
    expect(scoreOf(signals, { rules, halfLifeDays: null }, NOW)).toEqual({
      score: 12,
      reasons: [
        { rule: 'form', label: 'Form', count: 1, points: 10 },
        { rule: 'page', label: 'Page', count: 2, points: 2 },
      ],
    })
  })
  it('decays: points halve every half-life', () => {
    const old = [sig({ event: 'Form Submitted', t: NOW - 30 * DAY })]
    expect(scoreOf(old, { rules, halfLifeDays: 30 }, NOW).score).toBe(5)
    expect(scoreOf(old, { rules, halfLifeDays: 15 }, NOW).reasons[0]!.points).toBe(2.5)
  })
  it('the cap keeps the most recent events', () => {
    const signals = [sig({ type: 'page', t: NOW - 60 * DAY }), sig({ type: 'page', t: NOW }), sig({ type: 'page', t: NOW })]
    expect(scoreOf(signals, { rules, halfLifeDays: 30 }, NOW).reasons[0]!.points).toBe(2)
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
      person([sig({ t: NOW - 5, channel: 'email', source: 'nl' }), sig({ t: NOW - 10, channel: 'paid search', source: 'google' }), sig({ t: NOW - 20 })]),
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
