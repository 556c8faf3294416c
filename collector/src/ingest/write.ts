// The write path of one request: identities first, then events and per-identifier statistics
// in one transaction. Only after COMMIT does the route answer 200, so an acknowledged event
// is stored and a failed request stores nothing the client is told about.
import { sql } from 'kysely'
import type Database from 'better-sqlite3'
import type { Store } from '../db/connect.js'
import type { Db } from '../db/schema.js'
import { isUnavailable } from '../db/errors.js'
import {
  applyIdentityWork,
  ensureAnonymous,
  pendingIdentityWork,
  withIdentityRetries,
  type IdentityWork,
} from '../identity/graph.js'
import { kindOfKey } from '../identity/identifiers.js'
import type { EventRow, PreparedEvent } from './normalize.js'

interface KeyStats {
  count: number
  first: number
  last: number
  firstTouch?: { at: number; json: string }
  lastTouch?: { at: number; json: string }
}

const COLUMNS = [
  'message_id', 'source', 'type', 'event', 'name', 'identity_key', 'anonymous_id', 'user_id', 'email',
  'previous_id', 'session_id', 'timestamp', 'original_timestamp', 'sent_at', 'received_at', 'properties',
  'traits', 'context', 'browser', 'os', 'device', 'is_bot', 'ip',
] as const satisfies ReadonlyArray<keyof EventRow>

// Hot path on SQLite: one prepared statement run per row inside the transaction. Kysely would
// compile a fresh multi-row INSERT per request; measured in bench/collector.mjs, the prepared
// statement keeps ingest close to the raw-insert floor.
const sqliteInsert = new WeakMap<Database.Database, Database.Statement>()
function insertSqlite(sqlite: Database.Database, rows: EventRow[]): Set<string> {
  // Rows were deduplicated by messageId before, so a set of ids is unambiguous.
  let stmt = sqliteInsert.get(sqlite)
  if (!stmt) {
    stmt = sqlite.prepare(
      `INSERT INTO events (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')}) ON CONFLICT (message_id) DO NOTHING`,
    )
    sqliteInsert.set(sqlite, stmt)
  }
  const inserted = new Set<string>()
  for (const row of rows) {
    if (stmt.run(COLUMNS.map((c) => row[c])).changes === 1) inserted.add(row.message_id)
  }
  return inserted
}

async function insertPostgres(trx: Db, rows: EventRow[]): Promise<Set<string>> {
  const returned = await trx
    .insertInto('events')
    .values(rows)
    .onConflict((oc) => oc.column('message_id').doNothing())
    .returning('message_id')
    .execute()
  return new Set(returned.map((r) => r.message_id))
}

function statsByKey(events: PreparedEvent[]): Map<string, KeyStats> {
  const stats = new Map<string, KeyStats>()
  for (const { row, touch } of events) {
    let s = stats.get(row.identity_key)
    if (!s) stats.set(row.identity_key, (s = { count: 0, first: row.timestamp, last: row.timestamp }))
    s.count++
    s.first = Math.min(s.first, row.timestamp)
    s.last = Math.max(s.last, row.timestamp)
    if (touch) {
      if (!s.firstTouch || row.timestamp < s.firstTouch.at) s.firstTouch = { at: row.timestamp, json: JSON.stringify(touch) }
      if (!s.lastTouch || row.timestamp >= s.lastTouch.at) s.lastTouch = { at: row.timestamp, json: JSON.stringify(touch) }
    }
  }
  return stats
}

/**
 * Adds a group's activity to its identifiers in one statement (one round trip, whatever the
 * number of browsers in the group). Returns the keys it updated. Every SET expression reads
 * the row as it was before the UPDATE, in both databases.
 */
async function updateStats(trx: Db, stats: Map<string, KeyStats>): Promise<Set<string>> {
  const updated = new Set<string>()
  // Sorted, so concurrent transactions tend to lock identifier rows in the same order; a
  // deadlock that still happens is retried (withIdentityRetries).
  const entries = [...stats].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  for (let i = 0; i < entries.length; i += 500) {
    const rows = entries.slice(i, i + 500).map(
      ([key, s]) =>
        sql`SELECT CAST(${key} AS TEXT) AS k, CAST(${s.count} AS BIGINT) AS n, CAST(${s.first} AS BIGINT) AS f, CAST(${s.last} AS BIGINT) AS l,
          CAST(${s.firstTouch?.json ?? null} AS TEXT) AS ft, CAST(${s.firstTouch?.at ?? null} AS BIGINT) AS fta,
          CAST(${s.lastTouch?.json ?? null} AS TEXT) AS lt, CAST(${s.lastTouch?.at ?? null} AS BIGINT) AS lta`,
    )
    const firstTouchWins = sql`s.fta IS NOT NULL AND (identifiers.first_touch_at IS NULL OR identifiers.first_touch_at > s.fta)`
    const lastTouchWins = sql`s.lta IS NOT NULL AND (identifiers.last_touch_at IS NULL OR identifiers.last_touch_at <= s.lta)`
    const result = await sql<{ key: string }>`
      UPDATE identifiers SET
        event_count = identifiers.event_count + s.n,
        first_seen = CASE WHEN identifiers.first_seen IS NULL OR identifiers.first_seen > s.f THEN s.f ELSE identifiers.first_seen END,
        last_seen = CASE WHEN identifiers.last_seen IS NULL OR identifiers.last_seen < s.l THEN s.l ELSE identifiers.last_seen END,
        first_touch = CASE WHEN ${firstTouchWins} THEN s.ft ELSE identifiers.first_touch END,
        first_touch_at = CASE WHEN ${firstTouchWins} THEN s.fta ELSE identifiers.first_touch_at END,
        last_touch = CASE WHEN ${lastTouchWins} THEN s.lt ELSE identifiers.last_touch END,
        last_touch_at = CASE WHEN ${lastTouchWins} THEN s.lta ELSE identifiers.last_touch_at END
      FROM (${sql.join(rows, sql` UNION ALL `)}) AS s
      WHERE identifiers.key = s.k
      RETURNING identifiers.key`.execute(trx)
    for (const r of result.rows) updated.add(r.key)
  }
  return updated
}

async function upsertTraits(trx: Db, events: PreparedEvent[]): Promise<void> {
  // Last write wins per trait, by corrected event time — a late, older identify cannot
  // overwrite a newer value. Deduplicated first: one statement may not touch a row twice.
  const latest = new Map<string, { identifier_key: string; name: string; value: string; updated_at: number }>()
  for (const { row, traits } of events) {
    for (const [name, value] of traits) {
      const id = `${row.identity_key}\n${name}`
      const seen = latest.get(id)
      if (!seen || row.timestamp >= seen.updated_at) latest.set(id, { identifier_key: row.identity_key, name, value, updated_at: row.timestamp })
    }
  }
  const rows = [...latest.values()]
  for (let i = 0; i < rows.length; i += 200) {
    await trx
      .insertInto('traits')
      .values(rows.slice(i, i + 200))
      .onConflict((oc) =>
        oc
          .columns(['identifier_key', 'name'])
          .doUpdateSet((eb) => ({ value: eb.ref('excluded.value'), updated_at: eb.ref('excluded.updated_at') }))
          .where(sql<boolean>`excluded.updated_at >= traits.updated_at`),
      )
      .execute()
  }
}

async function writeEvents(store: Store, trx: Db, events: PreparedEvent[]): Promise<Set<string>> {
  const rows = events.map((e) => e.row)
  const inserted = store.sqlite ? insertSqlite(store.sqlite, rows) : await insertPostgres(trx, rows)
  const stored = events.filter((e) => inserted.has(e.row.message_id))
  const stats = statsByKey(stored)
  const updated = await updateStats(trx, stats)
  // An identifier that vanished since the identity step (the person was erased meanwhile):
  // its events still need a profile (rule 1), so each starts a new anonymous one.
  const orphans = new Map([...stats].filter(([key]) => !updated.has(key) && kindOfKey(key) === 'anonymousId'))
  if (orphans.size) {
    for (const key of orphans.keys()) await ensureAnonymous(trx, key)
    await updateStats(trx, orphans)
  }
  await upsertTraits(trx, stored)
  return inserted
}

/** Writes one group of events (already unique by messageId); returns the ids that were new. */
async function writeGroup(store: Store, events: PreparedEvent[]): Promise<Set<string>> {
  if (events.length === 0) return new Set()
  const identity: IdentityWork[] = events.map((e) => ({ identity: e.identity, at: e.row.timestamp, messageId: e.row.message_id }))
  if (store.dialect === 'sqlite') {
    // One writer: identities and events in a single transaction.
    return store.transaction(async (trx) => {
      await applyIdentityWork(trx, 'sqlite', await pendingIdentityWork(trx, identity))
      return writeEvents(store, trx, events)
    })
  }
  const pending = await pendingIdentityWork(store.db, identity)
  if (pending.ensure.length || pending.link.length) {
    await withIdentityRetries(() => store.transaction((trx) => applyIdentityWork(trx, 'postgres', pending)))
  }
  return withIdentityRetries(() => store.transaction((trx) => writeEvents(store, trx, events)))
}

/** What happened to one event of a request. */
export type Outcome = 'stored' | 'duplicate' | { error: string }

interface Waiting {
  events: PreparedEvent[]
  resolve: (outcomes: Outcome[]) => void
  reject: (err: unknown) => void
}

/**
 * Group commit: requests that arrive while a transaction is running are written together in
 * the next one. Each commit costs a WAL write (and on PostgreSQL an fsync) whatever its size,
 * so under load many small SDK batches cost about what one large batch does. A request is
 * answered only when the transaction holding its events has committed. If the database is
 * unavailable, every request of the group gets the error (a 503), none is acknowledged. If
 * the database refuses the data itself, the group is written again event by event, so only
 * the events it refuses are rejected — bad input never turns into a 5xx.
 */
export class GroupCommit {
  private queue: Waiting[] = []
  private running = 0

  constructor(
    private readonly store: Store,
    /** Concurrent transactions: 1 for SQLite (one writer), a few for PostgreSQL. */
    private readonly lanes = store.dialect === 'sqlite' ? 1 : 2,
    /** Upper bound on events per transaction, to keep each one short. */
    private readonly maxEvents = 2000,
  ) {}

  /** Resolves with one outcome per event, in order. */
  write(events: PreparedEvent[]): Promise<Outcome[]> {
    if (events.length === 0) return Promise.resolve([])
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject })
      if (this.running < this.lanes) void this.drain()
    })
  }

  private async drain(): Promise<void> {
    this.running++
    try {
      while (this.queue.length) {
        const group: Waiting[] = []
        let size = 0
        while (this.queue.length && (group.length === 0 || size + this.queue[0]!.events.length <= this.maxEvents)) {
          const next = this.queue.shift()!
          group.push(next)
          size += next.events.length
        }
        // The first copy of a messageId in the group is written; later copies are duplicates.
        const firsts = new Map<string, PreparedEvent>()
        for (const w of group) for (const e of w.events) if (!firsts.has(e.row.message_id)) firsts.set(e.row.message_id, e)
        try {
          const inserted = await writeGroup(this.store, [...firsts.values()])
          for (const w of group)
            w.resolve(w.events.map((e) => (firsts.get(e.row.message_id) === e && inserted.has(e.row.message_id) ? 'stored' : 'duplicate')))
        } catch (err) {
          if (isUnavailable(err)) for (const w of group) w.reject(err)
          else await this.oneByOne(group, firsts)
        }
      }
    } finally {
      this.running--
    }
  }

  private async oneByOne(group: Waiting[], firsts: Map<string, PreparedEvent>): Promise<void> {
    for (const w of group) {
      const outcomes: Outcome[] = []
      try {
        for (const e of w.events) {
          if (firsts.get(e.row.message_id) !== e) {
            outcomes.push('duplicate')
            continue
          }
          try {
            outcomes.push((await writeGroup(this.store, [e])).size ? 'stored' : 'duplicate')
          } catch (err) {
            if (isUnavailable(err)) throw err
            outcomes.push({ error: `the database refused this event: ${err instanceof Error ? err.message : String(err)}` })
          }
        }
        w.resolve(outcomes)
      } catch (err) {
        w.reject(err)
      }
    }
  }
}
