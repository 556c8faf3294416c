// The share table (docs/viewer.md, Shares): shares by content and network, the visits their
// links brought and the people those visits brought who became known. Kept as events arrive by
// a journey keeper. The people brought are counted by each person's evaluation (after every
// merge and identification, journey/analytics.ts), so the read only sums rows kept per day.
import { CompiledQuery } from 'kysely'
import { CONTENT_SHARED, type ShareReport, type ShareRow } from '@waymark/contract'
import type { Db, Dialect } from '../db/schema.js'
import { SEP } from './analytics.js'
import { jsonRows, runJson } from './facts.js'
import type { EventKeeper, StoredEvent } from './hooks.js'
import { dayOf, VALUE_CAP } from './model.js'
import { chunks } from './people.js'
import type { JourneyWorker } from './worker.js'

/** Tokens as the SDK makes them, and room for other senders' own; nothing else is kept. */
const TOKEN = /^[0-9A-Za-z_-]{1,64}$/
const tokenOf = (v: unknown): string | null => (typeof v === 'string' && TOKEN.test(v) ? v : null)
const label = (v: unknown, none: string): string => (typeof v === 'string' && v.trim() ? v.slice(0, VALUE_CAP) : none)
const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {})

/** [token, content, network, sharer, at] */
type LinkRow = [string, string, string, string, number]
/** [token, visitor, day, firstAt, firstIdentified, n] */
type VisitRow = [string, string, number, number, number, number]

/**
 * Pure: the shares of a batch (`Content Shared` with a token, the earliest per token) and its
 * referred visits (page views with `context.referrer` { type: 'share', id }), per token,
 * arriving identity key and UTC day.
 */
export function shareFacts(events: StoredEvent[]): { links: LinkRow[]; visits: VisitRow[] } {
  const links = new Map<string, LinkRow>()
  const visits = new Map<string, VisitRow>()
  for (const e of events) {
    if (e.type === 'track' && e.event === CONTENT_SHARED) {
      const token = tokenOf(e.properties.token)
      if (!token) continue
      const prev = links.get(token)
      if (!prev || e.timestamp < prev[4]) links.set(token, [token, label(e.properties.name, '(unnamed)'), label(e.properties.network, '(unknown)'), e.identityKey, e.timestamp])
    } else if (e.type === 'page') {
      const referrer = obj(e.context.referrer)
      const token = referrer.type === 'share' ? tokenOf(referrer.id) : null
      if (!token) continue
      const day = dayOf(e.timestamp)
      const identified = e.userId !== null || e.email !== null ? 1 : 0
      const k = `${token}\u0000${e.identityKey}\u0000${day}`
      const prev = visits.get(k)
      if (!prev) visits.set(k, [token, e.identityKey, day, e.timestamp, identified, 1])
      else {
        // the earliest visit, and at the same millisecond the anonymous one (it came first)
        if (e.timestamp < prev[3] || (e.timestamp === prev[3] && identified < prev[4])) (prev[3] = e.timestamp), (prev[4] = identified)
        prev[5]++
      }
    }
  }
  return { links: [...links.values()], visits: [...visits.values()] }
}

/** Moves of the totals, added up before they are written: day → content, network → [shares, visits]. */
class Totals {
  readonly rows = new Map<string, [number, string, string, number, number]>()
  add(day: number, content: string, network: string, shares: number, visits: number): void {
    for (const d of [day, -1]) {
      const k = `${d}\u0000${content}\u0000${network}`
      const r = this.rows.get(k)
      if (r) (r[3] += shares), (r[4] += visits)
      else this.rows.set(k, [d, content, network, shares, visits])
    }
  }
}

const statements = (d: Dialect) => ({
  links: `INSERT INTO share_links (token, content, network, sharer, at)
${jsonRows(d, [['t', 'text'], ['c', 'text'], ['n', 'text'], ['s', 'text'], ['a', 'bigint']])}
ON CONFLICT (token) DO NOTHING RETURNING token, content, network, sharer, at`,
  visits: `INSERT INTO share_visits (token, visitor, day, first_at, first_identified, n)
${jsonRows(d, [['t', 'text'], ['v', 'text'], ['d', 'bigint'], ['a', 'bigint'], ['i', 'bigint'], ['n', 'bigint']])}
ON CONFLICT (token, visitor, day) DO UPDATE SET
  first_at = CASE WHEN ${earlier} THEN excluded.first_at ELSE share_visits.first_at END,
  first_identified = CASE WHEN ${earlier} THEN excluded.first_identified ELSE share_visits.first_identified END,
  n = share_visits.n + excluded.n`,
  totals: `INSERT INTO share_totals (day, content, network, shares, visits)
${jsonRows(d, [['d', 'bigint'], ['c', 'text'], ['n', 'text'], ['s', 'bigint'], ['v', 'bigint']])}
ON CONFLICT (day, content, network) DO UPDATE SET shares = share_totals.shares + excluded.shares, visits = share_totals.visits + excluded.visits`,
})
const earlier = `(excluded.first_at < share_visits.first_at OR (excluded.first_at = share_visits.first_at AND excluded.first_identified < share_visits.first_identified))`
const STATEMENTS = { sqlite: statements('sqlite'), postgres: statements('postgres') }

async function writeTotals(trx: Db, dialect: Dialect, totals: Totals): Promise<void> {
  await runJson(trx, STATEMENTS[dialect].totals, [...totals.rows.values()].filter((r) => r[3] !== 0 || r[4] !== 0))
}

type Link = { content: string; network: string; sharer: string }

/** The links of `tokens` that are stored. */
async function linksOf(trx: Db, tokens: string[]): Promise<Map<string, Link>> {
  const out = new Map<string, Link>()
  for (const chunk of chunks(tokens)) {
    for (const r of await trx.selectFrom('share_links').select(['token', 'content', 'network', 'sharer']).where('token', 'in', chunk).execute()) out.set(r.token, r)
  }
  return out
}

export const shareKeeper: EventKeeper = {
  name: 'shares',
  async apply(trx, dialect, events) {
    const { links, visits } = shareFacts(events)
    if (!links.length && !visits.length) return
    const s = STATEMENTS[dialect]
    const totals = new Totals()
    // 1. Shares not seen before; 2. the visits that arrived before them are counted now (not the
    // sharer's own); 3. this batch's visits, counted when their share is known.
    const inserted = links.length
      ? (await trx.executeQuery<{ token: string; content: string; network: string; sharer: string; at: number }>(CompiledQuery.raw(s.links, [JSON.stringify(links)]))).rows
      : []
    const fresh = new Map(inserted.map((r) => [r.token, r]))
    for (const r of inserted) totals.add(dayOf(Number(r.at)), r.content, r.network, 1, 0)
    // Their visitors' people are evaluated again: they were brought by a share now known.
    const late = new Set<string>()
    for (const chunk of chunks([...fresh.keys()])) {
      const waiting = await trx.selectFrom('share_visits').select(['token', 'visitor', 'day', 'n']).where('token', 'in', chunk).execute()
      for (const w of waiting) {
        const link = fresh.get(w.token)!
        if (w.visitor === link.sharer) await trx.deleteFrom('share_visits').where('token', '=', w.token).where('visitor', '=', w.visitor).execute()
        else totals.add(Number(w.day), link.content, link.network, 0, Number(w.n)), late.add(w.visitor)
      }
    }
    const known = await linksOf(trx, [...new Set(visits.map((v) => v[0]))])
    const kept = visits.filter((v) => known.get(v[0])?.sharer !== v[1])
    for (const v of kept) {
      const link = known.get(v[0])
      if (link) totals.add(v[2], link.content, link.network, 0, v[5])
    }
    await runJson(trx, s.visits, kept)
    await writeTotals(trx, dialect, totals)
    return [...late]
  },
  // The person's shares and visits leave the totals; their tokens stay, without a sharer, so
  // visits their links bring later still count for the content.
  async forget(trx, dialect, keys) {
    const totals = new Totals()
    for (const chunk of chunks(keys)) {
      for (const l of await trx.selectFrom('share_links').select(['content', 'network', 'at']).where('sharer', 'in', chunk).execute()) {
        totals.add(dayOf(Number(l.at)), l.content, l.network, -1, 0)
      }
      await trx.updateTable('share_links').set({ sharer: '' }).where('sharer', 'in', chunk).execute()
      const counted = await trx
        .selectFrom('share_visits as v')
        .innerJoin('share_links as l', 'l.token', 'v.token')
        .select(['v.day', 'v.n', 'l.content', 'l.network'])
        .where('v.visitor', 'in', chunk)
        .execute()
      for (const v of counted) totals.add(Number(v.day), v.content, v.network, 0, -Number(v.n))
      await trx.deleteFrom('share_visits').where('visitor', 'in', chunk).execute()
    }
    await writeTotals(trx, dialect, totals)
  },
}

const TABLE_ROWS = 50
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/**
 * The share table for a period, in whole UTC days: shares made and visits that arrived on the
 * days from `from`'s to the one before `to`; people: those whose visits arrived then.
 */
export async function shareReport(db: Db, worker: JourneyWorker, period: { from: number | null; to: number | null }): Promise<ShareReport> {
  const whole = period.from === null && period.to === null
  const first = period.from === null ? 0 : dayOf(period.from)
  const last = period.to === null ? Number.MAX_SAFE_INTEGER : dayOf(period.to - 1)
  let totals = db
    .selectFrom('share_totals')
    .select(['content', 'network', (eb) => eb.fn.sum<number>('shares').as('shares'), (eb) => eb.fn.sum<number>('visits').as('visits')])
    .groupBy(['content', 'network'])
  totals = whole ? totals.where('day', '=', -1) : totals.where('day', '>=', first).where('day', '<=', last)
  // The people brought, as each person's evaluation counted them (journey/analytics.ts): so a
  // read sums kept rows per day, never the referred visitors themselves.
  let people = db
    .selectFrom('journey_daily')
    .select(['item', (eb) => eb.fn.sum<number>('a').as('people'), (eb) => eb.fn.sum<number>('b').as('known')])
    .where('dim', '=', 'referred')
    .groupBy('item')
  if (!whole) people = people.where('day', '>=', first).where('day', '<=', last)
  const [sums, brought, status] = await Promise.all([totals.execute(), people.execute(), worker.status(db)])
  const rows = new Map<string, ShareRow>()
  const row = (content: string, network: string) => {
    const k = `${content}\u0000${network}`
    let r = rows.get(k)
    if (!r) rows.set(k, (r = { content, network, shares: 0, referredVisits: 0, people: 0, becameKnown: 0 }))
    return r
  }
  for (const t of sums) {
    const r = row(t.content, t.network)
    r.shares = Number(t.shares)
    r.referredVisits = Number(t.visits)
  }
  for (const b of brought) {
    const [content = '', network = ''] = b.item.split(SEP)
    const r = row(content, network)
    r.people = Number(b.people)
    r.becameKnown = Number(b.known)
  }
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
  return {
    period: { from: iso(period.from), to: iso(period.to) },
    rows: [...rows.values()]
      .filter((r) => r.shares || r.referredVisits || r.people)
      .sort((a, b) => b.shares - a.shares || b.referredVisits - a.referredVisits || cmp(a.content, b.content) || cmp(a.network, b.network))
      .slice(0, TABLE_ROWS),
    status,
  }
}
