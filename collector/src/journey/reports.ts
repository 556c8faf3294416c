// The Journey page's marketing tables (contract/src/analytics-api.ts), each read from sums the
// worker keeps (journey/analytics.ts): campaigns, CTAs of one segment and score drivers from the
// cohort sums (journey_rollup, per day of the first visit); revenue and trends from the daily
// sums (journey_daily, per day of the moment counted); medians at an offset of an index.
//
// What a, b, c hold per dimension:
//   campaign:<model>         campaign key → visitors, leads, customers
//   campaign-moment:<model>  campaign key → customers whose customer moment is known
//   revenue:<model>          campaign key SEP currency → amount (hundredths), orders
//   members                  segment → members
//   cta@<segment>            kind SEP label → clicks, people, clicked before identifying
//   leads                    '' → leads (identified people)
//   score                    rule → points × 10, events counted, leads given points
//   daily: visitors '', leads <stage now>, customers '', buyers '' (first orders), repeat '' (second orders) → people
//   daily: revenue <currency> → amount (hundredths), orders, amount from people already customers
//   daily: referred content SEP network → people brought (day of their first visit through it), of them became known (journey/shares.ts)
import type {
  Attribution,
  CampaignReport,
  CampaignRow,
  RevenueReport,
  ScoreDriversReport,
  SegmentCtaReport,
  TrendBucket,
  TrendsReport,
} from '@waymark/contract'
import type { Db } from '../db/schema.js'
import { BadRequest } from '../lib/errors.js'
import { SEP } from './analytics.js'
import { DAY, dayOf } from './model.js'
import { ratio, rowsOf, sumsFor, type Period } from './queries.js'
import type { JourneyWorker } from './worker.js'

const TABLE_ROWS = 50
/** A trend covers at most this many days (ten years). */
const MAX_DAYS = 3_660
/** Longer periods are shown per week unless days are asked for. */
const DAYS_SHOWN_DAILY = 92

const money = (hundredths: number) => hundredths / 100
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())
const periodAnswer = (p: Period) => ({ from: iso(p.from), to: iso(p.to) })
const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** Median of the durations of `n` people at an offset of the index (model, kind, campaign, ms). */
async function median(db: Db, model: Attribution, kind: 'lead' | 'customer', campaign: string, n: number, period: Period): Promise<number | null> {
  if (n <= 0) return null
  let q = db.selectFrom('journey_durations').select('ms').where('model', '=', model).where('kind', '=', kind).where('campaign', '=', campaign)
  if (period.from !== null) q = q.where('first_seen', '>=', period.from)
  if (period.to !== null) q = q.where('first_seen', '<', period.to)
  const rows = await q.orderBy('ms').limit(2).offset(Math.floor((n - 1) / 2)).execute()
  if (rows.length === 0) return null
  const [a, b] = rows.map((r) => Number(r.ms))
  return n % 2 === 1 || b === undefined ? a! : Math.round((a! + b) / 2)
}

const splitCampaign = (key: string) => {
  const [source = '', medium = '', campaign = ''] = key === '' ? [] : key.split(SEP)
  return { source: source || null, medium: medium || null, campaign: campaign || null }
}

export async function campaignReport(db: Db, period: Period, touch: Attribution): Promise<CampaignReport> {
  const dims = [`campaign:${touch}`, `campaign-moment:${touch}`, `revenue:${touch}`]
  const sums = await sumsFor(db, period, dims)
  const rows = new Map<string, { visitors: number; leads: number; customers: number; moments: number; revenue: Map<string, number>; orders: number }>()
  const row = (key: string) => {
    let r = rows.get(key)
    if (!r) rows.set(key, (r = { visitors: 0, leads: 0, customers: 0, moments: 0, revenue: new Map(), orders: 0 }))
    return r
  }
  for (const [, key, a, b, c] of rowsOf(sums, dims[0]!)) Object.assign(row(key), { visitors: a, leads: b, customers: c })
  for (const [, key, a] of rowsOf(sums, dims[1]!)) row(key).moments = a
  for (const [, item, a, b] of rowsOf(sums, dims[2]!)) {
    const sep = item.lastIndexOf(SEP)
    const r = row(item.slice(0, sep))
    const currency = item.slice(sep + 1)
    r.revenue.set(currency, (r.revenue.get(currency) ?? 0) + a)
    r.orders += b
  }
  const shown = [...rows]
    .sort(([ka, a], [kb, b]) => b.visitors - a.visitors || b.orders - a.orders || byKey(ka, kb))
    .slice(0, TABLE_ROWS)
  const campaigns: CampaignRow[] = await Promise.all(
    shown.map(async ([key, r]) => ({
      ...splitCampaign(key),
      visitors: r.visitors,
      leads: r.leads,
      customers: r.customers,
      leadRate: ratio(r.leads, r.visitors),
      closeRate: ratio(r.customers, r.leads),
      customerRate: ratio(r.customers, r.visitors),
      revenue: [...r.revenue].sort(([a], [b]) => byKey(a, b)).map(([currency, amount]) => ({ currency, amount: money(amount) })),
      orders: r.orders,
      medianToLeadMs: await median(db, touch, 'lead', key, r.leads, period),
      medianToCustomerMs: await median(db, touch, 'customer', key, r.moments, period),
    })),
  )
  return { touch, period: periodAnswer(period), campaigns }
}

export async function segmentCtaReport(db: Db, worker: JourneyWorker, period: Period, segmentId: string): Promise<SegmentCtaReport> {
  const segment = worker.segments().find((s) => s.id === segmentId)
  if (!segment) throw new BadRequest(`unknown segment "${segmentId}"; segments are ${worker.segments().map((s) => s.id).join(', ')}`)
  const dim = `cta@${segment.id}`
  const sums = await sumsFor(db, period, [dim, 'members'])
  const members = rowsOf(sums, 'members').find((r) => r[1] === segment.id)?.[2] ?? 0
  const ctas = rowsOf(sums, dim)
    .map(([, item, a, b, c]) => {
      const sep = item.indexOf(SEP)
      return { key: item, kind: item.slice(0, sep) as 'content' | 'track', label: item.slice(sep + 1), clicks: a, people: b, beforeIdentification: c }
    })
    .sort((a, b) => b.clicks - a.clicks || byKey(a.key, b.key))
    .slice(0, TABLE_ROWS)
    .map(({ key: _, ...r }) => r)
  return { segment: { id: segment.id, name: segment.name }, period: periodAnswer(period), members, ctas }
}

export async function scoreDriversReport(db: Db, worker: JourneyWorker, period: Period): Promise<ScoreDriversReport> {
  const sums = await sumsFor(db, period, ['score', 'leads'])
  const labels = new Map(worker.modelConfig().score.rules.map((r) => [r.id, r.label]))
  const leads = rowsOf(sums, 'leads').reduce((n, r) => n + r[2], 0)
  const rows = rowsOf(sums, 'score')
  // Shares of the points the rules give: a rule with negative points takes a negative share.
  const given = rows.reduce((n, r) => n + Math.max(0, r[2]), 0)
  const rules = rows
    .map(([, rule, a, b, c]) => ({ rule, label: labels.get(rule) ?? rule, points: a / 10, share: ratio(a, given), events: b, leads: c }))
    .sort((a, b) => b.points - a.points || byKey(a.rule, b.rule))
  return { period: periodAnswer(period), leads, points: rows.reduce((n, r) => n + r[2], 0) / 10, rules }
}

/** The whole UTC days a period covers: its ends taken outward to midnight. `first` null: from the first day kept. */
function daysOf(period: Period): { first: number | null; last: number | null } {
  return { first: period.from === null ? null : Math.floor(period.from / DAY), last: period.to === null ? null : Math.ceil(period.to / DAY) - 1 }
}

async function dailyRows(db: Db, dims: string[], first: number | null, last: number | null) {
  let q = db.selectFrom('journey_daily').select(['day', 'dim', 'item', 'a', 'b', 'c']).where('dim', 'in', dims)
  if (first !== null) q = q.where('day', '>=', first)
  if (last !== null) q = q.where('day', '<=', last)
  return (await q.execute()).map((r) => ({ day: Number(r.day), dim: r.dim, item: r.item, a: Number(r.a), b: Number(r.b), c: Number(r.c) }))
}

export async function revenueReport(db: Db, period: Period): Promise<RevenueReport> {
  const { first, last } = daysOf(period)
  const rows = await dailyRows(db, ['revenue', 'buyers', 'repeat', 'customers'], first, last)
  const currencies = new Map<string, { revenue: number; orders: number; existing: number }>()
  const people = { buyers: 0, repeat: 0, customers: 0 }
  for (const r of rows) {
    if (r.dim === 'revenue') {
      const c = currencies.get(r.item) ?? { revenue: 0, orders: 0, existing: 0 }
      c.revenue += r.a
      c.orders += r.b
      c.existing += r.c
      currencies.set(r.item, c)
    } else people[r.dim as keyof typeof people] += r.a
  }
  return {
    period: { from: first === null ? null : iso(first * DAY), to: last === null ? null : iso((last + 1) * DAY) },
    currencies: [...currencies]
      .filter(([, c]) => c.orders !== 0)
      .sort(([a, x], [b, y]) => y.revenue - x.revenue || byKey(a, b))
      .map(([currency, c]) => ({
        currency,
        revenue: money(c.revenue),
        orders: c.orders,
        averageOrderValue: c.orders ? Math.round(c.revenue / c.orders) / 100 : null,
        fromExistingCustomers: money(c.existing),
      })),
    firstOrders: people.buyers,
    repeatCustomers: people.repeat,
    newCustomers: people.customers,
  }
}

/** Monday-started weeks: day 0 (1970-01-01) was a Thursday. */
const weekStart = (day: number) => day - ((((day + 3) % 7) + 7) % 7)

export async function trendsReport(db: Db, worker: JourneyWorker, period: Period, interval: 'day' | 'week' | undefined, now: number): Promise<TrendsReport> {
  const stages = worker.modelConfig().stages.map((s) => ({ id: s.id, name: s.name }))
  const days = daysOf(period)
  let last = days.last ?? dayOf(now)
  let first = days.first
  if (first === null) {
    const min = await db.selectFrom('journey_daily').select((eb) => eb.fn.min('day').as('day')).executeTakeFirst()
    first = min?.day === null || min?.day === undefined ? last : Math.min(Number(min.day), last)
  }
  if (last < first) last = first
  if (last - first + 1 > MAX_DAYS) first = last - MAX_DAYS + 1
  const every = interval ?? (last - first + 1 <= DAYS_SHOWN_DAILY ? 'day' : 'week')
  const buckets: TrendBucket[] = []
  const index = new Map<number, TrendBucket>()
  for (let d = first; d <= last; ) {
    const end = every === 'day' ? d : Math.min(last, weekStart(d) + 6)
    const b: TrendBucket = { start: iso(d * DAY)!, days: end - d + 1, visitors: 0, leads: 0, customers: 0, orders: 0, revenue: {}, leadsByStage: {} }
    for (let x = d; x <= end; x++) index.set(x, b)
    buckets.push(b)
    d = end + 1
  }
  const currencies = new Set<string>()
  for (const r of await dailyRows(db, ['visitors', 'leads', 'customers', 'revenue'], first, last)) {
    const b = index.get(r.day)
    if (!b) continue
    if (r.dim === 'visitors') b.visitors += r.a
    else if (r.dim === 'customers') b.customers += r.a
    else if (r.dim === 'leads') {
      b.leads += r.a
      if (r.a) b.leadsByStage[r.item] = (b.leadsByStage[r.item] ?? 0) + r.a
    } else if (r.b) {
      b.orders += r.b
      // Hundredths while adding up, the currency's unit once done.
      b.revenue[r.item] = (b.revenue[r.item] ?? 0) + r.a
      currencies.add(r.item)
    }
  }
  for (const b of buckets) for (const c of Object.keys(b.revenue)) b.revenue[c] = money(b.revenue[c]!)
  return {
    period: { from: iso(first * DAY), to: iso((last + 1) * DAY) },
    interval: every,
    stages,
    currencies: [...currencies].sort(byKey),
    buckets,
  }
}
