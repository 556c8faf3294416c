// Journey read queries over the tables the worker keeps: people lists filtered by stage,
// segment and identity, searched and sorted (indexed queries that read one page), a person's
// journey facts, the funnel and its tables (sums kept per day), segment counts (counters).
import { sql } from 'kysely'
import type { Db, Dialect } from '../db/schema.js'
import { decodeCursor, encodeCursor } from '../lib/cursor.js'
import { BadRequest } from '../lib/errors.js'
import { deviceAgents, devicesPage } from '../read/devices.js'
import { identifiedAtByKey, summaries } from '../read/profiles.js'
import type { JourneyReport, PeoplePage, PersonJourney, PersonSummary } from '@waymark/contract'
import { DAY } from './model.js'
import { chunks } from './people.js'
import type { JourneyWorker } from './worker.js'

export interface PeopleQuery {
  q?: string
  stage?: string
  segment?: string
  /** `true`: identified people only; `false`: anonymous only. */
  identified?: string
  /** `created` (default: newest profiles first) or `lastSeen` (most recently active first). */
  sort?: string
  cursor?: string
  limit: number
}


type Cursor = { id: string; ls?: number }

/** Counting the people a search or a combination of filters selects stops here. */
export const COUNT_CAP = 10_000

/** `column` starts with `prefix`, as a range the index serves (no pattern is matched on stored text). */
function startsWith(dialect: Dialect, column: string, prefix: string) {
  if (dialect === 'postgres') {
    const escaped = prefix.replace(/[\\%_]/g, (c) => `\\${c}`)
    return sql<boolean>`${sql.ref(column)} LIKE ${`${escaped}%`}`
  }
  // SQLite compares text bytewise: every string that starts with `prefix` sorts in [prefix, prefix + U+10FFFF).
  return sql<boolean>`(${sql.ref(column)} >= ${prefix} AND ${sql.ref(column)} < ${`${prefix}\u{10FFFF}`})`
}

/** Identifiers a search reads at most; a broader term lists people among that many of them. */
export const SEARCH_CAP = COUNT_CAP

/**
 * The people a search term names: a profile id, or identifiers starting with it (an email in
 * any case). Found first, each an index range, then the people list is filtered by them: as one
 * `IN (subquery) OR id = term`, PostgreSQL walked every person (0.45–3.7 s at a few million
 * events). A term broader than SEARCH_CAP identifiers keeps that many of them and says so
 * (`capped`, shown as totalCapped): a marketer types more of the address.
 */
async function matchingProfiles(db: Db, dialect: Dialect, term: string): Promise<{ ids: string[]; capped: boolean }> {
  const lower = term.toLowerCase()
  const rows = await db
    .selectFrom('identifiers')
    .select('profile_id')
    .where((w) => w.or([startsWith(dialect, 'value', term), w.and([w('kind', '=', 'email'), startsWith(dialect, 'value', lower)])]))
    // No order: sorting every match of a one-letter term would cost what the cap saves.
    .limit(SEARCH_CAP + 1)
    .execute()
  const capped = rows.length > SEARCH_CAP
  return { ids: [...new Set([term, ...rows.slice(0, SEARCH_CAP).map((r) => r.profile_id)])], capped }
}

export async function listPeople(
  db: Db,
  dialect: Dialect,
  worker: JourneyWorker,
  query: PeopleQuery,
): Promise<PeoplePage> {
  const config = worker.modelConfig()
  const stageIds = config.stages.map((s) => s.id)
  if (query.stage && !stageIds.includes(query.stage)) throw new BadRequest(`unknown stage "${query.stage}"; stages are ${stageIds.join(', ')}`)
  const segmentIds = config.segments.map((s) => s.id)
  if (query.segment && !segmentIds.includes(query.segment)) throw new BadRequest(`unknown segment "${query.segment}"; segments are ${segmentIds.join(', ')}`)
  if (query.identified !== undefined && query.identified !== 'true' && query.identified !== 'false') throw new BadRequest('identified must be true or false')
  const sort = query.sort ?? 'created'
  if (sort !== 'created' && sort !== 'lastSeen') throw new BadRequest('sort must be created or lastSeen')
  const after = decodeCursor(query.cursor, (v): v is Cursor => typeof (v as Cursor)?.id === 'string' && ((v as Cursor).ls === undefined || typeof (v as Cursor).ls === 'number'))
  const term = query.q?.trim() || undefined

  // The driving table: a segment's members (with their last-seen copy, for the sort) or everyone.
  // Ordered by the driving table's own columns, so its index gives the order: ordering a
  // segment's members by jp.profile_id sorted every member first (141 ms for "known" at 1M events).
  const seen = query.segment ? 'm.last_seen' : 'jp.last_seen'
  const id = query.segment ? 'm.profile_id' : 'jp.profile_id'
  let q = db.selectFrom('journey_people as jp')
  if (query.segment) q = q.innerJoin('journey_members as m', (j) => j.onRef('m.profile_id', '=', 'jp.profile_id').on('m.segment', '=', query.segment!))
  if (query.stage) q = q.where('jp.stage_index', '=', stageIds.indexOf(query.stage))
  if (query.identified) q = q.where('jp.identified', '=', query.identified === 'true' ? 1 : 0)
  const matched = term ? await matchingProfiles(db, dialect, term) : null
  if (matched) q = q.where('jp.profile_id', 'in', matched.ids)
  const filtered = q
  let page = q.select(['jp.profile_id', 'jp.stage_index', 'jp.score', 'jp.channel', 'jp.segments', sql<number>`${sql.ref(seen)}`.as('ls')])
  if (after) {
    page =
      sort === 'lastSeen'
        ? page.where((eb) => eb.or([eb(sql.ref(seen), '<', after.ls ?? -1), eb.and([eb(sql.ref(seen), '=', after.ls ?? -1), eb(sql.ref(id), '<', after.id)])]))
        : page.where(sql.ref(id), '<', after.id)
  }
  if (sort === 'lastSeen') page = page.orderBy(sql.ref(seen), 'desc')
  const rows = await page.orderBy(sql.ref(id), 'desc').limit(query.limit + 1).execute()

  const filters = [query.stage, query.segment, query.identified].filter(Boolean).length
  let total: number
  let capped = false
  if (!term && filters <= 1) {
    const name = query.stage ? `stage:${query.stage}` : query.segment ? `segment:${query.segment}` : query.identified === 'true' ? 'identified' : 'people'
    const counts = await db.selectFrom('journey_counts').select(['name', 'n']).where('name', 'in', [name, 'people', 'identified']).execute()
    const n = (k: string) => Number(counts.find((c) => c.name === k)?.n ?? 0)
    total = query.identified === 'false' ? n('people') - n('identified') : n(name)
  } else {
    const counted = await db
      .selectFrom(filtered.select('jp.profile_id').limit(COUNT_CAP + 1).as('x'))
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst()
    total = Number(counted?.n ?? 0)
    if (total > COUNT_CAP) (total = COUNT_CAP), (capped = true)
    if (matched?.capped) capped = true
  }

  const shown = rows.slice(0, query.limit)
  const last = shown[shown.length - 1]
  const nextCursor = rows.length > query.limit && last ? encodeCursor(sort === 'lastSeen' ? { id: last.profile_id, ls: Number(last.ls) } : { id: last.profile_id }) : null
  if (shown.length === 0) return { profiles: [], total, ...(capped ? { totalCapped: true as const } : {}), nextCursor }
  const profiles = await db.selectFrom('profiles').selectAll().where('id', 'in', shown.map((r) => r.profile_id)).execute()
  const byId = new Map((await summaries(db, profiles)).map((s) => [s.id, s]))
  const out: PersonSummary[] = []
  for (const r of shown) {
    const s = byId.get(r.profile_id)
    // Erased between the list and this read: left out of the page.
    if (!s) continue
    const stage = config.stages[Number(r.stage_index)] ?? config.stages[0]!
    out.push({ ...s, stage: stage.id, stageName: stage.name, score: Number(r.score), channel: r.channel, segments: JSON.parse(r.segments) })
  }
  return { profiles: out, total, ...(capped ? { totalCapped: true as const } : {}), nextCursor }
}


const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/** Devices listed on a person's journey: the most recently seen; the devices route pages through the rest. */
const DEVICES_SHOWN = 20
/** Devices linked after the identification, each with its own marker in the timeline: the first ones. */
const LINKED_SHOWN = 200

export async function personJourney(db: Db, worker: JourneyWorker, profileId: string): Promise<PersonJourney | null> {
  const config = worker.modelConfig()
  const [row, profile, idents] = await Promise.all([
    db.selectFrom('journey_people').selectAll().where('profile_id', '=', profileId).executeTakeFirst(),
    db.selectFrom('profiles').select(['email', 'user_id', 'identified_at']).where('id', '=', profileId).executeTakeFirst(),
    db.selectFrom('identifiers').select(['key', 'kind', 'value', 'event_count', 'first_seen', 'last_seen']).where('profile_id', '=', profileId).execute(),
  ])
  if (!row || !profile) return null
  const stage = config.stages[Number(row.stage_index)] ?? config.stages[0]!
  const identifiedAt = profile.identified_at === null ? null : Number(profile.identified_at)
  const segmentNames = new Map(config.segments.map((s) => [s.id, s.name]))
  // Events before identification per identifier, each against the moment it became the
  // identified person's (the identification, or a device's later link): an index range per key,
  // never the person's whole history in memory. The where clauses are the contract's
  // isBeforeIdentification in SQL.
  const since = await identifiedAtByKey(db, idents.map((i) => i.key), identifiedAt)
  const earlier = new Map<string, number>()
  const late = idents.filter((i) => since.get(i.key) !== identifiedAt)
  if (identifiedAt !== null) {
    const atIdentification = idents.filter((i) => since.get(i.key) === identifiedAt).map((i) => i.key)
    for (const keys of chunks(atIdentification)) {
      const rows = await db
        .selectFrom('events')
        .select(['identity_key', (eb) => eb.fn.countAll<number>().as('n')])
        .where('identity_key', 'in', keys)
        .where((eb) =>
          eb.or([eb('timestamp', '<', identifiedAt), eb.and([eb('timestamp', '=', identifiedAt), eb('user_id', 'is', null), eb('email', 'is', null)])]),
        )
        .groupBy('identity_key')
        .execute()
      for (const r of rows) earlier.set(r.identity_key, Number(r.n))
    }
    // Devices linked later: each one's events up to its own link (the link row leads, so each
    // device is a range of the (identity_key, timestamp) index).
    for (const keys of chunks(late.map((i) => i.key))) {
      const rows = await db
        .selectFrom('device_links as d')
        .innerJoin('events as e', (j) => j.onRef('e.identity_key', '=', 'd.key').on((eb) => eb('e.timestamp', '<=', eb.ref('d.at'))))
        .select(['d.key', (eb) => eb.fn.countAll<number>().as('n')])
        .where('d.key', 'in', keys)
        .where((eb) => eb.or([eb('e.timestamp', '<', eb.ref('d.at')), eb.and([eb('e.user_id', 'is', null), eb('e.email', 'is', null)])]))
        .groupBy('d.key')
        .execute()
      for (const r of rows) earlier.set(r.key, Number(r.n))
    }
  }
  const first = await devicesPage(db, profileId, { limit: DEVICES_SHOWN })
  let earlierEvents = 0
  let earlierDevices = 0
  for (const i of idents) {
    if (since.get(i.key) !== identifiedAt) continue
    earlierEvents += earlier.get(i.key) ?? 0
    if (i.kind === 'anonymousId' && (earlier.get(i.key) ?? 0) > 0) earlierDevices++
  }
  const linked = late.sort((a, b) => since.get(a.key)! - since.get(b.key)! || (a.key < b.key ? -1 : 1)).slice(0, LINKED_SHOWN)
  const agents = await deviceAgents(db, linked.map((i) => i.key))
  return {
    stage: stage.id,
    stageName: stage.name,
    score: Number(row.score),
    reasons: JSON.parse(row.reasons),
    segments: (JSON.parse(row.segments) as string[]).map((id) => ({ id, name: segmentNames.get(id) ?? id })),
    channel: row.channel,
    source: row.source,
    devices: first?.devices ?? [],
    deviceCount: idents.filter((i) => i.kind === 'anonymousId').length,
    identification:
      identifiedAt === null ? null : { at: iso(identifiedAt)!, as: profile.email ?? profile.user_id ?? '', earlierEvents, devices: earlierDevices },
    linkedDevices: linked.map((i) => ({
      anonymousId: i.value,
      ...(agents.get(i.key) ?? { browser: null, os: null, device: null }),
      at: iso(since.get(i.key)!)!,
      earlierEvents: earlier.get(i.key) ?? 0,
    })),
  }
}

// ---------------------------------------------------------------------------------------------
// Funnel and tables

export type { JourneyReport }

const TABLE_ROWS = 50
/** a ÷ b to three decimals; null when b is 0 (no rate to show). */
export const ratio = (a: number, b: number) => (b === 0 ? null : Math.round((a / b) * 1000) / 1000)

export type Sums = Map<string, [dim: string, item: string, a: number, b: number, c: number]>
export type Period = { from: number | null; to: number | null }

/** The rows of one dimension that hold anything. */
export const rowsOf = (sums: Sums, dim: string) => [...sums.values()].filter((r) => r[0] === dim && (r[2] !== 0 || r[3] !== 0 || r[4] !== 0))

function addSum(sums: Sums, dim: string, item: string, a: number, b: number, c: number): void {
  const k = `${dim}\u0000${item}`
  const r = sums.get(k)
  if (r) (r[2] += a), (r[3] += b), (r[4] += c)
  else sums.set(k, [dim, item, a, b, c])
}

/**
 * The sums of dimensions `dims` for people first seen in [from, to): whole UTC days from the
 * daily sums (day -1 holds all days), the partial days at either end from those people's own rows.
 */
export async function sumsFor(db: Db, period: Period, dims: string[]): Promise<Sums> {
  const sums: Sums = new Map()
  const wanted = new Set(dims)
  const addRows = (rows: Array<{ dim: string; item: string; a: number; b: number; c: number }>) => {
    for (const r of rows) addSum(sums, r.dim, r.item, Number(r.a), Number(r.b), Number(r.c))
  }
  if (period.from === null && period.to === null) {
    addRows(await db.selectFrom('journey_rollup').select(['dim', 'item', 'a', 'b', 'c']).where('day', '=', -1).where('dim', 'in', dims).execute())
    return sums
  }
  const first = period.from === null ? 0 : Math.ceil(period.from / DAY)
  const last = period.to === null ? Number.MAX_SAFE_INTEGER : Math.floor(period.to / DAY) - 1
  const edges: Array<[number, number]> = []
  if (first <= last) {
    addRows(
      await db
        .selectFrom('journey_rollup')
        .select(['dim', 'item', (eb) => eb.fn.sum<number>('a').as('a'), (eb) => eb.fn.sum<number>('b').as('b'), (eb) => eb.fn.sum<number>('c').as('c')])
        .where('dim', 'in', dims)
        .where('day', '>=', first)
        .where('day', '<=', last)
        .groupBy(['dim', 'item'])
        .execute(),
    )
    if (period.from !== null && period.from < first * DAY) edges.push([period.from, first * DAY])
    if (period.to !== null && (last + 1) * DAY < period.to) edges.push([(last + 1) * DAY, period.to])
  } else edges.push([period.from ?? 0, period.to ?? Number.MAX_SAFE_INTEGER])
  for (const [from, to] of edges) {
    const people = await db.selectFrom('journey_people').select('contribution').where('first_seen', '>=', from).where('first_seen', '<', to).execute()
    for (const p of people) {
      for (const [dim, item, a, b, c] of JSON.parse(p.contribution) as Array<[string, string, number, number, number]>) if (wanted.has(dim)) addSum(sums, dim, item, a, b, c)
    }
  }
  return sums
}

/** What the funnel and its tables read of the rollup. */
const REPORT_DIMS = ['stage', 'content', 'page', 'channel', 'cta', 'content:customer', 'page:customer']

export async function journeyReport(db: Db, worker: JourneyWorker, period: { from: number | null; to: number | null }): Promise<JourneyReport> {
  const stages = worker.modelConfig().stages
  const [sums, status] = await Promise.all([sumsFor(db, period, REPORT_DIMS), worker.status(db)])
  const rows = (dim: string) => rowsOf(sums, dim)
  const buyers = (dim: string) => new Map(rows(dim).map(([, item, a, b]) => [item, [a, b] as const]))
  const [contentBuyers, pageBuyers] = [buyers('content:customer'), buyers('page:customer')]
  const counts = new Map(rows('stage').map((r) => [r[1], r[2]]))
  const stageCounts = stages.map((s) => counts.get(s.id) ?? 0)
  let reachedPrev = 0
  const stageRows = stages.map((s, i) => {
    const reached = stageCounts.slice(i).reduce((a, b) => a + b, 0)
    const row = { stage: s.id, name: s.name, count: stageCounts[i]!, reached, conversion: i === 0 ? null : ratio(reached, reachedPrev) }
    reachedPrev = reached
    return row
  })
  const top = <T extends { key: string }>(list: T[], by: (r: T) => number) =>
    list.sort((a, b) => by(b) - by(a) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).slice(0, TABLE_ROWS).map(({ key: _, ...r }) => r)
  return {
    model: 'journey',
    period: { from: iso(period.from), to: iso(period.to) },
    people: stageCounts.reduce((a, b) => a + b, 0),
    stages: stageRows,
    content: top(
      rows('content').map(([, name, a, b, c]) => ({ key: name, name, consumers: a, known: b, becameKnown: c, customers: contentBuyers.get(name)?.[0] ?? 0, becameCustomer: contentBuyers.get(name)?.[1] ?? 0 })),
      (r) => r.consumers,
    ),
    pages: top(
      rows('page').map(([, path, a, b, c]) => ({ key: path, path, visitors: a, known: b, becameKnown: c, customers: pageBuyers.get(path)?.[0] ?? 0, becameCustomer: pageBuyers.get(path)?.[1] ?? 0 })),
      (r) => r.visitors,
    ),
    channels: top(rows('channel').map(([, channel, a, b, c]) => ({ key: channel, channel, visitors: a, leads: b, customers: c })), (r) => r.visitors),
    ctas: top(
      rows('cta').map(([, item, a, b, c]) => {
        const sep = item.indexOf('\u001f')
        return { key: item, kind: item.slice(0, sep) as 'content' | 'track', label: item.slice(sep + 1), clicks: a, people: b, beforeIdentification: c }
      }),
      (r) => r.clicks,
    ),
    status,
  }
}

export function parsePeriod(from: string | undefined, to: string | undefined): { from: number | null; to: number | null } {
  const parse = (v: string | undefined, name: string) => {
    if (v === undefined || v === '') return null
    const t = Date.parse(v)
    if (!Number.isFinite(t)) throw new BadRequest(`${name} must be an ISO date`)
    return t
  }
  const period = { from: parse(from, 'from'), to: parse(to, 'to') }
  if (period.from !== null && period.to !== null && period.from >= period.to) throw new BadRequest('from must be before to')
  return period
}

/** Segment list with member counts. */
export async function segmentList(db: Db, worker: JourneyWorker) {
  const counts = new Map(
    (await db.selectFrom('journey_counts').select(['name', 'n']).where('name', 'like', 'segment:%').execute()).map((r) => [r.name.slice('segment:'.length), Number(r.n)]),
  )
  return worker.segments().map((s) => ({
    id: s.id,
    name: s.name,
    description: s.description ?? null,
    origin: s.origin ?? 'config',
    when: s.when,
    count: counts.get(s.id) ?? 0,
  }))
}

