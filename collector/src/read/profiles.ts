// Queries behind the read API (docs/contract.md, Read API). A profile's data is gathered through its identifiers:
// activity and traits live per identifier, so a merge never has to rewrite them.
import { sql, type Selectable } from 'kysely'
import type { Db, IdentifiersTable as IdentifiersColumns, ProfilesTable } from '../db/schema.js'
import { parseJson } from '../db/schema.js'
import { liveProfile } from '../identity/graph.js'
import { isBeforeIdentification, KIND_EVENTS, KIND_TYPES, normalizeEmail, pathOfUrl, TIMELINE_KINDS, touchOfEvent, type TimelineKind, type TouchAt } from '@waymark/contract'
import { decodeCursor, encodeCursor } from '../lib/cursor.js'
import { BadRequest } from '../lib/errors.js'
import { identifierKey } from '../identity/identifiers.js'
import type { ProfileDetail, ProfileSummary, TimelineEvent, TimelinePage } from '@waymark/contract'

type IdentifiersTable = Selectable<IdentifiersColumns>

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/**
 * Identifier keys per IN list. Anyone with the (public) write key can give a person any number
 * of anonymous ids; one IN list of them all breaks past the bind-parameter limits (SQLite
 * 32,766, PostgreSQL 65,535).
 */
const IN_CHUNK = 500

function chunks<T>(items: T[], size = IN_CHUNK): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}


/** Anonymous ids listed with a profile; `GET /api/profiles/:id/devices` pages through all of them. */
const ANONYMOUS_SHOWN = 100

/** The userId and email, and the most recently seen anonymous ids, in the order they were linked. */
function shown(idents: IdentifiersTable[]): IdentifiersTable[] {
  const anonymous = idents.filter((i) => i.kind === 'anonymousId')
  const recent = new Set(anonymous.sort((a, b) => Number(b.last_seen ?? 0) - Number(a.last_seen ?? 0)).slice(0, ANONYMOUS_SHOWN))
  return idents.filter((i) => i.kind !== 'anonymousId' || recent.has(i)).sort((a, b) => a.created_at - b.created_at)
}

/** A person's earliest page view (on any device), as `touchOfEvent` reads it. */
interface FirstEvent {
  type: string
  properties: unknown
  context: unknown
  timestamp: number
  id: number
}

function summarize(p: ProfilesTable, idents: IdentifiersTable[], firstEvent: FirstEvent | undefined): ProfileSummary {
  let first: number | null = null
  let last: number | null = null
  let count = 0
  let lt: IdentifiersTable | null = null
  for (const i of idents) {
    count += Number(i.event_count)
    if (i.first_seen !== null && (first === null || i.first_seen < first)) first = i.first_seen
    if (i.last_seen !== null && (last === null || i.last_seen > last)) last = i.last_seen
    if (i.last_touch_at !== null && (!lt || i.last_touch_at > lt.last_touch_at!)) lt = i
  }
  let lastTouch: TouchAt | null = null
  if (lt) {
    lastTouch = { ...JSON.parse(lt.last_touch!), at: iso(lt.last_touch_at) }
    // stored as the URL the touch landed on; answered, like every touch, as its path
    if (lastTouch!.landingPage) lastTouch!.landingPage = pathOfUrl(lastTouch!.landingPage) ?? lastTouch!.landingPage
  }
  return {
    id: p.id,
    email: p.email,
    userId: p.user_id,
    stage: p.identified_at === null ? 'anonymous' : 'known',
    identifiedAt: iso(p.identified_at),
    createdAt: iso(p.created_at)!,
    firstSeen: iso(first),
    lastSeen: iso(last),
    eventCount: count,
    firstTouch: firstEvent ? { ...touchOfEvent({ ...firstEvent, properties: parseJson(firstEvent.properties as string), context: parseJson(firstEvent.context as string) }), at: iso(Number(firstEvent.timestamp)) } : null,
    lastTouch,
    identifiers: shown(idents).map((i) => ({ kind: i.kind, value: i.value, eventCount: Number(i.event_count), firstSeen: iso(i.first_seen), lastSeen: iso(i.last_seen) })),
    identifierCount: idents.length,
  }
}

/**
 * Each profile's earliest page view across its identifiers: one row of the
 * (identity_key, timestamp) index per identifier (the first page or screen on it), in one query
 * per 500 identifiers. An event from a server without a page (a backfilled order) tells
 * nothing of how the person arrived, and is passed over.
 */
async function firstEvents(db: Db, byProfile: Map<string, IdentifiersTable[]>): Promise<Map<string, FirstEvent>> {
  const owner = new Map<string, string>()
  for (const [profileId, idents] of byProfile) for (const i of idents) if (i.first_seen !== null) owner.set(i.key, profileId)
  const out = new Map<string, FirstEvent>()
  for (const chunk of chunks([...owner.keys()])) {
    // Two steps, each an index range: the first page of each identifier, then those events by
    // id. As one `id IN (subquery)`, PostgreSQL could not estimate the subquery and hashed a
    // scan of every event (1.5 s at 1M events for a People page of identified people).
    const firsts = await db
      .selectFrom('identifiers as i')
      .select((s) =>
        s
          .selectFrom('events as l')
          .select('l.id')
          .whereRef('l.identity_key', '=', 'i.key')
          .where('l.type', 'in', ['page', 'screen'])
          .orderBy('l.timestamp')
          .orderBy('l.id')
          .limit(1)
          .as('first'),
      )
      .where('i.key', 'in', chunk)
      .execute()
    const ids = firsts.flatMap((f) => (f.first === null ? [] : [Number(f.first)]))
    if (ids.length === 0) continue
    const rows = await db
      .selectFrom('events as e')
      .select(['e.identity_key', 'e.type', 'e.properties', 'e.context', 'e.timestamp', 'e.id'])
      .where('e.id', 'in', ids)
      .execute()
    for (const r of rows) {
      const profileId = owner.get(r.identity_key)!
      const prev = out.get(profileId)
      const e = { ...r, timestamp: Number(r.timestamp), id: Number(r.id) }
      if (!prev || e.timestamp < prev.timestamp || (e.timestamp === prev.timestamp && e.id < prev.id)) out.set(profileId, e)
    }
  }
  return out
}

export async function summaries(db: Db, profiles: ProfilesTable[]): Promise<ProfileSummary[]> {
  if (profiles.length === 0) return []
  const idents = await db.selectFrom('identifiers').selectAll().where('profile_id', 'in', profiles.map((p) => p.id)).execute()
  const byProfile = new Map<string, IdentifiersTable[]>()
  for (const i of idents) {
    const list = byProfile.get(i.profile_id) ?? []
    list.push(i)
    byProfile.set(i.profile_id, list)
  }
  const first = await firstEvents(db, byProfile)
  return profiles.map((p) => summarize(p, byProfile.get(p.id) ?? [], first.get(p.id)))
}


export async function getProfile(db: Db, requestedId: string): Promise<ProfileDetail | null> {
  // one round trip for the profile, whichever id of it was asked for (PostgreSQL: each query is one)
  const p = await liveProfile(db, requestedId).selectAll('live').executeTakeFirst()
  if (!p) return null
  const id = p.id
  const idents = await db.selectFrom('identifiers').selectAll().where('profile_id', '=', id).execute()
  const summary = summarize(p, idents, (await firstEvents(db, new Map([[id, idents]]))).get(id))
  const keys = idents.map((i) => i.key) // traits of every identifier, also those not listed
  // Independent of each other: asked together.
  const [traitRows, conflicts] = await Promise.all([
    Promise.all(chunks(keys).map((chunk) => db.selectFrom('traits').selectAll().where('identifier_key', 'in', chunk).execute())),
    db
      .selectFrom('identity_conflicts')
      .selectAll()
      .where((eb) => eb.or([eb('profile_id', '=', id), eb('other_profile_id', '=', id)]))
      .orderBy('id')
      .limit(100)
      .execute(),
  ])
  // Newest value of each trait across all of the person's identifiers. Trait names are the
  // sender's: built with fromEntries, a "__proto__" trait is an own key, not the prototype.
  const latest = new Map<string, ProfileDetail['traits'][string]>()
  for (const r of traitRows.flat().sort((a, b) => a.updated_at - b.updated_at)) latest.set(r.name, { value: JSON.parse(r.value), updatedAt: iso(r.updated_at)! })
  const traits: ProfileDetail['traits'] = Object.fromEntries(latest)
  return {
    ...summary,
    traits,
    conflicts: conflicts.map((c) => ({
      identifier: c.identifier_key,
      profileId: c.profile_id,
      otherProfileId: c.other_profile_id,
      reason: c.reason,
      at: iso(c.created_at)!,
      messageId: c.message_id,
    })),
    mergedFrom: id === requestedId ? null : requestedId,
  }
}

export async function lookupProfile(db: Db, by: { email?: string; anonymousId?: string; userId?: string }): Promise<ProfileDetail | null> {
  let key: string
  if (by.email !== undefined) {
    const email = normalizeEmail(by.email)
    if (!email) throw new BadRequest('email is not a valid email address')
    key = identifierKey('email', email)
  } else if (by.anonymousId !== undefined) key = identifierKey('anonymousId', by.anonymousId)
  else if (by.userId !== undefined) key = identifierKey('userId', by.userId)
  else throw new BadRequest('give one of email, anonymousId, userId')
  const row = await db.selectFrom('identifiers').select('profile_id').where('key', '=', key).executeTakeFirst()
  return row ? getProfile(db, row.profile_id) : null
}


export type { ProfileDetail, ProfileSummary, TimelineEvent }

/** Up to this many identifiers, the timeline reads each with its own query. */
const PER_KEY_QUERIES = 100

interface TimelineCursor {
  t: number
  id: number
}

/** `kinds=page,form`: the timeline kinds asked for (all when empty); a wrong name is a 400. */
export function parseKinds(value: string | undefined): TimelineKind[] {
  const kinds = (value ?? '').split(',').map((k) => k.trim()).filter(Boolean)
  for (const k of kinds) if (!TIMELINE_KINDS.includes(k as TimelineKind)) throw new BadRequest(`unknown kind "${k.slice(0, 40)}"; kinds are ${TIMELINE_KINDS.join(', ')}`)
  return kinds as TimelineKind[]
}

/** The events of `kinds`, in SQL: the contract's timelineKind, said as conditions on type and event. */
function kindFilter(kinds: TimelineKind[]) {
  const named = Object.values(KIND_EVENTS).flat()
  return sql<boolean>`(${sql.join(
    kinds.map((k) => {
      if (k === 'custom') return sql`(type = 'track' AND event NOT IN (${sql.join(named)}))`
      const types = KIND_TYPES[k] ?? []
      const events = k === 'identity' ? [] : KIND_EVENTS[k]
      const parts = [types.length ? sql`type IN (${sql.join(types)})` : null, events.length ? sql`(type = 'track' AND event IN (${sql.join(events)}))` : null].filter((x) => x !== null)
      return sql`(${sql.join(parts, sql` OR `)})`
    }),
    sql` OR `,
  )})`
}

/**
 * When each of a person's identifiers became theirs as an identified person: the identification
 * for their email and userId (and devices linked then), the later link for a device that joined
 * afterwards (journey/device-links.ts keeps when). Null while the person is anonymous.
 */
export async function identifiedAtByKey(db: Db, keys: string[], identifiedAt: number | null): Promise<Map<string, number | null>> {
  const out = new Map<string, number | null>(keys.map((k) => [k, identifiedAt]))
  if (identifiedAt === null) return out
  for (const chunk of chunks(keys.filter((k) => k.startsWith('anonymousId:')))) {
    for (const l of await db.selectFrom('device_links').select(['key', 'at']).where('key', 'in', chunk).execute()) {
      if (Number(l.at) > identifiedAt) out.set(l.key, Number(l.at))
    }
  }
  return out
}

export async function timeline(
  db: Db,
  requestedId: string,
  opts: { cursor?: string; limit: number; order: 'asc' | 'desc'; kinds?: TimelineKind[] },
): Promise<TimelinePage | null> {
  const profile = await liveProfileKeys(db, requestedId)
  if (!profile) return null
  const { id, keys } = profile
  const kinds = opts.kinds?.length && opts.kinds.length < TIMELINE_KINDS.length ? kindFilter(opts.kinds) : null
  const after = decodeCursor(
    opts.cursor,
    // Integers only: PostgreSQL refuses 1.5 for a BIGINT column (a 500), SQLite would compare it.
    (v): v is TimelineCursor => Number.isSafeInteger((v as TimelineCursor)?.t) && Number.isSafeInteger((v as TimelineCursor)?.id),
  )
  const desc = opts.order === 'desc'
  const cmp = desc ? '<' : '>'
  // One index range scan per identifier, each limited, then merged: the cost depends on the
  // page size and the number of identifiers, not on how many events the person has. A person
  // with very many identifiers is read an IN list at a time, so the query count stays bounded.
  const groups = keys.length <= PER_KEY_QUERIES ? keys.map((key) => [key]) : chunks(keys)
  const perKey = await Promise.all(
    groups.map((group) => {
      let q = db.selectFrom('events').selectAll().where('identity_key', 'in', group)
      if (kinds) q = q.where(kinds)
      if (after) {
        q = q.where((eb) =>
          eb.or([eb('timestamp', cmp, after.t), eb.and([eb('timestamp', '=', after.t), eb('id', cmp, after.id)])]),
        )
      }
      return q
        .orderBy('timestamp', desc ? 'desc' : 'asc')
        .orderBy('id', desc ? 'desc' : 'asc')
        .limit(opts.limit + 1)
        .execute()
    }),
  )
  const sign = desc ? -1 : 1
  const rows = perKey.flat().sort((a, b) => sign * (a.timestamp - b.timestamp || a.id - b.id))
  const page = rows.slice(0, opts.limit)
  const last = page[page.length - 1]
  const identifiedAt = profile.identified_at === null ? null : Number(profile.identified_at)
  const keyIdentifiedAt = await identifiedAtByKey(db, keys, identifiedAt)
  return {
    profileId: id,
    identifiedAt: iso(profile.identified_at),
    events: page.map((e) => ({
      messageId: e.message_id,
      type: e.type,
      event: e.event,
      name: e.name,
      timestamp: iso(e.timestamp)!,
      receivedAt: iso(e.received_at)!,
      originalTimestamp: iso(e.original_timestamp),
      sentAt: iso(e.sent_at),
      sessionId: e.session_id,
      anonymousId: e.anonymous_id,
      userId: e.user_id,
      email: e.email,
      properties: parseJson(e.properties),
      traits: parseJson(e.traits),
      context: parseJson(e.context),
      browser: e.browser,
      os: e.os,
      device: e.device,
      isBot: Number(e.is_bot) === 1,
      ip: e.ip,
      beforeIdentified: isBeforeIdentification(Number(e.timestamp), e.user_id !== null || e.email !== null, keyIdentifiedAt.get(e.identity_key) ?? identifiedAt),
    })),
    nextCursor: rows.length > opts.limit && last ? encodeCursor({ t: last.timestamp, id: last.id } satisfies TimelineCursor) : null,
  }
}

/** The live profile behind an id and its identifier keys, in one query (the timeline asked three in a row). */
async function liveProfileKeys(db: Db, requestedId: string): Promise<{ id: string; identified_at: number | null; keys: string[] } | null> {
  const rows = await liveProfile(db, requestedId)
    .leftJoin('identifiers', 'identifiers.profile_id', 'live.id')
    .select(['live.id as id', 'live.identified_at as identified_at', 'identifiers.key as key'])
    .execute()
  const first = rows[0]
  if (!first) return null
  return { id: first.id, identified_at: first.identified_at, keys: rows.flatMap((r) => (r.key === null ? [] : [r.key])) }
}

