// Journey read queries: people lists filtered by stage/segment, a person's journey facts, the
// funnel and its tables, segment definitions. Selection and aggregation are pure over the
// index; only the page of profiles shown is read from the database.
import type { Db } from '../db/schema.js'
import { BadRequest, decodeCursor, encodeCursor, summaries, type ProfileSummary } from '../read/profiles.js'
import type { JourneyIndex, PersonRow } from './index.js'
import { before, type Evaluation, type ScoreReason } from './model.js'
import type { JourneyReport } from '../contract.js'

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

export interface PersonSummary extends ProfileSummary {
  stageName: string
  score: number
  channel: string | null
  segments: string[]
}

type Cursor = { id: string; ls?: number }

function matchesQuery(p: PersonRow, term: string): boolean {
  if (p.id === term) return true
  const lower = term.toLowerCase()
  for (const key of p.keys) {
    const colon = key.indexOf(':')
    const kind = key.slice(0, colon)
    const value = key.slice(colon + 1)
    if (value.startsWith(term) || (kind === 'email' && value.startsWith(lower))) return true
  }
  return false
}

/** Pure over the index: which people a query selects, in order, and the page asked for. */
export function selectPeople(index: JourneyIndex, query: PeopleQuery, now = Date.now()): { page: PersonRow[]; total: number; nextCursor: string | null } {
  const stageIds = index.config.stages.map((s) => s.id)
  if (query.stage && !stageIds.includes(query.stage)) throw new BadRequest(`unknown stage "${query.stage}"; stages are ${stageIds.join(', ')}`)
  const segmentIds = index.segments().map((s) => s.id)
  if (query.segment && !segmentIds.includes(query.segment)) throw new BadRequest(`unknown segment "${query.segment}"; segments are ${segmentIds.join(', ')}`)
  if (query.identified !== undefined && query.identified !== 'true' && query.identified !== 'false') throw new BadRequest('identified must be true or false')
  const sort = query.sort ?? 'created'
  if (sort !== 'created' && sort !== 'lastSeen') throw new BadRequest('sort must be created or lastSeen')
  const after = decodeCursor(query.cursor, (v): v is Cursor => typeof (v as Cursor)?.id === 'string')
  const needEvals = !!query.stage || !!query.segment || sort === 'lastSeen'
  const evals = needEvals ? index.evaluations(now) : null
  const term = query.q?.trim()
  const picked: Array<{ p: PersonRow; ls: number }> = []
  for (const p of index.allPeople()) {
    if (query.identified === 'true' && p.identifiedAt === null) continue
    if (query.identified === 'false' && p.identifiedAt !== null) continue
    if (term && !matchesQuery(p, term)) continue
    const e = evals?.get(p.id)?.e
    if (query.stage && e?.stage !== query.stage) continue
    if (query.segment && !e?.segments.includes(query.segment)) continue
    picked.push({ p, ls: e?.lastSeen ?? -1 })
  }
  const byId = (a: { p: PersonRow }, b: { p: PersonRow }) => (a.p.id < b.p.id ? 1 : a.p.id > b.p.id ? -1 : 0)
  picked.sort(sort === 'lastSeen' ? (a, b) => b.ls - a.ls || byId(a, b) : byId)
  let start = 0
  if (after) {
    const ls = after.ls ?? -1
    start = picked.findIndex((x) => (sort === 'lastSeen' ? x.ls < ls || (x.ls === ls && x.p.id < after.id) : x.p.id < after.id))
    if (start < 0) start = picked.length
  }
  const page = picked.slice(start, start + query.limit)
  const last = page[page.length - 1]
  const more = start + query.limit < picked.length
  return {
    page: page.map((x) => x.p),
    total: picked.length,
    nextCursor: more && last ? encodeCursor(sort === 'lastSeen' ? { id: last.p.id, ls: last.ls } : { id: last.p.id }) : null,
  }
}

function withJourney(index: JourneyIndex, s: ProfileSummary, e: Evaluation): PersonSummary {
  const stage = index.config.stages[e.stageIndex]!
  return { ...s, stage: stage.id, stageName: stage.name, score: e.score, channel: e.channel, segments: e.segments }
}

export async function listPeople(
  db: Db,
  index: JourneyIndex,
  query: PeopleQuery,
): Promise<{ profiles: PersonSummary[]; total: number; nextCursor: string | null }> {
  await index.refresh()
  const { page, total, nextCursor } = selectPeople(index, query)
  if (page.length === 0) return { profiles: [], total, nextCursor }
  const rows = await db.selectFrom('profiles').selectAll().where('id', 'in', page.map((p) => p.id)).execute()
  const byId = new Map((await summaries(db, rows)).map((s) => [s.id, s]))
  const profiles: PersonSummary[] = []
  for (const p of page) {
    const s = byId.get(p.id)
    // Erased between the index refresh and this read: left out of the page.
    if (s) profiles.push(withJourney(index, s, index.evaluate(p)))
  }
  return { profiles, total, nextCursor }
}

export interface PersonJourney {
  stage: string
  stageName: string
  score: number
  reasons: ScoreReason[]
  segments: Array<{ id: string; name: string }>
  channel: string | null
  source: string | null
  devices: Array<{ anonymousId: string; browser: string | null; os: string | null; device: string | null; events: number; firstSeen: string | null; lastSeen: string | null }>
  /** The identification moment as the timeline shows it; null while anonymous. */
  identification: { at: string; as: string; earlierEvents: number; devices: number } | null
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

export async function personJourney(index: JourneyIndex, profileId: string): Promise<PersonJourney | null> {
  await index.refresh()
  const p = index.person(profileId)
  if (!p) return null
  const e = index.evaluate(p)
  const stage = index.config.stages[e.stageIndex]!
  const segmentNames = new Map(index.segments().map((s) => [s.id, s.name]))
  const devices: PersonJourney['devices'] = []
  let earlier = 0
  const earlierDevices = new Set<string>()
  for (const key of p.keys) {
    const info = index.keyInfo(key)
    const signals = info?.signals ?? []
    const n = signals.filter((s) => before(s, p.identifiedAt)).length
    earlier += n
    if (!key.startsWith('anonymousId:')) continue
    if (n > 0) earlierDevices.add(key)
    let first: number | null = null
    let last: number | null = null
    for (const s of signals) {
      if (first === null || s.t < first) first = s.t
      if (last === null || s.t > last) last = s.t
    }
    devices.push({
      anonymousId: key.slice('anonymousId:'.length),
      browser: info?.browser ?? null,
      os: info?.os ?? null,
      device: info?.device ?? null,
      events: signals.length,
      firstSeen: iso(first),
      lastSeen: iso(last),
    })
  }
  return {
    stage: stage.id,
    stageName: stage.name,
    score: e.score,
    reasons: e.reasons,
    segments: e.segments.map((id) => ({ id, name: segmentNames.get(id) ?? id })),
    channel: e.channel,
    source: e.source,
    devices,
    identification:
      p.identifiedAt === null
        ? null
        : { at: iso(p.identifiedAt)!, as: p.email ?? p.userId ?? '', earlierEvents: earlier, devices: earlierDevices.size },
  }
}

// ---------------------------------------------------------------------------------------------
// Funnel and tables

export type { JourneyReport }


const TABLE_ROWS = 50
const ratio = (a: number, b: number) => (b === 0 ? null : Math.round((a / b) * 1000) / 1000)

/** Pure over the index: the funnel of the people first seen in [from, to), and its tables. */
export function journeyReport(index: JourneyIndex, period: { from: number | null; to: number | null }, now = Date.now()): JourneyReport {
  const stages = index.config.stages
  const evals = index.evaluations(now)
  const counts = stages.map(() => 0)
  // "Customers" in the channel table: the stage with id `customer`, else the last stage.
  const ci = stages.findIndex((s) => s.id === 'customer')
  const customerIndex = ci > 0 ? ci : stages.length - 1
  const content = new Map<string, { consumers: number; known: number; becameKnown: number }>()
  const pages = new Map<string, { visitors: number; known: number; becameKnown: number }>()
  const channels = new Map<string, { visitors: number; leads: number; customers: number }>()
  const ctas = new Map<string, { kind: 'content' | 'track'; label: string; clicks: number; people: number; beforeIdentification: number }>()
  let people = 0
  const tally = <T extends object>(map: Map<string, T>, key: string, init: () => T) => {
    let row = map.get(key)
    if (!row) map.set(key, (row = init()))
    return row
  }
  for (const p of index.allPeople()) {
    const entry = evals.get(p.id)
    if (!entry || entry.e.firstSeen === null) continue
    const { e, c } = entry
    if (period.from !== null && e.firstSeen! < period.from) continue
    if (period.to !== null && e.firstSeen! >= period.to) continue
    people++
    counts[e.stageIndex]!++
    const ch = tally(channels, e.channel ?? '(none)', () => ({ visitors: 0, leads: 0, customers: 0 }))
    ch.visitors++
    if (e.stageIndex >= 1) ch.leads++
    if (e.stageIndex >= customerIndex) ch.customers++
    const known = p.identifiedAt !== null
    for (const [name, wasBefore] of c.content) {
      const row = tally(content, name, () => ({ consumers: 0, known: 0, becameKnown: 0 }))
      row.consumers++
      if (known) row.known++
      if (wasBefore) row.becameKnown++
    }
    for (const [path, wasBefore] of c.pages) {
      const row = tally(pages, path, () => ({ visitors: 0, known: 0, becameKnown: 0 }))
      row.visitors++
      if (known) row.known++
      if (wasBefore) row.becameKnown++
    }
    for (const cta of c.ctas) {
      const row = tally(ctas, `${cta.kind}\u0000${cta.label}`, () => ({ kind: cta.kind, label: cta.label, clicks: 0, people: 0, beforeIdentification: 0 }))
      row.clicks += cta.clicks
      row.people++
      if (cta.before) row.beforeIdentification++
    }
  }
  let reachedPrev = 0
  const stageRows = stages.map((s, i) => {
    const reached = counts.slice(i).reduce((a, b) => a + b, 0)
    const row = { stage: s.id, name: s.name, count: counts[i]!, reached, conversion: i === 0 ? null : ratio(reached, reachedPrev) }
    reachedPrev = reached
    return row
  })
  const top = <T>(rows: T[], by: (r: T) => number) => rows.sort((a, b) => by(b) - by(a)).slice(0, TABLE_ROWS)
  return {
    model: 'journey',
    period: { from: iso(period.from), to: iso(period.to) },
    people,
    stages: stageRows,
    content: top([...content].map(([name, r]) => ({ name, ...r })), (r) => r.consumers),
    pages: top([...pages].map(([path, r]) => ({ path, ...r })), (r) => r.visitors),
    channels: top([...channels].map(([channel, r]) => ({ channel, ...r })), (r) => r.visitors),
    ctas: top([...ctas.values()], (r) => r.clicks),
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
export function segmentList(index: JourneyIndex, now = Date.now()) {
  const evals = index.evaluations(now)
  const counts = new Map<string, number>()
  for (const { e } of evals.values()) for (const s of e.segments) counts.set(s, (counts.get(s) ?? 0) + 1)
  return index.segments().map((s) => ({
    id: s.id,
    name: s.name,
    description: s.description ?? null,
    origin: s.origin ?? 'config',
    when: s.when,
    count: counts.get(s.id) ?? 0,
  }))
}
