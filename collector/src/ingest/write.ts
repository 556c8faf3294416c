// The write path of a group of requests: identities first (usually one SELECT that finds them
// all), then events, per-identifier statistics and traits in one transaction — on SQLite in the
// writer thread (sqlite-writer.ts). Only after COMMIT does the route answer 200, so an
// acknowledged event is stored and a failed request stores nothing the client is told about.
import { CompiledQuery } from 'kysely'
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
import { identifierKey, kindOfKey, type IdentityTuple } from '../identity/identifiers.js'
import type { PreparedEvent, Touch } from './normalize.js'
import { packRows, writerOf, type JobWriter } from './sqlite-writer.js'
import { ALL_OR_NOTHING_REFUSED, COLUMNS, PG_ALL_OR_NOTHING, STATEMENTS, type StatsEntry, type TraitEntry } from './statements.js'

/** How a row the database would not take is reported; the detail after it quotes values. */
export const DATABASE_REFUSED = 'the database refused this event'

/** Per-identifier activity of a group: count, first/last seen, first/last touch. */
function statsOf(events: PreparedEvent[]): StatsEntry[] {
  const stats = new Map<string, StatsEntry>()
  // The touches chosen so far, serialized once at the end (most events of a page carry one).
  const touches = new Map<StatsEntry, [first: Touch | null, last: Touch | null]>()
  for (const { row, touch } of events) {
    const t = row.timestamp
    let s = stats.get(row.identity_key)
    if (!s) {
      stats.set(row.identity_key, (s = [row.identity_key, 0, t, t, null, null, null, null]))
      touches.set(s, [null, null])
    }
    s[1]++
    s[2] = Math.min(s[2], t)
    s[3] = Math.max(s[3], t)
    if (touch) {
      const chosen = touches.get(s)!
      if (s[5] === null || t < s[5]) (chosen[0] = touch), (s[5] = t)
      if (s[7] === null || t >= s[7]) (chosen[1] = touch), (s[7] = t)
    }
  }
  for (const [s, [first, last]] of touches) {
    if (first) s[4] = JSON.stringify(first)
    if (last) s[6] = last === first ? s[4] : JSON.stringify(last)
  }
  // Sorted, so concurrent transactions tend to lock identifier rows in the same order; a
  // deadlock that still happens is retried (withIdentityRetries).
  return [...stats.values()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
}

/** identify traits, the newest per identifier and name (one statement may not touch a row twice). */
function traitsOf(events: PreparedEvent[]): TraitEntry[] {
  const latest = new Map<string, TraitEntry>()
  for (const { row, traits } of events) {
    for (const [name, value] of traits) {
      const id = `${row.identity_key}\n${name}`
      const seen = latest.get(id)
      if (!seen || row.timestamp >= seen[3]) latest.set(id, [row.identity_key, name, value, row.timestamp])
    }
  }
  // Sorted like the statistics, so concurrent upserts lock trait rows in one order.
  return [...latest.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, t]) => t)
}

const anonymousKeys = (stats: StatsEntry[]) => stats.map((s) => s[0]).filter((k) => kindOfKey(k) === 'anonymousId')

/**
 * SQLite: the group goes to the writer thread as one job. Its statistics assume every event is
 * new (the usual case); when some were duplicates, the thread rolls back and the group is
 * sent again without them. The thread gives each browser it does not know a profile (rule 1).
 */
async function writeSqlite(writer: JobWriter, events: PreparedEvent[]): Promise<Set<string>> {
  let group = events
  while (group.length) {
    const stats = statsOf(group)
    const traits = traitsOf(group)
    const result = await writer.write({
      rows: packRows(group.map((e) => e.row), COLUMNS),
      stats: JSON.stringify(stats),
      anonymousKeys: anonymousKeys(stats),
      traits: traits.length ? JSON.stringify(traits) : null,
    })
    if ('committed' in result) break
    const duplicates = new Set(result.duplicates)
    group = group.filter((e) => !duplicates.has(e.row.message_id))
  }
  return new Set(group.map((e) => e.row.message_id))
}

const run = async (db: Db, text: string, ...values: unknown[]) => (await db.executeQuery(CompiledQuery.raw(text, values))).rows
const pgRows = (events: PreparedEvent[]) => JSON.stringify(events.map((e) => Object.fromEntries(COLUMNS.map((c) => [c, e.row[c]]))))

/**
 * PostgreSQL: the usual group (no traits) in one all-or-nothing statement; a group it refuses
 * (duplicates, vanished identifiers) and a group with traits go through writePostgresExact.
 */
async function writePostgres(store: Store, events: PreparedEvent[]): Promise<Set<string>> {
  if (events.every((e) => e.traits.length === 0)) {
    const stats = statsOf(events)
    try {
      await withIdentityRetries(() => run(store.db, PG_ALL_OR_NOTHING, pgRows(events), JSON.stringify(stats), events.length, anonymousKeys(stats)))
      return new Set(events.map((e) => e.row.message_id))
    } catch (err) {
      if ((err as { code?: unknown }).code !== ALL_OR_NOTHING_REFUSED) throw err
    }
  }
  return withIdentityRetries(() => store.transaction((trx) => writePostgresExact(trx, events)))
}

/** PostgreSQL: insert, then the statistics and traits of what was new, in the caller's transaction. */
async function writePostgresExact(trx: Db, events: PreparedEvent[]): Promise<Set<string>> {
  const text = STATEMENTS.postgres
  const inserted = new Set((await run(trx, text.insert, pgRows(events))).map((r) => (r as { message_id: string }).message_id))
  const stored = events.filter((e) => inserted.has(e.row.message_id))
  const stats = statsOf(stored)
  const updated = new Set((await run(trx, text.stats, JSON.stringify(stats))).map((r) => (r as { key: string }).key))
  // An anonymous identifier that vanished since the identity step (the person was erased
  // meanwhile) still needs a profile for its events (rule 1): each starts a new one.
  const orphans = new Set(anonymousKeys(stats).filter((k) => !updated.has(k)))
  if (orphans.size) {
    await ensureAnonymous(trx, [...orphans])
    await run(trx, text.stats, JSON.stringify(stats.filter((s) => orphans.has(s[0]))))
  }
  const traits = traitsOf(stored)
  if (traits.length) await run(trx, text.traits, JSON.stringify(traits))
  return inserted
}

/**
 * PostgreSQL: anonymous identifiers this process knows exist. Events of a lone anonymousId
 * (most traffic) then skip the identity lookup, a query per group. No invalidation is needed: if the person
 * was erased since (by any process), the write finds the identifier missing and gives it a new
 * profile (the orphan path above), just as the lookup would have.
 */
export class KnownAnonymous {
  private readonly keys = new Set<string>()
  constructor(private readonly max = 100_000) {}

  /** The key of a tuple that is a lone anonymousId, else null. */
  static keyOf(t: IdentityTuple): string | null {
    return t.anonymousId && !t.userId && !t.email && !t.previousId ? identifierKey('anonymousId', t.anonymousId) : null
  }

  has(key: string | null): boolean {
    return key !== null && this.keys.has(key)
  }

  add(key: string | null): void {
    if (key === null) return
    if (this.keys.size >= this.max) this.keys.clear()
    this.keys.add(key)
  }
}

/** Writes one group of events (already unique by messageId); returns the ids that were new. */
async function writeGroup(store: Store, known: KnownAnonymous, events: PreparedEvent[]): Promise<Set<string>> {
  if (events.length === 0) return new Set()
  const writer = writerOf(store)
  const identity: IdentityWork[] = []
  for (const e of events) {
    const lone = KnownAnonymous.keyOf(e.identity)
    // SQLite's writer thread makes new browsers itself: only tuples that link need this step.
    if (writer ? lone === null : !known.has(lone)) identity.push({ identity: e.identity, at: e.row.timestamp, messageId: e.row.message_id })
  }
  if (identity.length) {
    const pending = await pendingIdentityWork(store.db, identity)
    if (pending.ensure.length || pending.link.length) {
      await withIdentityRetries(() => store.transaction((trx) => applyIdentityWork(trx, store.dialect, pending)))
    }
    for (const w of identity) known.add(KnownAnonymous.keyOf(w.identity))
  }
  if (writer) return writeSqlite(writer, events)
  return writePostgres(store, events)
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
  private readonly known = new KnownAnonymous()

  constructor(
    private readonly store: Store,
    /**
     * Groups in flight. SQLite: 3, so while the writer thread commits one group the next waits
     * at the thread and the main thread readies a third (the thread still runs them one at a
     * time; 3 measured 1–5% above 2 in bench/collector.mjs). PostgreSQL: 4 concurrent
     * transactions (its commits wait on WAL flushes, which concurrent commits share).
     */
    private readonly lanes = store.dialect === 'sqlite' ? 3 : 4,
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
          const inserted = await writeGroup(this.store, this.known, [...firsts.values()])
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
            outcomes.push((await writeGroup(this.store, this.known, [e])).size ? 'stored' : 'duplicate')
          } catch (err) {
            if (isUnavailable(err)) throw err
            outcomes.push({ error: `${DATABASE_REFUSED}: ${err instanceof Error ? err.message : String(err)}` })
          }
        }
        w.resolve(outcomes)
      } catch (err) {
        w.reject(err)
      }
    }
  }
}
