// A person's devices (anonymous ids), most recently seen first, a page at a time: a person may
// hold up to MAX_ANONYMOUS_IDS of them (and more from before that cap), too many for one answer.
import type { Device, DevicesPage } from '@waymark/contract'
import { sql } from 'kysely'
import type { Db } from '../db/schema.js'
import { liveProfile } from '../identity/graph.js'
import { decodeCursor, encodeCursor } from '../lib/cursor.js'

interface DevicesCursor {
  seen: number
  key: string
}
const isCursor = (v: unknown): v is DevicesCursor =>
  typeof v === 'object' && v !== null && Number.isInteger((v as DevicesCursor).seen) && typeof (v as DevicesCursor).key === 'string'

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString())

/** One page of a live profile's devices; null when no such profile. */
export async function devicesPage(db: Db, requestedId: string, opts: { cursor?: string; limit: number }): Promise<DevicesPage | null> {
  const after = decodeCursor(opts.cursor, isCursor)
  const live = await liveProfile(db, requestedId).select('live.id as id').executeTakeFirst()
  if (!live) return null
  const seen = sql<number>`coalesce(last_seen, 0)`
  let q = db
    .selectFrom('identifiers')
    .select(['key', 'value', 'event_count', 'first_seen', 'last_seen'])
    .where('profile_id', '=', live.id)
    .where('kind', '=', 'anonymousId')
  if (after) q = q.where((eb) => eb.or([eb(seen, '<', after.seen), eb.and([eb(seen, '=', after.seen), eb('key', '>', after.key)])]))
  const rows = await q
    .orderBy(seen, 'desc')
    .orderBy('key')
    .limit(opts.limit + 1)
    .execute()
  const page = rows.slice(0, opts.limit)
  const devices = await Promise.all(
    page.map(async (i): Promise<Device> => {
      // The device as its latest event describes it: one row of the (identity_key, timestamp) index.
      const agent = await db
        .selectFrom('events')
        .select(['browser', 'os', 'device'])
        .where('identity_key', '=', i.key)
        .orderBy('timestamp', 'desc')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst()
      return {
        anonymousId: i.value,
        browser: agent?.browser ?? null,
        os: agent?.os ?? null,
        device: agent?.device ?? null,
        events: Number(i.event_count),
        firstSeen: iso(i.first_seen),
        lastSeen: iso(i.last_seen),
      }
    }),
  )
  const last = page[page.length - 1]
  return {
    profileId: live.id,
    devices,
    nextCursor: rows.length > opts.limit && last ? encodeCursor({ seen: Number(last.last_seen ?? 0), key: last.key } satisfies DevicesCursor) : null,
  }
}
