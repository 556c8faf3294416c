// PostgreSQL plans by table statistics. Its autovacuum keeps them when it is on; with it off
// (some CI images and managed setups), tables the collector grows from empty have none, and the
// planner guesses a `key IN (…)` of 40 keys is a seventh of the table: it scans. Measured at
// 9M events with autovacuum off: the journey worker read 940 events/s and ingest 2.6k/s; after
// one ANALYZE, 10,400 and 8,300. So the collector analyzes a table of its own once it has
// changed as much as autovacuum's default would wait for (50 rows + 10%), whichever is first.
// SQLite plans without statistics here (its indexes are chosen by shape), so this is PostgreSQL only.
import { sql } from 'kysely'
import type { Store } from './connect.js'

/** Arbitrary constant naming the statistics advisory lock: one process analyzes at a time. */
const STATISTICS_LOCK = 72_617_004
/** autovacuum_analyze_threshold and autovacuum_analyze_scale_factor's defaults. */
const THRESHOLD = 50
const SCALE = 0.1

export interface Staleness {
  table: string
  changed: number
  rows: number
}

/** Pure: the tables due an ANALYZE, most changed first. */
export function dueTables(tables: Staleness[]): string[] {
  return tables
    .filter((t) => t.changed > THRESHOLD + SCALE * t.rows)
    .sort((a, b) => b.changed - a.changed || (a.table < b.table ? -1 : 1))
    .map((t) => t.table)
}

/**
 * Analyzes the collector's tables (those its role owns) that changed enough since their last
 * ANALYZE (by anyone), at most `max` of them; returns their names. ANALYZE reads a sample (30,000
 * rows) and takes a lock that reads and writes do not wait for; each runs in a short transaction
 * of its own under an advisory lock, so two processes do not analyze at once, and gives up after
 * a second if a migration holds the table, rather than queue the table's traffic behind it.
 */
export async function analyzeGrown(store: Store, max = 4): Promise<string[]> {
  if (store.dialect !== 'postgres') return []
  const rows = await sql<{ table: string; changed: string; rows: string }>`
    SELECT s.relname AS table, s.n_mod_since_analyze AS changed, s.n_live_tup AS rows
    FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
    WHERE s.schemaname = current_schema() AND pg_get_userbyid(c.relowner) = current_user`.execute(store.db)
  const due = dueTables(rows.rows.map((r) => ({ table: r.table, changed: Number(r.changed), rows: Number(r.rows) }))).slice(0, max)
  const done: string[] = []
  for (const table of due) {
    const analyzed = await store.transaction(async (trx) => {
      const got = await sql<{ ok: boolean }>`SELECT pg_try_advisory_xact_lock(${STATISTICS_LOCK}) AS ok`.execute(trx)
      if (!got.rows[0]?.ok) return false
      await sql`SET LOCAL lock_timeout = '1s'`.execute(trx)
      await sql`ANALYZE ${sql.table(table)}`.execute(trx)
      return true
    })
    if (!analyzed) break
    done.push(table)
  }
  return done
}

/**
 * Runs analyzeGrown every `everyMs` until stopped, one run at a time; a failure is reported and
 * tried again at the next tick. Every 10 s: when nothing is due it costs one read of
 * pg_stat_user_tables, and a table is due again only once it grew by a tenth.
 */
export function keepStatistics(store: Store, onError: (err: unknown) => void, everyMs = 10_000): { stop(): Promise<void> } {
  if (store.dialect !== 'postgres') return { stop: async () => {} }
  let running: Promise<unknown> | null = null
  const timer = setInterval(() => {
    running ??= analyzeGrown(store)
      .catch(onError)
      .finally(() => (running = null))
  }, everyMs)
  timer.unref()
  return {
    async stop() {
      clearInterval(timer)
      await running
    },
  }
}
