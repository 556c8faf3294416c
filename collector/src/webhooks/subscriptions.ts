// Webhook subscriptions: those of the journey config file (kept in step with it at start) and
// those created through the admin API. The secret is written here and read only by the sender.
import { randomBytes } from 'node:crypto'
import { WEBHOOK_LIMITS, type WebhookSubscription, type WebhookTriggers } from '@waymark/contract'
import type { Store } from '../db/connect.js'
import type { Db, WebhookSubscriptionsTable } from '../db/schema.js'
import { checkSecret, checkTargetUrl, checkTriggers, secretOf, WebhookError, type KnownIds, type Subscription } from './model.js'

/** A subscription from the journey config file. */
export interface ConfigWebhook {
  id: string
  url: string
  secret: string
  triggers: WebhookTriggers
}

const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/

/**
 * Pure: checks the config file's `webhooks` list against the config's stages and segments.
 * A secret is given as `secret`, or as `secretEnv`, the name of an environment variable.
 */
export function checkConfigWebhooks(v: unknown, known: KnownIds, env: Record<string, string | undefined>): ConfigWebhook[] {
  if (v === undefined) return []
  if (!Array.isArray(v)) throw new WebhookError('webhooks must be a list')
  if (v.length > WEBHOOK_LIMITS.subscriptions) throw new WebhookError(`webhooks: at most ${WEBHOOK_LIMITS.subscriptions}`)
  const seen = new Set<string>()
  return v.map((w: unknown, i) => {
    const p = `webhooks[${i}]`
    const at = (err: unknown) => new WebhookError(`${p}.${(err as Error).message}`)
    if (typeof w !== 'object' || w === null || Array.isArray(w)) throw new WebhookError(`${p} must be an object`)
    const o = w as Record<string, unknown>
    for (const k of Object.keys(o)) if (!['id', 'url', 'secret', 'secretEnv', 'triggers'].includes(k)) throw new WebhookError(`${p}.${k}: unexpected field; use id, url, secret or secretEnv, triggers`)
    if (typeof o.id !== 'string' || !ID.test(o.id)) throw new WebhookError(`${p}.id must be lower-case letters, digits, - or _ (1–64)`)
    if (seen.has(o.id)) throw new WebhookError(`${p}.id: duplicate id "${o.id}"`)
    seen.add(o.id)
    let url: URL
    let secret: string
    let triggers: WebhookTriggers
    try {
      url = checkTargetUrl(o.url)
    } catch (err) {
      throw at(err)
    }
    if ((o.secret === undefined) === (o.secretEnv === undefined)) throw new WebhookError(`${p} needs secret or secretEnv (one of them)`)
    if (o.secretEnv !== undefined && (typeof o.secretEnv !== 'string' || env[o.secretEnv] === undefined)) {
      throw new WebhookError(`${p}.secretEnv: the environment variable ${String(o.secretEnv)} is not set`)
    }
    try {
      secret = checkSecret(o.secret ?? env[o.secretEnv as string]?.trim())
    } catch (err) {
      throw at(err)
    }
    try {
      triggers = checkTriggers(o.triggers, known, 'triggers')
    } catch (err) {
      throw at(err)
    }
    return { id: o.id, url: url.href, secret, triggers }
  })
}

const highestEventId = async (db: Db) => Number((await db.selectFrom('events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst())?.id ?? 0)

const fromRow = (r: Pick<WebhookSubscriptionsTable, 'id' | 'url' | 'triggers' | 'source' | 'created_at'>): WebhookSubscription => ({
  id: r.id,
  url: r.url,
  triggers: JSON.parse(r.triggers) as WebhookTriggers,
  source: r.source,
  createdAt: new Date(Number(r.created_at)).toISOString(),
})

/** Every subscription, oldest first, without its secret. */
export async function listSubscriptions(db: Db): Promise<WebhookSubscription[]> {
  const rows = await db.selectFrom('webhook_subscriptions').select(['id', 'url', 'triggers', 'source', 'created_at']).orderBy('created_at').orderBy('id').execute()
  return rows.map(fromRow)
}

export async function getSubscription(db: Db, id: string): Promise<WebhookSubscription | null> {
  const r = await db.selectFrom('webhook_subscriptions').select(['id', 'url', 'triggers', 'source', 'created_at']).where('id', '=', id).executeTakeFirst()
  return r ? fromRow(r) : null
}

/** What the outbox matches against (in the journey worker's transaction). */
export async function matchingView(db: Db): Promise<Subscription[]> {
  const rows = await db.selectFrom('webhook_subscriptions').select(['id', 'triggers', 'from_event', 'created_at']).orderBy('id').execute()
  return rows.map((r) => ({ id: r.id, triggers: JSON.parse(r.triggers) as WebhookTriggers, fromEvent: Number(r.from_event), createdAt: Number(r.created_at) }))
}

/** Where and with what key one subscription's deliveries go (for the sender). */
export async function targets(db: Db, ids: string[]): Promise<Map<string, { url: string; secret: string }>> {
  if (ids.length === 0) return new Map()
  const rows = await db.selectFrom('webhook_subscriptions').select(['id', 'url', 'secret']).where('id', 'in', ids).execute()
  return new Map(rows.map((r) => [r.id, { url: r.url, secret: r.secret }]))
}

export class TooManySubscriptions extends WebhookError {}

/**
 * A new API subscription. Its secret is the one given, else a fresh one; it is returned here
 * and never again. Events stored before now are never its cause.
 */
export async function createSubscription(
  store: Store,
  input: { url: string; triggers: WebhookTriggers; secret?: string },
  now: number,
): Promise<WebhookSubscription & { secret: string }> {
  const secret = input.secret ?? secretOf(randomBytes(32))
  const id = `wh_${now.toString(36)}${randomBytes(6).toString('hex')}`
  return store.transaction(async (trx) => {
    const n = await trx.selectFrom('webhook_subscriptions').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst()
    if (Number(n?.n ?? 0) >= WEBHOOK_LIMITS.subscriptions) throw new TooManySubscriptions(`at most ${WEBHOOK_LIMITS.subscriptions} webhooks; delete one first`)
    const row = { id, url: input.url, secret, triggers: JSON.stringify(input.triggers), source: 'api' as const, created_at: now, from_event: await highestEventId(trx) }
    await trx.insertInto('webhook_subscriptions').values(row).execute()
    return { ...fromRow(row), secret }
  })
}

/** Deletes an API subscription, then its deliveries; config ones are changed in the file. */
export async function deleteSubscription(store: Store, id: string): Promise<'deleted' | 'config' | 'missing'> {
  const done = await store.transaction(async (trx) => {
    const row = await trx.selectFrom('webhook_subscriptions').select('source').where('id', '=', id).executeTakeFirst()
    if (!row) return 'missing'
    if (row.source === 'config') return 'config'
    await trx.deleteFrom('webhook_subscriptions').where('id', '=', id).execute()
    return 'deleted'
  })
  if (done === 'deleted') await purgeDeliveries(store, [id])
  return done
}

/** Rows per delete: a subscription's history is deleted in short transactions. */
const PURGE_BATCH = 1_000

/** Deletes the deliveries of subscriptions that are gone (the sender skips them meanwhile). */
async function purgeDeliveries(store: Store, ids: string[]): Promise<void> {
  for (const id of ids) {
    for (;;) {
      const n = await store.transaction(async (trx) => {
        const seqs = (await trx.selectFrom('webhook_deliveries').select('seq').where('subscription_id', '=', id).limit(PURGE_BATCH).execute()).map((r) => r.seq)
        if (seqs.length) await trx.deleteFrom('webhook_deliveries').where('seq', 'in', seqs).execute()
        return seqs.length
      })
      if (n < PURGE_BATCH) break
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
}

/**
 * Makes the stored config subscriptions those of the file: new ones start from now (history is
 * not sent), changed ones keep their start, removed ones go with their deliveries.
 */
export async function syncConfigSubscriptions(store: Store, list: ConfigWebhook[], now: number): Promise<void> {
  const gone = await store.transaction(async (trx) => {
    // Processes starting at once on one database each run this: inserts that meet do nothing.
    for (const w of list) {
      const values = { url: w.url, secret: w.secret, triggers: JSON.stringify(w.triggers) }
      const from = await highestEventId(trx)
      await trx
        .insertInto('webhook_subscriptions')
        .values({ id: w.id, ...values, source: 'config', created_at: now, from_event: from })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute()
      const r = await trx.updateTable('webhook_subscriptions').set(values).where('id', '=', w.id).where('source', '=', 'config').executeTakeFirst()
      if (Number(r.numUpdatedRows) === 0) throw new WebhookError(`webhooks: id "${w.id}" is taken by a webhook created through the API`)
    }
    const stored = await trx.selectFrom('webhook_subscriptions').select('id').where('source', '=', 'config').execute()
    const wanted = new Set(list.map((w) => w.id))
    const gone = stored.map((r) => r.id).filter((id) => !wanted.has(id))
    if (gone.length) await trx.deleteFrom('webhook_subscriptions').where('id', 'in', gone).execute()
    return gone
  })
  await purgeDeliveries(store, gone)
}
