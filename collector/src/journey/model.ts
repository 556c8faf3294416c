// The journey model (issue 5): stages, lead score and segments as data, and the pure functions
// that evaluate them over one person's activity. No I/O here: ./index.ts gathers the activity,
// ./config.ts loads and checks the JSON the marketer edits.

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

export interface ScoreReason {
  rule: string
  label: string
  /** Events that fired the rule (after `max`). */
  count: number
  /** Points it contributed (after decay), one decimal. */
  points: number
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

const DAY = 86_400_000

const globCache = new Map<string, RegExp>()
export function glob(pattern: string): RegExp {
  let re = globCache.get(pattern)
  if (!re) {
    const body = pattern
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')
    re = new RegExp(`^${body}$`, 'i')
    if (globCache.size < 10_000) globCache.set(pattern, re)
  }
  return re
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

/** Lead score with its reasons: points per matching event, decayed by age, capped per rule. */
export function scoreOf(
  signals: Signal[],
  score: JourneyConfig['score'],
  now: number,
): { score: number; reasons: ScoreReason[] } {
  const reasons: ScoreReason[] = []
  let total = 0
  for (const rule of score.rules) {
    // Newest events first, so a cap keeps the most recent (least decayed) ones.
    const hits = signals.filter((s) => matches(rule.match, s)).sort((a, b) => b.t - a.t)
    const counted = rule.max === undefined ? hits : hits.slice(0, rule.max)
    if (counted.length === 0) continue
    let points = 0
    for (const s of counted) {
      const age = Math.max(0, now - s.t) / DAY
      points += score.halfLifeDays ? rule.points * Math.pow(0.5, age / score.halfLifeDays) : rule.points
    }
    total += points
    reasons.push({ rule: rule.id, label: rule.label, count: counted.length, points: Math.round(points * 10) / 10 })
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

export function holds(c: Condition, p: Person, ctx: ConditionContext): boolean {
  if ('all' in c) return c.all.every((x) => holds(x, p, ctx))
  if ('any' in c) return c.any.some((x) => holds(x, p, ctx))
  if ('not' in c) return !holds(c.not, p, ctx)
  if ('identified' in c) return (p.identifiedAt !== null) === c.identified
  if ('stage' in c) {
    const ids = Array.isArray(c.stage) ? c.stage : [c.stage]
    return ids.includes(ctx.stageIds[ctx.stageIndex]!)
  }
  if ('stageAtLeast' in c) return ctx.stageIndex >= ctx.stageIds.indexOf(c.stageAtLeast)
  if ('score' in c) return (c.score.gte === undefined || ctx.score >= c.score.gte) && (c.score.lte === undefined || ctx.score <= c.score.lte)
  if ('did' in c) {
    const since = c.withinDays === undefined ? -Infinity : ctx.now - c.withinDays * DAY
    const need = c.atLeast ?? 1
    let n = 0
    for (const s of p.signals) if (s.t >= since && matches(c.did, s) && ++n >= need) return true
    return false
  }
  if ('channel' in c) return fieldMatches(c.channel, ctx.channel)
  if ('source' in c) return fieldMatches(c.source, ctx.source)
  return false
}

/** The person's stage: the last stage in order whose condition holds (the first always does). */
export function stageOf(p: Person, stages: StageDef[], ctx: Omit<ConditionContext, 'stageIndex'>): number {
  let index = 0
  for (let i = 1; i < stages.length; i++) {
    const when = stages[i]!.when
    if (when && holds(when, p, { ...ctx, stageIndex: 0 })) index = i
  }
  return index
}

export function evaluate(p: Person, config: JourneyConfig, now: number): Evaluation {
  let first: Signal | null = null
  let firstSeen: number | null = null
  let lastSeen: number | null = null
  for (const s of p.signals) {
    if (firstSeen === null || s.t < firstSeen) firstSeen = s.t
    if (lastSeen === null || s.t > lastSeen) lastSeen = s.t
    if (s.channel !== null && (first === null || s.t < first.t)) first = s
  }
  const { score, reasons } = scoreOf(p.signals, config.score, now)
  const stageIds = config.stages.map((s) => s.id)
  const base = { now, score, stageIds, channel: first?.channel ?? null, source: first?.source ?? null }
  const stageIndex = stageOf(p, config.stages, base)
  const ctx = { ...base, stageIndex }
  return {
    stage: stageIds[stageIndex]!,
    stageIndex,
    score,
    reasons,
    segments: config.segments.filter((s) => holds(s.when, p, ctx)).map((s) => s.id),
    channel: ctx.channel,
    source: ctx.source,
    firstSeen,
    lastSeen,
  }
}

/** Rule 7, as in identity/graph.ts: happened before the person was identified. */
export function before(s: Signal, identifiedAt: number | null): boolean {
  if (identifiedAt === null || s.t < identifiedAt) return true
  return s.t === identifiedAt && !s.identified
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

/** Autotrack events that are not calls to action (the CTA table has content clicks and custom tracks). */
export const NOT_CTA = new Set([
  'Content Impression',
  'Content Clicked',
  'Page Engaged',
  'Scroll Depth',
  'Form Submitted',
  'Outbound Link Clicked',
  'File Downloaded',
  'Email Link Clicked',
  'Phone Link Clicked',
])

export interface Contribution {
  /** Each content piece / page seen, and whether first seen before identification. */
  content: Array<[name: string, before: boolean]>
  pages: Array<[path: string, before: boolean]>
  ctas: Array<{ kind: 'content' | 'track'; label: string; clicks: number; before: boolean }>
}

export function contributions(p: Person): Contribution {
  const content = new Map<string, Signal>()
  const pages = new Map<string, Signal>()
  const ctas = new Map<string, { kind: 'content' | 'track'; label: string; clicks: number; first: Signal }>()
  const earliest = (map: Map<string, Signal>, key: string, s: Signal) => {
    const prev = map.get(key)
    if (!prev || s.t < prev.t) map.set(key, s)
  }
  for (const s of p.signals) {
    if (s.content !== null) earliest(content, s.content, s)
    if (s.type === 'page' && s.path !== null) earliest(pages, s.path, s)
    const cta =
      s.event === 'Content Clicked' && s.content !== null
        ? { kind: 'content' as const, label: s.content }
        : s.type === 'track' && s.event !== null && !NOT_CTA.has(s.event)
          ? { kind: 'track' as const, label: s.event }
          : null
    if (!cta) continue
    const key = `${cta.kind}\u0000${cta.label}`
    const prev = ctas.get(key)
    if (!prev) ctas.set(key, { ...cta, clicks: 1, first: s })
    else {
      prev.clicks++
      if (s.t < prev.first.t) prev.first = s
    }
  }
  const known = p.identifiedAt !== null
  const wasBefore = (s: Signal) => known && before(s, p.identifiedAt)
  return {
    content: [...content].map(([k, s]) => [k, wasBefore(s)]),
    pages: [...pages].map(([k, s]) => [k, wasBefore(s)]),
    ctas: [...ctas.values()].map((c) => ({ kind: c.kind, label: c.label, clicks: c.clicks, before: wasBefore(c.first) })),
  }
}
