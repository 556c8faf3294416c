// Marketing analytics kept with the journey: campaigns (first touch and last touch before the
// conversion), revenue from orders, score drivers, calls to action per segment, content seen
// before buying, and day-by-day trends.
//
// The keeper stores, per identifier key, the campaigns its events carried (per UTC day) and its
// orders, as events arrive; a merge only re-points identifiers. When the worker evaluates a
// person, `analyticsOf` (pure) turns those facts and the evaluation into the rows the person adds
// to the tables: cohort rows (journey_rollup, by the day of the first visit), daily rows
// (journey_daily, by the day of the moment counted) and durations (journey_durations). The
// difference between a person's old and new rows is what the sums move by, as for the funnel.
import { isBeforeIdentification, ORDER_COMPLETED, type ScoreReason } from '@waymark/contract'
import type { Db, Dialect } from '../db/schema.js'
import { jsonRows, runJson } from './facts.js'
import type { EventKeeper, StoredEvent } from './hooks.js'
import { dayOf, glob, VALUE_CAP, type Condition, type Contribution, type JourneyConfig } from './model.js'

export const ANALYTICS_KEEPER = 'analytics'

/** Joins the parts of a campaign key and of rollup items (PostgreSQL text holds no NUL). */
export const SEP = '\u001f'
/** A person counts toward at most this many (segment, call to action) pairs. */
export const SEGMENT_CTA_CAP = 200
/** Rows read per chunk of identifiers: the earliest (a person's history is bounded by them). */
const TOUCHES_READ = 20_000
const ORDERS_READ = 10_000
const REFERRALS_READ = 10_000

const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {})
const text = (v: unknown, cap = VALUE_CAP): string => (typeof v === 'string' ? (v.length > cap ? v.slice(0, cap) : v) : '')

/** The campaign an event carries: `context.campaign`'s source, medium and name (utm_*), or null. */
export function campaignOf(context: Record<string, unknown>): [source: string, medium: string, name: string] | null {
  const c = obj(context.campaign)
  const source = text(c.source)
  const medium = text(c.medium)
  const name = text(c.name)
  return source || medium || name ? [source, medium, name] : null
}

export const campaignKey = (source: string, medium: string, name: string): string => (source || medium || name ? `${source}${SEP}${medium}${SEP}${name}` : '')

/** Largest amount taken, in the currency's unit: beyond it hundredths leave the exact integers. */
const MAX_AMOUNT = 1e12

/** A number, or a decimal string such as "49.90" (some libraries send text). */
function amountOf(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.length > 0 && v.length <= 32 ? Number(v) : NaN
  return Number.isFinite(n) && n >= 0 && n <= MAX_AMOUNT ? n : null
}

export interface OrderFact {
  at: number
  messageId: string
  /** `order_id` (Segment's spec), else `orderId`; orders of one person with the same id count once. */
  id: string | null
  /** Upper-cased `currency`, '' when absent. */
  currency: string
  /** Hundredths of the currency's unit. */
  amount: number
}

/** Pure: an `Order Completed` event's order: `revenue`, else `total`, else `value` (0 when none is a number ≥ 0). */
export function orderOf(e: Pick<StoredEvent, 'timestamp' | 'messageId' | 'properties'>): OrderFact {
  const p = e.properties
  const amount = amountOf(p.revenue) ?? amountOf(p.total) ?? amountOf(p.value) ?? 0
  const rawId = p.order_id ?? p.orderId
  const id = typeof rawId === 'string' && rawId.length > 0 ? text(rawId, 200) : typeof rawId === 'number' && Number.isFinite(rawId) ? String(rawId) : null
  return { at: e.timestamp, messageId: e.messageId, id, currency: text(p.currency, 16).trim().toUpperCase(), amount: Math.round(amount * 100) }
}

const statements = (d: Dialect) => ({
  campaigns: `INSERT INTO journey_campaigns (key, day, source, medium, campaign, first_at, last_at)
${jsonRows(d, [['k', 'text'], ['d', 'bigint'], ['s', 'text'], ['m', 'text'], ['c', 'text'], ['f', 'bigint'], ['l', 'bigint']])}
ON CONFLICT (key, day, source, medium, campaign) DO UPDATE SET
  first_at = CASE WHEN excluded.first_at < journey_campaigns.first_at THEN excluded.first_at ELSE journey_campaigns.first_at END,
  last_at = CASE WHEN excluded.last_at > journey_campaigns.last_at THEN excluded.last_at ELSE journey_campaigns.last_at END`,
  orders: `INSERT INTO journey_orders (key, message_id, at, order_id, currency, amount)
${jsonRows(d, [['k', 'text'], ['m', 'text'], ['a', 'bigint'], ['o', 'text'], ['c', 'text'], ['n', 'bigint']])}
ON CONFLICT (key, message_id) DO NOTHING`,
})
const STATEMENTS = { sqlite: statements('sqlite'), postgres: statements('postgres') }

/** Keeps the campaigns seen and the orders of every identifier, as events are stored. */
export const analyticsKeeper: EventKeeper = {
  name: ANALYTICS_KEEPER,
  async apply(trx, dialect, events) {
    const seen = new Map<string, [string, number, string, string, string, number, number]>()
    const orders: Array<[string, string, number, string | null, string, number]> = []
    for (const e of events) {
      const c = campaignOf(e.context)
      if (c) {
        const day = dayOf(e.timestamp)
        const k = `${e.identityKey}${SEP}${day}${SEP}${c.join(SEP)}`
        const row = seen.get(k)
        if (!row) seen.set(k, [e.identityKey, day, c[0], c[1], c[2], e.timestamp, e.timestamp])
        else (row[5] = Math.min(row[5], e.timestamp)), (row[6] = Math.max(row[6], e.timestamp))
      }
      if (e.type === 'track' && e.event === ORDER_COMPLETED) {
        const o = orderOf(e)
        orders.push([e.identityKey, o.messageId, o.at, o.id, o.currency, o.amount])
      }
    }
    const s = STATEMENTS[dialect]
    await runJson(trx, s.campaigns, [...seen.values()])
    await runJson(trx, s.orders, orders)
  },
}

/** A campaign seen on one device on one day: first and last time. */
export interface TouchFact {
  campaign: string
  first: number
  last: number
}

/** A visit through someone else's share link (journey/shares.ts keeps them): content SEP network, when, identified then. */
export interface ReferralFact {
  item: string
  at: number
  identified: boolean
}

export interface AnalyticsFacts {
  touches: TouchFact[]
  orders: OrderFact[]
  /** First time of each custom track event (journey_items), for the customer moment. */
  tracks: Array<{ event: string; at: number }>
  /** Visits that arrived through a share of a person other than this one. */
  referrals: ReferralFact[]
}

export const emptyAnalytics = (): AnalyticsFacts => ({ touches: [], orders: [], tracks: [], referrals: [] })

/** Each person's analytics facts, from their identifiers (`owner`: identifier key → person id). */
export async function loadAnalytics(db: Db, owner: Map<string, string>, chunks: string[][]): Promise<Map<string, AnalyticsFacts>> {
  const out = new Map<string, AnalyticsFacts>()
  const of = (key: string) => {
    const id = owner.get(key)!
    let a = out.get(id)
    if (!a) out.set(id, (a = emptyAnalytics()))
    return a
  }
  for (const chunk of chunks) {
    const [touches, orders, tracks, referrals] = await Promise.all([
      db.selectFrom('journey_campaigns').select(['key', 'source', 'medium', 'campaign', 'first_at', 'last_at']).where('key', 'in', chunk).orderBy('first_at').limit(TOUCHES_READ).execute(),
      db.selectFrom('journey_orders').select(['key', 'message_id', 'at', 'order_id', 'currency', 'amount']).where('key', 'in', chunk).orderBy('at').limit(ORDERS_READ).execute(),
      db.selectFrom('journey_items').select(['key', 'item', 'first_at']).where('key', 'in', chunk).where('kind', '=', 'cta:track').execute(),
      db
        .selectFrom('share_visits as v')
        .innerJoin('share_links as l', 'l.token', 'v.token')
        .select(['v.visitor', 'v.first_at', 'v.first_identified', 'l.content', 'l.network', 'l.sharer'])
        .where('v.visitor', 'in', chunk)
        .orderBy('v.first_at')
        .limit(REFERRALS_READ)
        .execute(),
    ])
    for (const t of touches) of(t.key).touches.push({ campaign: campaignKey(t.source, t.medium, t.campaign), first: Number(t.first_at), last: Number(t.last_at) })
    for (const o of orders) {
      of(o.key).orders.push({ at: Number(o.at), messageId: o.message_id, id: o.order_id, currency: o.currency, amount: Number(o.amount) })
    }
    for (const t of tracks) of(t.key).tracks.push({ event: t.item, at: Number(t.first_at) })
    // A share brings no one to its sharer's own person (after every merge: the owner map is now).
    for (const r of referrals) {
      if (owner.get(r.sharer) === owner.get(r.visitor)) continue
      of(r.visitor).referrals.push({ item: `${r.content}${SEP}${r.network}`, at: Number(r.first_at), identified: Number(r.first_identified) === 1 })
    }
  }
  return out
}

/** Deletes the analytics facts of erased identifiers (caller's transaction). */
export async function forgetKeys(trx: Db, keys: string[]): Promise<void> {
  if (!keys.length) return
  await trx.deleteFrom('journey_campaigns').where('key', 'in', keys).execute()
  await trx.deleteFrom('journey_orders').where('key', 'in', keys).execute()
}

// ---------------------------------------------------------------------------------------------
// Pure: a person's rows

/**
 * The event names the customer stage's condition asks for (`did` with an `event`, outside any
 * `not`): the first such event is the moment a person became a customer. Default config:
 * Order Completed, Subscription Started.
 */
export function customerEvents(config: JourneyConfig, customerIndex: number): string[] {
  const out: string[] = []
  const walk = (c: Condition) => {
    if ('all' in c) c.all.forEach(walk)
    else if ('any' in c) c.any.forEach(walk)
    else if ('did' in c && c.did.event !== undefined) out.push(...(Array.isArray(c.did.event) ? c.did.event : [c.did.event]))
  }
  const when = config.stages[customerIndex]?.when
  if (when) walk(when)
  return [...new Set(out)]
}

/**
 * The campaign of the person's earliest event, on any device ('' when that event carried none:
 * a direct first visit stays direct, whatever campaign came later).
 */
export function firstTouch(touches: TouchFact[], firstSeen: number): string {
  let best: string | null = null
  for (const t of touches) if (t.first <= firstSeen && (best === null || t.campaign < best)) best = t.campaign
  return best ?? ''
}

/**
 * The last campaign seen at or before `at` ('' when none). A day's row tells when a campaign was
 * first and last seen on a device that day: its latest sighting up to `at` is `last` when that
 * is not after `at`, else at least `first`. Exact unless one device switches back and forth
 * between campaigns within a day (the SDK sends the last touch on every event, so a conversion
 * event carries its own campaign, seen at `at` itself).
 */
export function lastTouchBefore(touches: TouchFact[], at: number): string {
  let best: { campaign: string; seen: number } | null = null
  for (const t of touches) {
    if (t.first > at) continue
    const seen = t.last <= at ? t.last : t.first
    if (!best || seen > best.seen || (seen === best.seen && t.campaign < best.campaign)) best = { campaign: t.campaign, seen }
  }
  return best?.campaign ?? ''
}

/** Orders in time order, each order id once (the earliest). */
export function distinctOrders(orders: OrderFact[]): OrderFact[] {
  const sorted = [...orders].sort((a, b) => a.at - b.at || (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0))
  const ids = new Set<string>()
  return sorted.filter((o) => (o.id === null ? true : ids.has(o.id) ? false : (ids.add(o.id), true)))
}

export type RollupRow = [dim: string, item: string, a: number, b: number, c: number]
export type DailyRow = [day: number, dim: string, item: string, a: number, b: number, c: number]
export type DurationRow = [model: 'first' | 'last', kind: 'lead' | 'customer', campaign: string, ms: number]

export interface PersonAnalyticsInput {
  firstSeen: number
  identifiedAt: number | null
  stage: string
  stageIndex: number
  customerIndex: number
  segments: string[]
  reasons: ScoreReason[]
  contribution: Contribution
  facts: AnalyticsFacts
  /** Patterns of the customer stage's events (customerEvents). */
  customerEvents: string[]
}

export interface PersonAnalytics {
  customerAt: number | null
  cohort: RollupRow[]
  daily: DailyRow[]
  durations: DurationRow[]
}

/** Adds rows with the same key together, in first-seen order. */
function summed<R extends Array<string | number>>(rows: R[], keyLength: number): R[] {
  const out = new Map<string, R>()
  for (const r of rows) {
    const k = r.slice(0, keyLength).join('\u0000')
    const prev = out.get(k)
    if (!prev) out.set(k, [...r] as R)
    else for (let i = keyLength; i < r.length; i++) (prev[i] as number) += r[i] as number
  }
  return [...out.values()]
}

/**
 * Pure: what one evaluated person adds to the analytics tables (journey/reports.ts says what
 * a, b, c mean per dimension).
 *
 * - Customer moment: the first custom event the customer stage's condition names, if the
 *   person is in that stage or beyond.
 * - First touch: the campaign of the person's earliest event, every device.
 * - Last touch: the last campaign before the person's furthest conversion: before becoming a
 *   customer for customers, before identification for the other leads, the latest for
 *   visitors. An order's revenue goes to the last campaign before that order.
 */
export function analyticsOf(x: PersonAnalyticsInput): PersonAnalytics {
  const customer = x.stageIndex >= x.customerIndex
  const patterns = x.customerEvents.map(glob)
  let customerAt: number | null = null
  if (customer) for (const t of x.facts.tracks) if (patterns.some((p) => p.test(t.event)) && (customerAt === null || t.at < customerAt)) customerAt = t.at
  const lead = x.identifiedAt !== null
  const touches = x.facts.touches
  const first = firstTouch(touches, x.firstSeen)
  const closing = customerAt ?? (customer || !lead ? Infinity : x.identifiedAt!)
  const last = lastTouchBefore(touches, closing)
  const orders = distinctOrders(x.facts.orders)

  const cohort: RollupRow[] = []
  const known = customerAt !== null ? 1 : 0
  for (const [model, campaign] of [['first', first], ['last', last]] as const) {
    cohort.push([`campaign:${model}`, campaign, 1, lead ? 1 : 0, customer ? 1 : 0])
    // People whose customer moment is known: how many durations the median is taken over.
    if (known) cohort.push([`campaign-moment:${model}`, campaign, 1, 0, 0])
  }
  for (const o of orders) {
    cohort.push(['revenue:first', `${first}${SEP}${o.currency}`, o.amount, 1, 0])
    cohort.push(['revenue:last', `${lastTouchBefore(touches, o.at)}${SEP}${o.currency}`, o.amount, 1, 0])
  }
  if (customer) {
    const before = (at: number) => (customerAt !== null && at < customerAt ? 1 : 0)
    for (const [name, , at] of x.contribution.content) cohort.push(['content:customer', name, 1, before(at), 0])
    for (const [path, , at] of x.contribution.pages) cohort.push(['page:customer', path, 1, before(at), 0])
  }
  let budget = SEGMENT_CTA_CAP
  for (const segment of x.segments) {
    cohort.push(['members', segment, 1, 0, 0])
    for (const cta of x.contribution.ctas) {
      if (budget-- <= 0) break
      cohort.push([`cta@${segment}`, `${cta.kind}${SEP}${cta.label}`, cta.clicks, 1, cta.before ? 1 : 0])
    }
  }
  if (lead) {
    cohort.push(['leads', '', 1, 0, 0])
    for (const r of x.reasons) cohort.push(['score', r.rule, Math.round(r.points * 10), r.count, 1])
  }

  const daily: DailyRow[] = [[dayOf(x.firstSeen), 'visitors', '', 1, 0, 0]]
  if (lead) daily.push([dayOf(x.identifiedAt!), 'leads', x.stage, 1, 0, 0])
  if (customerAt !== null) daily.push([dayOf(customerAt), 'customers', '', 1, 0, 0])
  orders.forEach((o, i) => {
    // Already a customer: an earlier order, or the customer moment before this order.
    const existing = i > 0 || (customerAt !== null && customerAt < o.at)
    daily.push([dayOf(o.at), 'revenue', o.currency, o.amount, 1, existing ? o.amount : 0])
    if (i === 0) daily.push([dayOf(o.at), 'buyers', '', 1, 0, 0])
    if (i === 1) daily.push([dayOf(o.at), 'repeat', '', 1, 0, 0])
  })

  // Shares: each content and network once, on the day of the first visit it brought; known
  // when a visit came before the identification (isBeforeIdentification).
  const referred = new Map<string, { at: number; known: boolean }>()
  for (const r of x.facts.referrals) {
    const known = lead && isBeforeIdentification(r.at, r.identified, x.identifiedAt)
    const seen = referred.get(r.item)
    if (!seen) referred.set(r.item, { at: r.at, known })
    else (seen.at = Math.min(seen.at, r.at)), (seen.known ||= known)
  }
  for (const [item, r] of referred) daily.push([dayOf(r.at), 'referred', item, 1, r.known ? 1 : 0, 0])

  const durations: DurationRow[] = []
  for (const [model, campaign] of [['first', first], ['last', last]] as const) {
    if (lead) durations.push([model, 'lead', campaign, Math.max(0, x.identifiedAt! - x.firstSeen)])
    if (customerAt !== null) durations.push([model, 'customer', campaign, Math.max(0, customerAt - x.firstSeen)])
  }
  return { customerAt, cohort: summed(cohort, 2), daily: summed(daily, 3), durations }
}
