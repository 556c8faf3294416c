// The read side of the outbox: a subscription's deliveries, newest first, a page at a time.
import type { DeliveriesPage, DeliveryStatus, WebhookDelivery, WebhookPayload, WebhookTrigger } from '@waymark/contract'
import type { Selectable } from 'kysely'
import type { Db, WebhookDeliveriesTable } from '../db/schema.js'
import { decodeCursor, encodeCursor } from '../lib/cursor.js'

const iso = (t: number | null) => (t === null ? null : new Date(Number(t)).toISOString())

function deliveryOf(r: Selectable<WebhookDeliveriesTable>): WebhookDelivery {
  return {
    id: r.id,
    webhookId: r.subscription_id,
    type: r.kind as WebhookTrigger,
    profileId: r.person_key,
    status: r.status,
    attempts: Number(r.attempts),
    createdAt: iso(r.created_at)!,
    lastAttemptAt: iso(r.last_attempt_at),
    lastStatus: r.last_status === null ? null : Number(r.last_status),
    lastError: r.last_error,
    lastBody: r.last_body,
    nextAttemptAt: r.status === 'pending' ? iso(r.next_attempt_at) : null,
    deliveredAt: iso(r.delivered_at),
    payload: JSON.parse(r.payload) as WebhookPayload,
  }
}

export async function deliveriesPage(db: Db, subscriptionId: string, q: { status?: DeliveryStatus; cursor?: string; limit: number }): Promise<DeliveriesPage> {
  const after = decodeCursor(q.cursor, (v): v is { seq: number } => typeof (v as { seq?: unknown })?.seq === 'number')
  let query = db.selectFrom('webhook_deliveries').selectAll().where('subscription_id', '=', subscriptionId)
  if (q.status) query = query.where('status', '=', q.status)
  if (after) query = query.where('seq', '<', after.seq)
  const rows = await query.orderBy('seq', 'desc').limit(q.limit + 1).execute()
  const shown = rows.slice(0, q.limit)
  const last = shown[shown.length - 1]
  return { deliveries: shown.map(deliveryOf), nextCursor: rows.length > q.limit && last ? encodeCursor({ seq: Number(last.seq) }) : null }
}

/** One delivery, for the resend answer. */
export async function deliveryById(db: Db, subscriptionId: string, id: string): Promise<WebhookDelivery | null> {
  const r = await db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).where('subscription_id', '=', subscriptionId).executeTakeFirst()
  return r ? deliveryOf(r) : null
}
