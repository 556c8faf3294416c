// The journey model: stages, lead score and segments as data, and the pure functions that
// evaluate them. A person is evaluated from Facts (hits per rule and day, first touch, items
// reached), which the worker keeps in the database per identifier; `evaluate` folds a whole
// history of Signals into the same Facts, the oracle the database path is tested against.
// No I/O here: ./config.ts loads and checks the JSON the marketer edits.
import { AUTOTRACK_EVENTS, CONTENT_CLICKED, isBeforeIdentification, type ScoreReason } from '@waymark/contract'

/** One event reduced to what rules can look at. */
export interface Signal {
  /** Corrected event time, epoch ms. */
  t: number
  type: string
  /** Track event name (`Form Submitted`, `Order Completed`…); null for page/identify. */
  event: string | null
  /** Page path the event happened on. */
  path: string | null
  /** `properties.name` of Content Impression / Content Clicked. */
  content: string | null
  /** `properties.name`, else `properties.id`, of Form Submitted. */
  form: string | null
  /** `properties.url` of link events (File Downloaded, Outbound Link Clicked…). */
  url: string | null
  /** `context.campaign.channel` (last touch at the time of the event). */
  channel: string | null
  /** `context.campaign.source`. */
  source: string | null
  sessionId: string | null
  /** The event carried a userId or email (rule 7 tie-break at the identification instant). */
  identified: boolean
}

/** What a rule matches in an event; every field given must match. Strings are case-insensitive globs (`*`). */
export interface Matcher {
  type?: string | string[]
  event?: string | string[]
  path?: string | string[]
  content?: string | string[]
  form?: string | string[]
  url?: string | string[]
}

export type Condition =
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition }
  | { identified: boolean }
  /** Current stage id(s). Not allowed inside stage definitions (a stage cannot depend on stages). */
  | { stage: string | string[] }
  | { stageAtLeast: string }
  | { score: { gte?: number; lte?: number } }
  /** At least `atLeast` (default 1) matching events, within the last `withinDays` if given. */
  | { did: Matcher; atLeast?: number; withinDays?: number }
  /** First-touch channel (`paid search`, `email`, `direct`…). */
  | { channel: string | string[] }
  | { source: string | string[] }

export interface StageDef {
  id: string
  name: string
  /** Omitted on the first stage (everyone starts there). */
  when?: Condition
}

export interface ScoreRule {
  id: string
  label: string
  points: number
  match: Matcher
  /** Count at most this many matching events (so 500 page views do not make a lead). */
  max?: number
}

export interface SegmentDef {
  id: string
  name: string
  description?: string
  when: Condition
  /** Where the definition lives: the config file/built-in, or created through the API. */
  origin?: 'config' | 'api'
}

export interface JourneyConfig {
  stages: StageDef[]
  score: {
    rules: ScoreRule[]
    /** Points of an event halve every `halfLifeDays` days; null = no decay. */
    halfLifeDays: number | null
  }
  segments: SegmentDef[]
}

/** The person as rules see it. */
export interface Person {
  id: string
  identifiedAt: number | null
  signals: Signal[]
}


export interface Evaluation {
  stage: string
  stageIndex: number
  score: number
  reasons: ScoreReason[]
  segments: string[]
  /** First-touch channel/source: those of the person's earliest event that carries a campaign. */
  channel: string | null
  source: string | null
  firstSeen: number | null
  lastSeen: number | null
}

export const DAY = 86_400_000
/** UTC day number of an epoch-ms time: the granularity of score decay and "within N days". */
export const dayOf = (t: number): number => Math.floor(t / DAY)

/** Rules look at the first this-many characters of a value (a path, a content name…). */
export const VALUE_CAP = 512

/**
 * A case-insensitive glob where `*` is any run of characters, matched in linear time: the parts
 * between stars are found left to right with indexOf (greedy leftmost is exact for star-only
 * globs), so no pattern or value can make it backtrack. Values come from anyone holding the
 * public write key; a regular expression `^.*a.*a.*…$` on a long value took seconds.
 */
export interface Glob {
  test(value: string): boolean
}

const globCache = new Map<string, Glob>()
export function glob(pattern: string): Glob {
  let g = globCache.get(pattern)
  if (g) return g
  const parts = pattern.toLowerCase().split('*')
  const head = parts[0]!
  const tail = parts.length > 1 ? parts[parts.length - 1]! : ''
  const middle = parts.slice(1, -1).filter((p) => p.length > 0)
  g = {
    test(value: string): boolean {
      const v = value.length > VALUE_CAP ? value.slice(0, VALUE_CAP).toLowerCase() : value.toLowerCase()
      if (parts.length === 1) return v === head
      if (v.length < head.length + tail.length || !v.startsWith(head) || !v.endsWith(tail)) return false
      let at = head.length
      const end = v.length - tail.length
      for (const part of middle) {
        const found = v.indexOf(part, at)
        if (found < 0 || found + part.length > end) return false
        at = found + part.length
      }
      return true
    },
  }
  if (globCache.size < 10_000) globCache.set(pattern, g)
  return g
}

function fieldMatches(pattern: string | string[] | undefined, value: string | null): boolean {
  if (pattern === undefined) return true
  if (value === null) return false
  return Array.isArray(pattern) ? pattern.some((p) => glob(p).test(value)) : glob(pattern).test(value)
}

export function matches(m: Matcher, s: Signal): boolean {
  return (
    fieldMatches(m.type, s.type) &&
    fieldMatches(m.event, s.event) &&
    fieldMatches(m.path, s.path) &&
    fieldMatches(m.content, s.content) &&
    fieldMatches(m.form, s.form) &&
    fieldMatches(m.url, s.url)
  )
}

const MATCHER_FIELDS = ['type', 'event', 'path', 'content', 'form', 'url'] as const

/** One string per distinct matcher, whatever the order of its fields: the name its facts are kept under. */
export function matcherKey(m: Matcher): string {
  return JSON.stringify(MATCHER_FIELDS.filter((f) => m[f] !== undefined).map((f) => [f, m[f]]))
}

function conditionMatchers(c: Condition, out: Matcher[]): void {
  if ('all' in c) for (const x of c.all) conditionMatchers(x, out)
  else if ('any' in c) for (const x of c.any) conditionMatchers(x, out)
  else if ('not' in c) conditionMatchers(c.not, out)
  else if ('did' in c) out.push(c.did)
}

/** Every distinct matcher the config's rules, stages and segments use, by key. */
export function matchersOf(config: JourneyConfig): Map<string, Matcher> {
  const all: Matcher[] = config.score.rules.map((r) => r.match)
  for (const s of config.stages) if (s.when) conditionMatchers(s.when, all)
  for (const s of config.segments) conditionMatchers(s.when, all)
  return new Map(all.map((m) => [matcherKey(m), m]))
}

// ---------------------------------------------------------------------------------------------
// Facts: what rules need of a person, small enough to keep in the database per identifier and
// add up across a person's identifiers. Evaluation reads only facts, never events.

/** A content piece, page or call to action a person reached: when first, and how often. */
export interface ItemFact {
  at: number
  /** The first occurrence carried a userId or email (the tie-break at the identifying instant). */
  identified: boolean
  n: number
}

export type ItemKind = 'content' | 'page' | 'cta:content' | 'cta:track'

export interface Facts {
  identifiedAt: number | null
  /** Per matcher key: matching events per UTC day. */
  hits: Map<string, Map<number, number>>
  /** First touch: the channel and source of the earliest event that carries a channel. */
  channel: string | null
  source: string | null
  channelAt: number | null
  firstSeen: number | null
  lastSeen: number | null
  /** Per `kind\0label`. */
  items: Map<string, ItemFact>
}

export const emptyFacts = (identifiedAt: number | null): Facts => ({
  identifiedAt,
  hits: new Map(),
  channel: null,
  source: null,
  channelAt: null,
  firstSeen: null,
  lastSeen: null,
  items: new Map(),
})

/** Autotrack events that are not calls to action (the CTA table has content clicks and custom tracks). */
export const NOT_CTA: ReadonlySet<string> = new Set(AUTOTRACK_EVENTS)

/** The items one event counts toward. */
export function itemsOfSignal(s: Signal): Array<[ItemKind, string]> {
  const out: Array<[ItemKind, string]> = []
  if (s.content !== null) out.push(['content', s.content])
  if (s.type === 'page' && s.path !== null) out.push(['page', s.path])
  if (s.event === CONTENT_CLICKED && s.content !== null) out.push(['cta:content', s.content])
  else if (s.type === 'track' && s.event !== null && !NOT_CTA.has(s.event)) out.push(['cta:track', s.event])
  return out
}

/** Earlier first; at the same millisecond the occurrence without identity first (it counts as before). */
export const itemEarlier = (a: { at: number; identified: boolean }, b: { at: number; identified: boolean }): boolean =>
  a.at < b.at || (a.at === b.at && !a.identified && b.identified)

/** Earlier touch first; at the same millisecond the smaller channel, then source, so every path agrees. */
export function touchEarlier(a: { at: number; channel: string; source: string | null }, b: { at: number; channel: string; source: string | null }): boolean {
  if (a.at !== b.at) return a.at < b.at
  if (a.channel !== b.channel) return a.channel < b.channel
  return (a.source ?? '') < (b.source ?? '')
}

/** Adds one event's facts (the oracle folds a whole history this way; the worker, a batch per identifier). */
export function addSignal(f: Facts, s: Signal, matchers: Map<string, Matcher>): void {
  if (f.firstSeen === null || s.t < f.firstSeen) f.firstSeen = s.t
  if (f.lastSeen === null || s.t > f.lastSeen) f.lastSeen = s.t
  const day = dayOf(s.t)
  for (const [key, m] of matchers) {
    if (!matches(m, s)) continue
    let days = f.hits.get(key)
    if (!days) f.hits.set(key, (days = new Map()))
    days.set(day, (days.get(day) ?? 0) + 1)
  }
  if (s.channel !== null) {
    const touch = { at: s.t, channel: s.channel, source: s.source }
    if (f.channelAt === null || touchEarlier(touch, { at: f.channelAt, channel: f.channel!, source: f.source })) {
      f.channel = s.channel
      f.source = s.source
      f.channelAt = s.t
    }
  }
  for (const [kind, label] of itemsOfSignal(s)) addItem(f.items, `${kind}\u0000${label}`, { at: s.t, identified: s.identified, n: 1 })
}

export function addItem(items: Map<string, ItemFact>, key: string, x: ItemFact): void {
  const prev = items.get(key)
  if (!prev) items.set(key, { ...x })
  else {
    if (itemEarlier(x, prev)) (prev.at = x.at), (prev.identified = x.identified)
    prev.n += x.n
  }
}

/** The oracle's facts: a whole history folded at once. */
export function factsOf(p: Person, matchers: Map<string, Matcher>): Facts {
  const f = emptyFacts(p.identifiedAt)
  for (const s of p.signals) addSignal(f, s, matchers)
  return f
}

// ---------------------------------------------------------------------------------------------
// Evaluation over facts

const noDays = new Map<number, number>()
const hitsOf = (f: Facts, m: Matcher) => f.hits.get(matcherKey(m)) ?? noDays

/**
 * Lead score with its reasons: points per matching event, halved every `halfLifeDays` of age in
 * whole UTC days, capped per rule at the `max` most recent events.
 */
export function scoreOf(f: Facts, score: JourneyConfig['score'], now: number): { score: number; reasons: ScoreReason[] } {
  const today = dayOf(now)
  const reasons: ScoreReason[] = []
  let total = 0
  for (const rule of score.rules) {
    const days = [...hitsOf(f, rule.match)].sort((a, b) => b[0] - a[0])
    let left = rule.max ?? Infinity
    let count = 0
    let points = 0
    for (const [day, n] of days) {
      if (left <= 0) break
      const taken = Math.min(n, left)
      left -= taken
      count += taken
      const age = Math.max(0, today - day)
      points += taken * (score.halfLifeDays ? rule.points * Math.pow(0.5, age / score.halfLifeDays) : rule.points)
    }
    if (count === 0) continue
    total += points
    reasons.push({ rule: rule.id, label: rule.label, count, points: Math.round(points * 10) / 10 })
  }
  reasons.sort((a, b) => b.points - a.points || a.rule.localeCompare(b.rule))
  return { score: Math.round(total), reasons }
}

export interface ConditionContext {
  now: number
  score: number
  stageIndex: number
  stageIds: string[]
  channel: string | null
  source: string | null
}

export function holds(c: Condition, f: Facts, ctx: ConditionContext): boolean {
  if ('all' in c) return c.all.every((x) => holds(x, f, ctx))
  if ('any' in c) return c.any.some((x) => holds(x, f, ctx))
  if ('not' in c) return !holds(c.not, f, ctx)
  if ('identified' in c) return (f.identifiedAt !== null) === c.identified
  if ('stage' in c) {
    const ids = Array.isArray(c.stage) ? c.stage : [c.stage]
    return ids.includes(ctx.stageIds[ctx.stageIndex]!)
  }
  if ('stageAtLeast' in c) return ctx.stageIndex >= ctx.stageIds.indexOf(c.stageAtLeast)
  if ('score' in c) return (c.score.gte === undefined || ctx.score >= c.score.gte) && (c.score.lte === undefined || ctx.score <= c.score.lte)
  if ('did' in c) {
    // "Within N days": events of the last N whole UTC days and of today.
    const since = c.withinDays === undefined ? -Infinity : dayOf(ctx.now) - c.withinDays
    const need = c.atLeast ?? 1
    let n = 0
    for (const [day, count] of hitsOf(f, c.did)) if (day >= since && (n += count) >= need) return true
    return false
  }
  if ('channel' in c) return fieldMatches(c.channel, ctx.channel)
  if ('source' in c) return fieldMatches(c.source, ctx.source)
  return false
}

/** The person's stage: the last stage in order whose condition holds (the first always does). */
export function stageOf(f: Facts, stages: StageDef[], ctx: Omit<ConditionContext, 'stageIndex'>): number {
  let index = 0
  for (let i = 1; i < stages.length; i++) {
    const when = stages[i]!.when
    if (when && holds(when, f, { ...ctx, stageIndex: 0 })) index = i
  }
  return index
}

export function evaluateFacts(f: Facts, config: JourneyConfig, now: number): Evaluation {
  const { score, reasons } = scoreOf(f, config.score, now)
  const stageIds = config.stages.map((s) => s.id)
  const base = { now, score, stageIds, channel: f.channel, source: f.source }
  const stageIndex = stageOf(f, config.stages, base)
  const ctx = { ...base, stageIndex }
  return {
    stage: stageIds[stageIndex]!,
    stageIndex,
    score,
    reasons,
    segments: config.segments.filter((s) => holds(s.when, f, ctx)).map((s) => s.id),
    channel: f.channel,
    source: f.source,
    firstSeen: f.firstSeen,
    lastSeen: f.lastSeen,
  }
}

/** The oracle: a person's whole history evaluated at once. */
export function evaluate(p: Person, config: JourneyConfig, now: number): Evaluation {
  return evaluateFacts(factsOf(p, matchersOf(config)), config, now)
}


// ---------------------------------------------------------------------------------------------
// Defaults: what a marketer gets without a config file.

export const DEFAULT_CONFIG: JourneyConfig = {
  stages: [
    { id: 'anonymous', name: 'Anonymous visitor' },
    { id: 'known', name: 'Known lead', when: { identified: true } },
    { id: 'engaged', name: 'Engaged lead', when: { all: [{ identified: true }, { score: { gte: 30 } }] } },
    { id: 'customer', name: 'Customer', when: { did: { event: ['Order Completed', 'Subscription Started'] } } },
    { id: 'advocate', name: 'Advocate', when: { did: { event: 'Referral Sent' } } },
  ],
  score: {
    halfLifeDays: 30,
    rules: [
      { id: 'page-view', label: 'Viewed a page', points: 1, match: { type: 'page' }, max: 20 },
      { id: 'pricing', label: 'Viewed pricing', points: 5, match: { type: 'page', path: '*pricing*' }, max: 4 },
      { id: 'content-click', label: 'Clicked content', points: 3, match: { event: 'Content Clicked' }, max: 10 },
      { id: 'engaged', label: 'Engaged with a page', points: 2, match: { event: 'Page Engaged' }, max: 10 },
      { id: 'download', label: 'Downloaded a file', points: 10, match: { event: 'File Downloaded' }, max: 3 },
      { id: 'form', label: 'Submitted a form', points: 10, match: { event: 'Form Submitted' }, max: 3 },
      { id: 'plan', label: 'Chose a plan / signup CTA', points: 8, match: { event: ['Plan Selected', 'Signup Clicked'] }, max: 3 },
    ],
  },
  segments: [
    { id: 'all', name: 'Everyone', description: 'every person, anonymous or identified', when: { all: [] } },
    { id: 'anonymous', name: 'Anonymous visitors', description: 'people not identified yet', when: { identified: false } },
    { id: 'known', name: 'Identified people', description: 'people with an email or userId', when: { identified: true } },
    {
      id: 'pricing-twice-7d',
      name: 'Visited pricing twice in 7 days',
      when: { did: { type: 'page', path: '*pricing*' }, atLeast: 2, withinDays: 7 },
    },
    { id: 'whitepaper', name: 'Downloaded a whitepaper', when: { did: { event: 'File Downloaded', url: '*whitepaper*' } } },
    { id: 'hot-leads', name: 'Known leads with score ≥ 40', when: { all: [{ stageAtLeast: 'known' }, { score: { gte: 40 } }] } },
    { id: 'paid-search', name: 'Came from paid search', when: { channel: 'paid search' } },
  ],
}

// ---------------------------------------------------------------------------------------------
// A person's share of the journey tables, kept with their evaluation so the tables are sums.

/** A person counts toward at most this many items of each kind: the first ones they reached. */
export const ITEM_CAP = 200

export interface Contribution {
  /** Each content piece / page seen, whether first seen before identification, and when first. */
  content: Array<[name: string, before: boolean, at: number]>
  pages: Array<[path: string, before: boolean, at: number]>
  ctas: Array<{ kind: 'content' | 'track'; label: string; clicks: number; before: boolean }>
}

export function contributionOf(f: Facts): Contribution {
  const known = f.identifiedAt !== null
  const byKind = new Map<ItemKind, Array<[string, ItemFact]>>()
  for (const [key, fact] of f.items) {
    const sep = key.indexOf('\u0000')
    const kind = key.slice(0, sep) as ItemKind
    let list = byKind.get(kind)
    if (!list) byKind.set(kind, (list = []))
    list.push([key.slice(sep + 1), fact])
  }
  const first = (kind: ItemKind) =>
    (byKind.get(kind) ?? []).sort((a, b) => a[1].at - b[1].at || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, ITEM_CAP)
  const wasBefore = (x: ItemFact) => known && isBeforeIdentification(x.at, x.identified, f.identifiedAt)
  const ctas = [...first('cta:content').map((x) => ['content', x] as const), ...first('cta:track').map((x) => ['track', x] as const)]
  return {
    content: first('content').map(([name, x]) => [name, wasBefore(x), x.at]),
    pages: first('page').map(([path, x]) => [path, wasBefore(x), x.at]),
    ctas: ctas.map(([kind, [label, x]]) => ({ kind, label, clicks: x.n, before: wasBefore(x) })),
  }
}
