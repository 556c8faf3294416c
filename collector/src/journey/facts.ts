// Per-identifier facts from a batch of events, and the statements that add them up in the
// database. Each table takes one JSON array per statement (as the ingest writer does), so a
// batch of any size is three prepared statements, not one bind parameter per value.
import { CompiledQuery } from 'kysely'
import type { Db, Dialect } from '../db/schema.js'
import { dayOf, itemEarlier, itemsOfSignal, matches, touchEarlier, type ItemFact, type Matcher, type Signal } from './model.js'

export interface KeyedSignal {
  key: string
  signal: Signal
}

/** What a batch adds: [key, matcher, day, n], [key, channel, source, at], [key, kind, item, firstAt, firstIdentified, n]. */
export interface FactRows {
  hits: Array<[string, number, number, number]>
  touch: Array<[string, string, string | null, number]>
  items: Array<[string, string, string, number, number, number]>
}

/** Pure: the facts of a batch, for the given matchers (by id) and, when `items`, touches and items too. */
export function factRows(events: KeyedSignal[], matchers: ReadonlyArray<[number, Matcher]>, items = true): FactRows {
  const hits = new Map<string, [string, number, number, number]>()
  const touch = new Map<string, [string, string, string | null, number]>()
  const its = new Map<string, [string, string, string, ItemFact]>()
  for (const { key, signal: s } of events) {
    const day = dayOf(s.t)
    for (const [id, m] of matchers) {
      if (!matches(m, s)) continue
      const k = `${key}\u0000${id}\u0000${day}`
      const row = hits.get(k)
      if (row) row[3]++
      else hits.set(k, [key, id, day, 1])
    }
    if (!items) continue
    if (s.channel !== null) {
      const prev = touch.get(key)
      if (!prev || touchEarlier({ at: s.t, channel: s.channel, source: s.source }, { at: prev[3], channel: prev[1], source: prev[2] })) {
        touch.set(key, [key, s.channel, s.source, s.t])
      }
    }
    for (const [kind, label] of itemsOfSignal(s)) {
      const k = `${key}\u0000${kind}\u0000${label}`
      const x = { at: s.t, identified: s.identified, n: 1 }
      const prev = its.get(k)
      if (!prev) its.set(k, [key, kind, label, x])
      else {
        if (itemEarlier(x, prev[3])) (prev[3].at = x.at), (prev[3].identified = x.identified)
        prev[3].n++
      }
    }
  }
  return {
    hits: [...hits.values()],
    touch: [...touch.values()],
    items: [...its.values()].map(([k, kind, label, x]) => [k, kind, label, x.at, x.identified ? 1 : 0, x.n]),
  }
}

/** `SELECT value->>0 AS c0, …` over one JSON array parameter, in the dialect's words. */
function jsonRows(dialect: Dialect, columns: Array<[name: string, type: 'text' | 'bigint']>): string {
  if (dialect === 'sqlite') return `SELECT ${columns.map(([n], i) => `value->>${i} AS ${n}`).join(', ')} FROM json_each(?) WHERE true`
  return `SELECT ${columns.map(([n, t], i) => `(value->>${i})${t === 'bigint' ? '::bigint' : ''} AS ${n}`).join(', ')} FROM jsonb_array_elements($1::jsonb)`
}

const statements = (d: Dialect) => ({
  hits: `INSERT INTO journey_hits (key, matcher, day, n) ${jsonRows(d, [['k', 'text'], ['m', 'bigint'], ['d', 'bigint'], ['n', 'bigint']])}
ON CONFLICT (key, matcher, day) DO UPDATE SET n = journey_hits.n + excluded.n`,
  touch: `INSERT INTO journey_touch (key, channel, source, at) ${jsonRows(d, [['k', 'text'], ['c', 'text'], ['s', 'text'], ['a', 'bigint']])}
ON CONFLICT (key) DO UPDATE SET channel = excluded.channel, source = excluded.source, at = excluded.at
WHERE excluded.at < journey_touch.at OR (excluded.at = journey_touch.at AND (excluded.channel < journey_touch.channel
  OR (excluded.channel = journey_touch.channel AND coalesce(excluded.source, '') < coalesce(journey_touch.source, ''))))`,
  items: `INSERT INTO journey_items (key, kind, item, first_at, first_identified, n)
${jsonRows(d, [['k', 'text'], ['kind', 'text'], ['i', 'text'], ['a', 'bigint'], ['fi', 'bigint'], ['n', 'bigint']])}
ON CONFLICT (key, kind, item) DO UPDATE SET
  first_at = CASE WHEN ${earlier} THEN excluded.first_at ELSE journey_items.first_at END,
  first_identified = CASE WHEN ${earlier} THEN excluded.first_identified ELSE journey_items.first_identified END,
  n = journey_items.n + excluded.n`,
})
const earlier = `(excluded.first_at < journey_items.first_at OR (excluded.first_at = journey_items.first_at AND excluded.first_identified < journey_items.first_identified))`

const STATEMENTS = { sqlite: statements('sqlite'), postgres: statements('postgres') }

export async function runJson(db: Db, text: string, rows: unknown[]): Promise<void> {
  if (rows.length) await db.executeQuery(CompiledQuery.raw(text, [JSON.stringify(rows)]))
}

export async function writeFacts(trx: Db, dialect: Dialect, rows: FactRows): Promise<void> {
  const s = STATEMENTS[dialect]
  await runJson(trx, s.hits, rows.hits)
  await runJson(trx, s.touch, rows.touch)
  await runJson(trx, s.items, rows.items)
}

export { jsonRows }
