// The identity graph: the identity rules 1–7 (docs/contract.md, Identity), all in this one module.
//
// Model. An identifier (`anonymousId:…`, `userId:…`, `email:…`) points to exactly one profile.
// Every event is filed under one identifier (its `identity_key`, see identifiers.ts), so it
// belongs to exactly one profile (rule 1). Events are never rewritten: a merge only re-points
// identifier rows, so merging 100,000 anonymous events costs what merging 10 does, and an
// anonymous event that arrives after the merge still lands in the merged timeline (rule 2).
// Per-identifier statistics and traits hang off identifiers too, so they follow for free.
//
// A profile holds at most one userId and one email (columns with UNIQUE constraints mirror its
// identifier rows). Two profiles merge only when that stays true; otherwise the link is refused
// and written to identity_conflicts (rule 4). Writes that link identifiers run under one
// transaction-scoped lock (PostgreSQL advisory lock; SQLite's single writer), so two collector
// processes handling the same person at once serialize and end with one profile (rule 5).
// A profile gathers at most MAX_ANONYMOUS_IDS browsers: past it a browser stays its own person
// and the refused link is a conflict, so a public write key cannot pile browsers onto an email.
import { sql } from 'kysely'
import type { Db, Dialect, IdentifierKind, ProfilesTable } from '../db/schema.js'
import { isRetryableConflict } from '../db/errors.js'
import { identifierKey, kindOfKey, tupleKeys, valueOfKey, type IdentityTuple } from './identifiers.js'
import { MAX_ANONYMOUS_IDS } from '@waymark/contract'

export type Profile = ProfilesTable

export interface IdentityWork {
  identity: IdentityTuple
  /** Corrected timestamp of the event asking for it (sets identified_at, rule 7). */
  at: number
  messageId: string
}

export interface PendingWork {
  /** Lone anonymous identifiers seen for the first time: a new anonymous profile each. */
  ensure: Array<{ key: string; at: number }>
  /** Tuples that link identifiers or carry a userId/email not yet known. */
  link: IdentityWork[]
}

/** Arbitrary constant naming the identity advisory lock on PostgreSQL. */
export const IDENTITY_LOCK = 72_617_002
const CHUNK = 500

/**
 * Time-ordered, so listing profiles by id lists them by creation. Globals only: SQLite's writer
 * thread runs this function from its source text (ingest/sqlite-writer.ts).
 */
export function newProfileId(): string {
  return `p_${Date.now().toString(36).padStart(9, '0')}${Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString('hex')}`
}

export class IdentityRaceError extends Error {
  constructor(key: string) {
    super(`identifier ${key} was created concurrently`)
  }
}

async function ownersOf(db: Db, keys: string[]): Promise<Map<string, string>> {
  const owners = new Map<string, string>()
  for (let i = 0; i < keys.length; i += CHUNK) {
    const rows = await db
      .selectFrom('identifiers')
      .select(['key', 'profile_id'])
      .where('key', 'in', keys.slice(i, i + CHUNK))
      .execute()
    for (const r of rows) owners.set(r.key, r.profile_id)
  }
  return owners
}

/**
 * Read-only pass over a batch: which identity tuples need writing. Most events come from
 * already-known browsers, so this is usually one SELECT and nothing else.
 */
export async function pendingIdentityWork(db: Db, items: IdentityWork[]): Promise<PendingWork> {
  // Each tuple once, its earliest event first (the one whose time counts, rule 7).
  const bySig = new Map<string, IdentityWork[]>()
  for (const item of items) {
    const sig = `${tupleKeys(item.identity).join('\n')}\n${item.identity.previousId ?? ''}`
    const list = bySig.get(sig)
    if (list) list.push(item)
    else bySig.set(sig, [item])
  }
  for (const list of bySig.values()) list.sort((a, b) => a.at - b.at)
  const allKeys = new Set<string>()
  for (const [first] of bySig.values()) for (const k of tupleKeys(first!.identity)) allKeys.add(k)
  const owners = await ownersOf(db, [...allKeys])
  const work: PendingWork = { ensure: [], link: [] }
  /** Tuples that may need linking: the events of each that could, earliest first. */
  const candidates: IdentityWork[][] = []
  /** Identified tuples one profile already holds whole, by that profile. */
  const held = new Map<string, IdentityWork[][]>()
  for (const events of bySig.values()) {
    const first = events[0]!
    const keys = tupleKeys(first.identity)
    if (first.identity.previousId) candidates.push(events)
    else if (keys.length === 1 && kindOfKey(keys[0]!) === 'anonymousId') {
      if (!owners.has(keys[0]!)) work.ensure.push({ key: keys[0]!, at: first.at })
    } else if (keys.some((k) => !owners.has(k)) || new Set(keys.map((k) => owners.get(k))).size > 1) {
      candidates.push(events)
    } else {
      const owner = owners.get(keys[0]!)!
      const tuples = held.get(owner)
      if (tuples) tuples.push(events)
      else held.set(owner, [events])
    }
  }
  // Rule 7 whatever the arrival order: an identified event older than its person's
  // identification (a retry or backfill delivered after the identify) moves it back, as it
  // would have set it had it arrived first. One more SELECT, only for batches with such events.
  for (const [id, identifiedAt] of await identifiedAtOf(db, [...held.keys()])) {
    // Only its events older than the identification can move it.
    for (const events of held.get(id)!) if (identifiedAt !== null && events[0]!.at < identifiedAt) candidates.push(events.filter((w) => w.at < identifiedAt))
  }
  // Not a copy of an event already stored, though: a resent event is corrected for its own
  // transit time, a few ms earlier or later than the stored one, and is ingested once — its
  // identity work was done when the first copy was written. The tuple's earliest new event counts.
  const stored = await storedMessageIds(db, candidates.flatMap((events) => events.map((w) => w.messageId)))
  for (const events of candidates) {
    const fresh = events.find((w) => !stored.has(w.messageId))
    if (fresh) work.link.push(fresh)
  }
  return work
}

async function storedMessageIds(db: Db, ids: string[]): Promise<Set<string>> {
  const stored = new Set<string>()
  for (let i = 0; i < ids.length; i += CHUNK) {
    for (const r of await db.selectFrom('events').select('message_id').where('message_id', 'in', ids.slice(i, i + CHUNK)).execute()) stored.add(r.message_id)
  }
  return stored
}

async function identifiedAtOf(db: Db, ids: string[]): Promise<Map<string, number | null>> {
  const at = new Map<string, number | null>()
  for (let i = 0; i < ids.length; i += CHUNK) {
    const rows = await db
      .selectFrom('profiles')
      .select(['id', 'identified_at'])
      .where('id', 'in', ids.slice(i, i + CHUNK))
      .execute()
    // BIGINT comes back from PostgreSQL as text
    for (const r of rows) at.set(r.id, r.identified_at === null ? null : Number(r.identified_at))
  }
  return at
}

/**
 * Applies pending work inside the caller's transaction. No deadlock by construction: on
 * PostgreSQL, linking takes the identity lock exclusively and creating browsers takes it
 * shared, so a link never waits on a creation that waits on it; creations among themselves
 * insert their keys in one sorted statement, so they wait on each other in one global order.
 * (Inserted one by one in arrival order, two lanes meeting the same new browsers deadlocked.)
 */
export async function applyIdentityWork(trx: Db, dialect: Dialect, work: PendingWork): Promise<void> {
  await lockIdentity(trx, dialect, work.link.length ? 'exclusive' : 'shared')
  await ensureAnonymous(trx, work.ensure.map((e) => e.key))
  for (const w of work.link) await link(trx, w)
}

/** Serializes identity writes across processes for the rest of the transaction. */
export async function lockIdentity(trx: Db, dialect: Dialect, mode: 'exclusive' | 'shared' = 'exclusive'): Promise<void> {
  // SQLite: BEGIN IMMEDIATE already holds the database's single write lock.
  if (dialect !== 'postgres') return
  if (mode === 'shared') await sql`SELECT pg_advisory_xact_lock_shared(${IDENTITY_LOCK})`.execute(trx)
  else await sql`SELECT pg_advisory_xact_lock(${IDENTITY_LOCK})`.execute(trx)
}

/** Runs a transaction again when PostgreSQL reports a lost race (rule 5 under contention). */
export async function withIdentityRetries<T>(fn: () => Promise<T>, attempts = 8): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (err) {
      if (attempt >= attempts || !(err instanceof IdentityRaceError || isRetryableConflict(err))) throw err
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt))
    }
  }
}

async function createProfile(trx: Db): Promise<Profile> {
  const profile: Profile = {
    id: newProfileId(),
    created_at: Date.now(),
    user_id: null,
    email: null,
    identified_at: null,
    merged_into: null,
  }
  await trx.insertInto('profiles').values(profile).execute()
  return profile
}

/**
 * Rule 1: each browser seen for the first time is a profile of its own. Keys go in sorted, in
 * one statement a chunk, so concurrent transactions meet shared keys in the same order.
 */
export async function ensureAnonymous(trx: Db, keys: string[]): Promise<void> {
  const sorted = [...new Set(keys)].sort()
  for (let i = 0; i < sorted.length; i += CHUNK) {
    const chunk = sorted.slice(i, i + CHUNK)
    const now = Date.now()
    const rows = chunk.map((key) => ({ key, kind: kindOfKey(key), value: valueOfKey(key), profile_id: newProfileId(), created_at: now }))
    await trx
      .insertInto('profiles')
      .values(rows.map((r) => ({ id: r.profile_id, created_at: now, user_id: null, email: null, identified_at: null, merged_into: null })))
      .execute()
    const inserted = await trx.insertInto('identifiers').values(rows).onConflict((oc) => oc.column('key').doNothing()).returning('key').execute()
    // Another request created some first: drop the spare profiles, theirs are the ones.
    const created = new Set(inserted.map((r) => r.key))
    const spare = rows.filter((r) => !created.has(r.key)).map((r) => r.profile_id)
    if (spare.length) await trx.deleteFrom('profiles').where('id', 'in', spare).execute()
  }
}

async function attach(trx: Db, key: string, profileId: string): Promise<void> {
  const inserted = await trx
    .insertInto('identifiers')
    .values({ key, kind: kindOfKey(key), value: valueOfKey(key), profile_id: profileId, created_at: Date.now() })
    .onConflict((oc) => oc.column('key').doNothing())
    .executeTakeFirst()
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) throw new IdentityRaceError(key)
}

const claimColumn = (kind: IdentifierKind) => (kind === 'userId' ? 'user_id' : 'email') as 'user_id' | 'email'

/** Rule 4: a profile can take a userId/email only if it has none or the same one. */
function canClaim(p: Profile, kind: IdentifierKind, value: string): boolean {
  if (kind === 'anonymousId') return true
  const held = p[claimColumn(kind)]
  return held === null || held === value
}

/** Rule 4: two profiles merge only if they do not hold different userIds or emails. */
function mergeable(a: Profile, b: Profile): boolean {
  return (!a.user_id || !b.user_id || a.user_id === b.user_id) && (!a.email || !b.email || a.email === b.email)
}

const minTime = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b))

async function claim(trx: Db, p: Profile, kind: IdentifierKind, value: string, at: number): Promise<void> {
  const column = claimColumn(kind)
  p[column] = value
  p.identified_at = minTime(p.identified_at, at)
  await trx
    .updateTable('profiles')
    .set({ [column]: value, identified_at: p.identified_at })
    .where('id', '=', p.id)
    .execute()
}

/**
 * Rule 2/3: moves the loser's identifiers to the winner. Touches identifier and profile rows
 * only — never events — so its cost does not grow with history. The loser stays as a
 * tombstone (merged_into) so links to its id keep working.
 */
async function merge(trx: Db, a: Profile, b: Profile): Promise<{ winner: Profile; loser: Profile }> {
  // The identified profile survives; between equals, the older one (stable ids in the viewer).
  const aFirst =
    (a.identified_at !== null) !== (b.identified_at !== null)
      ? a.identified_at !== null
      : a.created_at !== b.created_at
        ? a.created_at < b.created_at
        : a.id < b.id
  const [winner, loser] = aFirst ? [a, b] : [b, a]
  await trx.updateTable('identifiers').set({ profile_id: winner.id }).where('profile_id', '=', loser.id).execute()
  await trx.updateTable('profiles').set({ merged_into: winner.id }).where('merged_into', '=', loser.id).execute()
  // Free the loser's UNIQUE claims before the winner takes them.
  await trx
    .updateTable('profiles')
    .set({ user_id: null, email: null, merged_into: winner.id })
    .where('id', '=', loser.id)
    .execute()
  winner.user_id ??= loser.user_id
  winner.email ??= loser.email
  winner.identified_at = minTime(winner.identified_at, loser.identified_at)
  await trx
    .updateTable('profiles')
    .set({ user_id: winner.user_id, email: winner.email, identified_at: winner.identified_at })
    .where('id', '=', winner.id)
    .execute()
  loser.merged_into = winner.id
  return { winner, loser }
}

async function recordConflict(
  trx: Db,
  key: string,
  profileId: string,
  otherProfileId: string,
  reason: string,
  messageId: string,
): Promise<void> {
  // A device that keeps sending both identities would otherwise record the same refusal
  // with every batch.
  const known = await trx
    .selectFrom('identity_conflicts')
    .select('id')
    .where('identifier_key', '=', key)
    .where('profile_id', '=', profileId)
    .where('other_profile_id', '=', otherProfileId)
    .executeTakeFirst()
  if (known) return
  await trx
    .insertInto('identity_conflicts')
    .values({ created_at: Date.now(), message_id: messageId, identifier_key: key, profile_id: profileId, other_profile_id: otherProfileId, reason })
    .execute()
}

/**
 * Rules 2–4 for one event's identifiers. Must run after lockIdentity in the same transaction.
 * The strongest identifier decides the target profile (userId, then email, then a device
 * profile that can take the claims, else a new one); every other identifier then joins it,
 * merges its profile into it, or — when that would put two userIds/emails in one person —
 * is left where it is and the conflict recorded.
 */
export async function link(trx: Db, work: IdentityWork): Promise<void> {
  const t = work.identity
  const keys = tupleKeys(t)
  if (t.previousId) {
    // alias: previousId is an earlier userId if we know it as one, else a device id.
    const asUser = identifierKey('userId', t.previousId)
    const prevKey = (await ownersOf(trx, [asUser])).has(asUser) ? asUser : identifierKey('anonymousId', t.previousId)
    if (!keys.includes(prevKey)) keys.push(prevKey)
  }
  const owners = await ownersOf(trx, keys)
  const profiles = new Map<string, Profile>()
  const ids = [...new Set(owners.values())]
  if (ids.length) {
    for (const p of await trx.selectFrom('profiles').selectAll().where('id', 'in', ids).execute()) profiles.set(p.id, p)
  }
  const claims = { userId: t.userId, email: t.email }
  const fits = (p: Profile) =>
    (!claims.userId || !p.user_id || p.user_id === claims.userId) && (!claims.email || !p.email || p.email === claims.email)

  const userKey = t.userId ? identifierKey('userId', t.userId) : null
  let target: Profile | undefined = userKey && owners.has(userKey) ? profiles.get(owners.get(userKey)!) : undefined
  if (!target) {
    for (const k of keys) {
      const p = owners.has(k) ? profiles.get(owners.get(k)!) : undefined
      if (p && fits(p)) {
        target = p
        break
      }
    }
  }
  target ??= await createProfile(trx)

  for (const key of keys) {
    const kind = kindOfKey(key)
    const value = valueOfKey(key)
    const owner = owners.get(key)
    if (owner === target.id) continue
    if (owner === undefined) {
      if (kind === 'anonymousId' && (await anonymousIds(trx, target.id)) >= MAX_ANONYMOUS_IDS) {
        // Every event still belongs to one person (rule 1): this browser stays one of its own.
        const own = await createProfile(trx)
        await attach(trx, key, own.id)
        owners.set(key, own.id)
        await recordConflict(trx, key, own.id, target.id, overCap(MAX_ANONYMOUS_IDS + 1), work.messageId)
      } else if (canClaim(target, kind, value)) {
        if (kind !== 'anonymousId') await claim(trx, target, kind, value, work.at)
        await attach(trx, key, target.id)
        owners.set(key, target.id)
      } else {
        // A second email/userId for this person: it becomes its own person (rule 4).
        const own = await createProfile(trx)
        await claim(trx, own, kind, value, work.at)
        await attach(trx, key, own.id)
        owners.set(key, own.id)
        await recordConflict(trx, key, own.id, target.id, `${kind} "${value}" differs from the ${kind} "${target[claimColumn(kind)]}" already held`, work.messageId)
      }
      continue
    }
    const other = profiles.get(owner)!
    if (!mergeable(target, other)) {
      const why = `refused to merge a profile holding ${describe(other)} with one holding ${describe(target)}`
      await recordConflict(trx, key, other.id, target.id, why, work.messageId)
      continue
    }
    const together = (await anonymousIds(trx, target.id)) + (await anonymousIds(trx, other.id))
    if (together > MAX_ANONYMOUS_IDS) {
      await recordConflict(trx, key, other.id, target.id, overCap(together), work.messageId)
      continue
    }
    const { winner, loser } = await merge(trx, target, other)
    for (const [k, id] of owners) if (id === loser.id) owners.set(k, winner.id)
    target = winner
  }
  // An identify that arrives late (offline queue) moves identified_at back (rule 7).
  if ((claims.userId || claims.email) && (target.user_id === claims.userId || target.email === claims.email)) {
    if (target.identified_at !== null && work.at < target.identified_at) {
      target.identified_at = work.at
      await trx.updateTable('profiles').set({ identified_at: work.at }).where('id', '=', target.id).execute()
    }
  }
}

/** A person's anonymous ids, counted by the identifiers' profile index (at most the cap and a batch). */
async function anonymousIds(trx: Db, profileId: string): Promise<number> {
  const row = await trx
    .selectFrom('identifiers')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('profile_id', '=', profileId)
    .where('kind', '=', 'anonymousId')
    .executeTakeFirst()
  return Number(row?.n ?? 0)
}

const overCap = (n: number) => `a person gathers at most ${MAX_ANONYMOUS_IDS} anonymous ids; this link would make ${n}`

function describe(p: Profile): string {
  return [p.user_id && `userId "${p.user_id}"`, p.email && `email "${p.email}"`].filter(Boolean).join(' and ') || 'no identity'
}

/**
 * The profile an id names: itself, or the live profile a merged-away id's tombstone points to,
 * as `live`. A query to build on, so readers fetch what they need in the same round trip.
 */
export const liveProfile = (db: Db, id: string) =>
  db
    .selectFrom('profiles as asked')
    .innerJoin('profiles as live', (join) => join.on((eb) => eb('live.id', '=', eb.fn.coalesce('asked.merged_into', 'asked.id'))))
    .where('asked.id', '=', id)

/** Follows a merged profile's tombstone to the live profile. */
export async function liveProfileId(db: Db, id: string): Promise<string | null> {
  return (await liveProfile(db, id).select('live.id').executeTakeFirst())?.id ?? null
}

export interface Erased {
  profileId: string
  events: number
  identifiers: number
}

/** Rule 6: erase a person — events, identifiers, traits, conflicts and merged tombstones. */
export async function eraseProfile(trx: Db, dialect: Dialect, id: string): Promise<Erased | null> {
  await lockIdentity(trx, dialect)
  const profileId = await liveProfileId(trx, id)
  if (!profileId) return null
  const keys = (await trx.selectFrom('identifiers').select('key').where('profile_id', '=', profileId).execute()).map((r) => r.key)
  let events = 0
  for (let i = 0; i < keys.length; i += CHUNK) {
    const chunk = keys.slice(i, i + CHUNK)
    const r = await trx.deleteFrom('events').where('identity_key', 'in', chunk).executeTakeFirst()
    events += Number(r.numDeletedRows)
    await trx.deleteFrom('identity_conflicts').where('identifier_key', 'in', chunk).execute()
  }
  await trx
    .deleteFrom('identity_conflicts')
    .where((eb) => eb.or([eb('profile_id', '=', profileId), eb('other_profile_id', '=', profileId)]))
    .execute()
  // Cascades: identifiers -> traits, and tombstones merged into this profile.
  await trx.deleteFrom('profiles').where('id', '=', profileId).execute()
  return { profileId, events, identifiers: keys.length }
}
