// The outbox: deliveries are written by a journey listener in the worker's own transaction, so a
// delivery exists exactly when the change that causes it is stored. The sender claims due rows
// under a lease: on PostgreSQL with FOR UPDATE SKIP LOCKED, so processes sharing the database
// never take the same row; on SQLite one writer at a time makes the claim whole.
import { monotonicFactory } from 'ulid'
import { sql } from 'kysely'
import { writeTransaction, type Store } from '../db/connect.js'
import type { Db, WebhookDeliveriesTable } from '../db/schema.js'
import type { ChangeListener } from '../journey/hooks.js'
import { chunks } from '../journey/people.js'
import { inCauseOrder, itemOfChange, itemOfEvent, payloadOf, wants, type Item } from './model.js'
import { matchingView } from './subscriptions.js'

const ulid = monotonicFactory()
export const newDeliveryId = (now: number): string => `msg_${ulid(now)}`

/** Rows per INSERT: 17 values each, far under both databases' bind-parameter limits. */
const INSERT_CHUNK = 200

export interface OutboxOptions {
  /** A delivery is retried until this long after it was made. */
  maxAgeMs: number
}

/**
 * The journey listener that writes deliveries: for each subscription, the step's changes and
 * events it wants, one person's in the order their causes happened.
 */
export function outboxListener(opts: OutboxOptions): ChangeListener {
  return async (trx, _dialect, step) => {
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
    const rows: Array<Omit<WebhookDeliveriesTable, 'seq'>> = []
    for (const [profileId, list] of byPerson) {
      const origins = new Map(list)
      for (const item of inCauseOrder(list.map(([i]) => i))) {
        for (const sub of subs) {
          if (!wants(sub, item, origins.get(item), step.now)) continue
          const id = newDeliveryId(step.now)
          rows.push({
            id,
            subscription_id: sub.id,
            person_key: profileId,
            kind: item.type,
            payload: payloadOf(id, sub.id, item),
            status: 'pending',
            attempts: 0,
            created_at: step.now,
            next_attempt_at: step.now,
            expires_at: step.now + opts.maxAgeMs,
            lease_until: 0,
            lease_owner: null,
            last_attempt_at: null,
            last_status: null,
            last_error: null,
            last_body: null,
            delivered_at: null,
          })
        }
      }
    }
    for (const chunk of chunks(rows, INSERT_CHUNK)) await trx.insertInto('webhook_deliveries').values(chunk).execute()
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
  const skipLocked = store.dialect === 'postgres' ? sql`FOR UPDATE SKIP LOCKED` : sql``
  const rows = await writeTransaction(store, async (trx) =>
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

/** Keeps what one attempt came to, if this process still holds the lease. */
export async function recordAttempt(store: Store, c: Claimed, owner: string, a: Attempt): Promise<void> {
  await writeTransaction(store, (trx) =>
    trx
      .updateTable('webhook_deliveries')
      .set({
        status: a.status,
        last_attempt_at: a.at,
        last_status: a.httpStatus,
        last_error: a.error,
        last_body: a.body,
        next_attempt_at: a.nextAt ?? a.at,
        lease_until: 0,
        lease_owner: null,
        delivered_at: a.status === 'delivered' ? a.at : null,
      })
      .where('seq', '=', c.seq)
      .where('lease_owner', '=', owner)
      .execute(),
  )
}

/** A claimed delivery whose subscription is gone: dropped. */
export async function dropDelivery(store: Store, seq: number): Promise<void> {
  await writeTransaction(store, (trx) => trx.deleteFrom('webhook_deliveries').where('seq', '=', seq).execute())
}

/**
 * Sends a delivery again, with the same id, as soon as the sender gets to it (after the
 * person's earlier pending deliveries), retried for another `maxAgeMs`.
 */
export async function resend(store: Store, subscriptionId: string, deliveryId: string, now: number, maxAgeMs: number): Promise<'queued' | 'sending' | 'missing'> {
  return writeTransaction(store, async (trx) => {
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
  return writeTransaction(store, async (trx) => {
    const seqs = (
      await trx.selectFrom('webhook_deliveries').select('seq').where('status', '<>', 'pending').where('created_at', '<', before).orderBy('created_at').limit(limit).execute()
    ).map((r) => r.seq)
    if (seqs.length) await trx.deleteFrom('webhook_deliveries').where('seq', 'in', seqs).execute()
    return seqs.length
  })
}

/** When the earliest pending delivery is due (null: none pending). */
export async function nextDue(db: Db): Promise<number | null> {
  const r = await db.selectFrom('webhook_deliveries').select((eb) => eb.fn.min('next_attempt_at').as('t')).where('status', '=', 'pending').executeTakeFirst()
  return r?.t === null || r?.t === undefined ? null : Number(r.t)
}
