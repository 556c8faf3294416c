// The outbox: deliveries are written by a journey listener in the worker's own transaction, so a
// delivery exists exactly when the change that causes it is stored. The sender claims due rows
// under a lease: on PostgreSQL with FOR UPDATE SKIP LOCKED, so processes sharing the database
// never take the same row; on SQLite one writer at a time makes the claim whole.
import { monotonicFactory } from 'ulid'
import { CompiledQuery, sql } from 'kysely'
import type { Store } from '../db/connect.js'
import type { Db, DeliveryStatus, Dialect } from '../db/schema.js'
import { jsonRows, runJson } from '../journey/facts.js'
import type { ChangeListener } from '../journey/hooks.js'
import { inCauseOrder, itemOfChange, itemOfEvent, payloadOf, wants, type Item } from './model.js'
import { matchingView } from './subscriptions.js'

const ulid = monotonicFactory()
/**
 * `status = 'pending'` as a literal, not a parameter: the due and finished indexes are partial
 * (WHERE status …). With a parameter SQLite can use them only by preparing the statement again
 * for the value bound, each time; written in, the plan is fixed, and EXPLAIN shows it
 * (collector/test/plans.test.ts binds NULL to every parameter).
 */
const PENDING = sql.lit<DeliveryStatus>('pending')
export const newDeliveryId = (now: number): string => `msg_${ulid(now)}`

// One statement over one JSON array parameter for a step's deliveries, and one for a sending pass's
// attempts: prepared once, whatever the count (building a query per row was most of the cost).
const statements = (d: Dialect) => ({
  // Ordered by the array's index, so seq follows the order the rows were made in.
  insert: `INSERT INTO webhook_deliveries (id, subscription_id, person_key, kind, payload, status, attempts, created_at, next_attempt_at, expires_at, lease_until)
${
  d === 'sqlite'
    ? `SELECT value->>0, value->>1, value->>2, value->>3, value->>4, 'pending', 0, value->>5, value->>5, value->>6, 0 FROM json_each(?) ORDER BY key`
    : `SELECT value->>0, value->>1, value->>2, value->>3, value->>4, 'pending', 0, (value->>5)::bigint, (value->>5)::bigint, (value->>6)::bigint, 0
FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS j(value, n) ORDER BY n`
}`,
  record: `UPDATE webhook_deliveries SET status = j.st, last_attempt_at = j.at, last_status = j.hs, last_error = j.er, last_body = j.bo,
  next_attempt_at = j.na, delivered_at = j.da, lease_until = 0, lease_owner = NULL
FROM (${jsonRows(d, [['sq', 'bigint'], ['st', 'text'], ['at', 'bigint'], ['hs', 'bigint'], ['er', 'text'], ['bo', 'text'], ['na', 'bigint'], ['da', 'bigint'], ['ow', 'text']])}) AS j
WHERE webhook_deliveries.seq = j.sq AND webhook_deliveries.lease_owner = j.ow`,
})
const STATEMENTS = { sqlite: statements('sqlite'), postgres: statements('postgres') }

export interface OutboxOptions {
  /** A delivery is retried until this long after it was made. */
  maxAgeMs: number
}

/**
 * The journey listener that writes deliveries: for each subscription, the step's changes and
 * events it wants, one person's in the order their causes happened.
 */
export function outboxListener(opts: OutboxOptions & { enqueued?: () => void }): ChangeListener {
  return async (trx, dialect, step) => {
    const subs = await matchingView(trx)
    if (subs.length === 0) return
    const byPerson = new Map<string, Array<[Item, 'event' | 'time' | 'config']>>()
    const add = (item: Item, origin: 'event' | 'time' | 'config') => {
      let list = byPerson.get(item.person.profileId)
      if (!list) byPerson.set(item.person.profileId, (list = []))
      list.push([item, origin])
    }
    for (const c of step.changes) add(itemOfChange(c, step.now), c.origin)
    // Only track events are forwarded: a subscription names them.
    if (subs.some((s) => s.triggers.event)) for (const { event, person } of step.events) if (event.type === 'track') add(itemOfEvent(event, person), 'event')
    const rows: unknown[] = []
    const expires = step.now + opts.maxAgeMs
    for (const [profileId, list] of byPerson) {
      const origins = new Map(list)
      for (const item of inCauseOrder(list.map(([i]) => i))) {
        for (const sub of subs) {
          if (!wants(sub, item, origins.get(item), step.now)) continue
          const id = newDeliveryId(step.now)
          rows.push([id, sub.id, profileId, item.type, payloadOf(id, sub.id, item), step.now, expires])
        }
      }
    }
    // In the order pushed: seq follows it, and a person's deliveries go out by seq.
    await runJson(trx, STATEMENTS[dialect].insert, rows)
    if (rows.length) opts.enqueued?.()
  }
}

/** A claimed delivery: this process may send it until the lease ends. */
export interface Claimed {
  seq: number
  id: string
  subscriptionId: string
  payload: string
  /** Attempts so far, this one included. */
  attempts: number
  expiresAt: number
}

/**
 * Takes up to `limit` due deliveries for `owner`. Only a person's earliest pending delivery per
 * subscription is ever due, so their deliveries go out one after another, in order.
 */
export async function claimDue(store: Store, owner: string, now: number, limit: number, leaseMs: number): Promise<Claimed[]> {
  // A read first: most looks find nothing due, and need no write lock for that.
  const due = await store.db
    .selectFrom('webhook_deliveries')
    .select('seq')
    .where('status', '=', PENDING)
    .where('next_attempt_at', '<=', now)
    .where('lease_until', '<=', now)
    // The due index's order: with it, finding nothing due is an empty range, never a scan.
    .orderBy('next_attempt_at')
    .limit(1)
    .executeTakeFirst()
  if (!due) return []
  const skipLocked = store.dialect === 'postgres' ? sql`FOR UPDATE SKIP LOCKED` : sql``
  const rows = await store.transaction(async (trx) =>
    sql<{ seq: number; id: string; subscription_id: string; payload: string; attempts: number; expires_at: number }>`
      UPDATE webhook_deliveries SET lease_until = ${now + leaseMs}, lease_owner = ${owner}, attempts = attempts + 1
      WHERE status = 'pending' AND lease_until <= ${now} AND seq IN (
        SELECT d.seq FROM webhook_deliveries d
        WHERE d.status = 'pending' AND d.next_attempt_at <= ${now} AND d.lease_until <= ${now}
          AND NOT EXISTS (
            SELECT 1 FROM webhook_deliveries e
            WHERE e.subscription_id = d.subscription_id AND e.person_key = d.person_key AND e.status = 'pending' AND e.seq < d.seq)
        ORDER BY d.next_attempt_at, d.seq
        LIMIT ${limit}
        ${skipLocked})
      RETURNING seq, id, subscription_id, payload, attempts, expires_at`.execute(trx),
  )
  return rows.rows
    .map((r) => ({ seq: Number(r.seq), id: r.id, subscriptionId: r.subscription_id, payload: r.payload, attempts: Number(r.attempts), expiresAt: Number(r.expires_at) }))
    .sort((a, b) => a.seq - b.seq)
}

export interface Attempt {
  status: 'pending' | 'delivered' | 'failed'
  at: number
  nextAt?: number
  httpStatus: number | null
  error: string | null
  body: string | null
}

/** Keeps what attempts came to (one transaction per sending pass), where this process still holds the lease. */
export async function recordAttempts(store: Store, owner: string, attempts: Array<[Claimed, Attempt]>): Promise<void> {
  if (attempts.length === 0) return
  const rows = attempts.map(([c, a]) => [c.seq, a.status, a.at, a.httpStatus, a.error, a.body, a.nextAt ?? a.at, a.status === 'delivered' ? a.at : null, owner])
  await store.transaction((trx) => trx.executeQuery(CompiledQuery.raw(STATEMENTS[store.dialect].record, [JSON.stringify(rows)])))
}

/** Claimed deliveries whose subscription is gone: dropped. */
export async function dropDeliveries(store: Store, seqs: number[]): Promise<void> {
  if (seqs.length) await store.transaction((trx) => trx.deleteFrom('webhook_deliveries').where('seq', 'in', seqs).execute())
}

/**
 * Sends a delivery again, with the same id, as soon as the sender gets to it (after the
 * person's earlier pending deliveries), retried for another `maxAgeMs`.
 */
export async function resend(store: Store, subscriptionId: string, deliveryId: string, now: number, maxAgeMs: number): Promise<'queued' | 'sending' | 'missing'> {
  return store.transaction(async (trx) => {
    const row = await trx.selectFrom('webhook_deliveries').select(['seq', 'lease_until']).where('id', '=', deliveryId).where('subscription_id', '=', subscriptionId).executeTakeFirst()
    if (!row) return 'missing'
    if (Number(row.lease_until) > now) return 'sending'
    await trx
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', next_attempt_at: now, expires_at: now + maxAgeMs, delivered_at: null })
      .where('seq', '=', row.seq)
      .execute()
    return 'queued'
  })
}

/** Deletes up to `limit` delivered or failed rows made before `before`; returns how many. */
export async function sweepFinished(store: Store, before: number, limit: number): Promise<number> {
  return store.transaction(async (trx) => {
    const seqs = (
      await trx.selectFrom('webhook_deliveries').select('seq').where('status', '<>', PENDING).where('created_at', '<', before).orderBy('created_at').limit(limit).execute()
    ).map((r) => r.seq)
    if (seqs.length) await trx.deleteFrom('webhook_deliveries').where('seq', 'in', seqs).execute()
    return seqs.length
  })
}

/** When the earliest pending delivery is due (null: none pending). */
export async function nextDue(db: Db): Promise<number | null> {
  const r = await db.selectFrom('webhook_deliveries').select((eb) => eb.fn.min('next_attempt_at').as('t')).where('status', '=', PENDING).executeTakeFirst()
  return r?.t === null || r?.t === undefined ? null : Number(r.t)
}
