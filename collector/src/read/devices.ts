// A person's devices (anonymous ids), most recently seen first, a page at a time: a person may
// hold up to MAX_ANONYMOUS_IDS of them (and more from before that cap), too many for one answer.
import type { Device, DevicesPage } from '@waymark/contract'
import { sql, type ExpressionBuilder } from 'kysely'
import type { DB, Db } from '../db/schema.js'
import { liveProfile } from '../identity/graph.js'
import { decodeCursor, encodeCursor } from '../lib/cursor.js'

interface DevicesCursor {
  seen: number
  key: string
}
const isCursor = (v: unknown): v is DevicesCursor =>
  typeof v === 'object' && v !== null && Number.isInteger((v as DevicesCursor).seen) && typeof (v as DevicesCursor).key === 'string'

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString())

/** The id of the latest event of the identifier in column `i.key`: one row of the (identity_key, timestamp) index. */
const latestEventOf = (eb: ExpressionBuilder<DB & { i: { key: string } }, 'i'>) =>
  eb.selectFrom('events as l').select('l.id').whereRef('l.identity_key', '=', 'i.key').orderBy('l.timestamp', 'desc').orderBy('l.id', 'desc').limit(1)

/** Browser, OS and device of each of `keys` as its latest event describes them, in one query. */
export async function deviceAgents(db: Db, keys: string[]): Promise<Map<string, Pick<Device, 'browser' | 'os' | 'device'>>> {
  const out = new Map<string, Pick<Device, 'browser' | 'os' | 'device'>>()
  for (let at = 0; at < keys.length; at += 500) {
    const rows = await db
      .selectFrom('identifiers as i')
      .innerJoin('events as e', (join) => join.on((eb) => eb('e.id', '=', latestEventOf(eb))))
      .select(['i.key', 'e.browser', 'e.os', 'e.device'])
      .where('i.key', 'in', keys.slice(at, at + 500))
      .execute()
    for (const r of rows) out.set(r.key, { browser: r.browser, os: r.os, device: r.device })
  }
  return out
}

/** One page of a live profile's devices; null when no such profile. */
export async function devicesPage(db: Db, requestedId: string, opts: { cursor?: string; limit: number }): Promise<DevicesPage | null> {
  const after = decodeCursor(opts.cursor, isCursor)
  const live = await liveProfile(db, requestedId).select('live.id as id').executeTakeFirst()
  if (!live) return null
  const seen = sql<number>`coalesce(i.last_seen, 0)`
  let q = db
    .selectFrom('identifiers as i')
    .select(['i.key', 'i.value', 'i.event_count', 'i.first_seen', 'i.last_seen'])
    .where('i.profile_id', '=', live.id)
    .where('i.kind', '=', 'anonymousId')
  if (after) q = q.where((eb) => eb.or([eb(seen, '<', after.seen), eb.and([eb(seen, '=', after.seen), eb('i.key', '>', after.key)])]))
  // The page first, then each of its devices as its latest event describes it: one row of the
  // (identity_key, timestamp) index per device, in the same query (SQLite has no LATERAL).
  const rows = await db
    .with('page', () => q.orderBy(seen, 'desc').orderBy('i.key').limit(opts.limit + 1))
    .selectFrom('page as i')
    .leftJoin('events as e', (join) => join.on((eb) => eb('e.id', '=', latestEventOf(eb))))
    .select(['i.key', 'i.value', 'i.event_count', 'i.first_seen', 'i.last_seen', 'e.browser', 'e.os', 'e.device'])
    .orderBy(seen, 'desc')
    .orderBy('i.key')
    .execute()
  const page = rows.slice(0, opts.limit)
  const devices = page.map(
    (i): Device => ({
      anonymousId: i.value,
      browser: i.browser ?? null,
      os: i.os ?? null,
      device: i.device ?? null,
      events: Number(i.event_count),
      firstSeen: iso(i.first_seen),
      lastSeen: iso(i.last_seen),
    }),
  )
  const last = page[page.length - 1]
  return {
    profileId: live.id,
    devices,
    nextCursor: rows.length > opts.limit && last ? encodeCursor({ seen: Number(last.last_seen ?? 0), key: last.key } satisfies DevicesCursor) : null,
  }
}
