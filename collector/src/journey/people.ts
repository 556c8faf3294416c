// People's evaluations in the database: a person's facts are the sums of their identifiers'
// facts; their stage, score and segments are evaluated from those and stored where indexed
// queries filter, sort and count them; the tables' sums (journey_rollup) and counters
// (journey_counts) move by the difference between a person's old and new state.
import type { Db, Dialect, JourneyPeopleTable } from '../db/schema.js'
import { analyticsOf, customerEvents, emptyAnalytics, forgetKeys, loadAnalytics, type DailyRow } from './analytics.js'
import type { ChangeCause, PersonChange, PersonState } from './hooks.js'
import { jsonRows, runJson } from './facts.js'
import { addItem, contributionOf, dayOf, emptyFacts, evaluateFacts, touchEarlier, type Contribution, type Evaluation, type Facts, type JourneyConfig } from './model.js'

/** Keys per IN list: far under both databases' bind-parameter limits. */
const CHUNK = 500

export function chunks<T>(items: T[], size = CHUNK): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

export interface PersonIdentity {
  id: string
  email: string | null
  userId: string | null
  identifiedAt: number | null
  keys: string[]
  firstSeen: number | null
  lastSeen: number | null
}

/** The live people among `ids` with their identifiers (ids merged away or erased are left out). */
export async function loadPeople(db: Db, ids: string[]): Promise<PersonIdentity[]> {
  const people = new Map<string, PersonIdentity>()
  for (const chunk of chunks([...new Set(ids)])) {
    const [profiles, identifiers] = await Promise.all([
      // Merged profiles are dropped below, not by `merged_into IS NULL`: SQLite's planner then
      // read that index (every live profile, 35 ms a chunk at 125k people) instead of the ids.
      db.selectFrom('profiles').select(['id', 'email', 'user_id', 'identified_at', 'merged_into']).where('id', 'in', chunk).execute(),
      db.selectFrom('identifiers').select(['key', 'profile_id', 'first_seen', 'last_seen']).where('profile_id', 'in', chunk).execute(),
    ])
    for (const p of profiles) {
      if (p.merged_into !== null) continue
      people.set(p.id, { id: p.id, email: p.email, userId: p.user_id, identifiedAt: p.identified_at === null ? null : Number(p.identified_at), keys: [], firstSeen: null, lastSeen: null })
    }
    for (const i of identifiers) {
      const p = people.get(i.profile_id)
      if (!p) continue
      p.keys.push(i.key)
      const f = i.first_seen === null ? null : Number(i.first_seen)
      const l = i.last_seen === null ? null : Number(i.last_seen)
      if (f !== null && (p.firstSeen === null || f < p.firstSeen)) p.firstSeen = f
      if (l !== null && (p.lastSeen === null || l > p.lastSeen)) p.lastSeen = l
    }
  }
  return [...people.values()]
}

/** At most this many items are read per chunk of identifiers: the earliest (a person counts toward the first ITEM_CAP per kind). */
const ITEMS_READ = 5_000

/** Each person's facts: their identifiers' facts added up. `matchers`: active matcher id → key. */
export async function loadFacts(db: Db, people: PersonIdentity[], matchers: Map<number, string>): Promise<Map<string, Facts>> {
  const owner = new Map<string, Facts>()
  const facts = new Map<string, Facts>()
  for (const p of people) {
    const f = emptyFacts(p.identifiedAt)
    f.firstSeen = p.firstSeen
    f.lastSeen = p.lastSeen
    facts.set(p.id, f)
    for (const k of p.keys) owner.set(k, f)
  }
  for (const chunk of chunks([...owner.keys()])) {
    const [hits, touches, items] = await Promise.all([
      db.selectFrom('journey_hits').select(['key', 'matcher', 'day', 'n']).where('key', 'in', chunk).execute(),
      db.selectFrom('journey_touch').selectAll().where('key', 'in', chunk).execute(),
      db.selectFrom('journey_items').selectAll().where('key', 'in', chunk).orderBy('first_at').limit(ITEMS_READ).execute(),
    ])
    for (const h of hits) {
      const m = matchers.get(Number(h.matcher))
      if (m === undefined) continue
      const f = owner.get(h.key)!
      let days = f.hits.get(m)
      if (!days) f.hits.set(m, (days = new Map()))
      const day = Number(h.day)
      days.set(day, (days.get(day) ?? 0) + Number(h.n))
    }
    for (const t of touches) {
      const f = owner.get(t.key)!
      const touch = { at: Number(t.at), channel: t.channel, source: t.source }
      if (f.channelAt === null || touchEarlier(touch, { at: f.channelAt, channel: f.channel!, source: f.source })) {
        f.channel = touch.channel
        f.source = touch.source
        f.channelAt = touch.at
      }
    }
    for (const i of items) {
      addItem(owner.get(i.key)!.items, `${i.kind}\u0000${i.item}`, { at: Number(i.first_at), identified: Number(i.first_identified) === 1, n: Number(i.n) })
    }
  }
  return facts
}

/** One row of the tables' sums: [dim, item, a, b, c]. */
type RollupRow = [string, string, number, number, number]

/** Pure: what one evaluated person adds to the tables (see journey/queries.ts for what a, b, c mean per dim). */
export function rollupOf(e: Evaluation, f: Facts, customerIndex: number, c: Contribution = contributionOf(f)): RollupRow[] {
  const known = f.identifiedAt !== null ? 1 : 0
  const rows: RollupRow[] = [
    ['stage', e.stage, 1, 0, 0],
    ['channel', e.channel ?? '(none)', 1, e.stageIndex >= 1 ? 1 : 0, e.stageIndex >= customerIndex ? 1 : 0],
  ]
  for (const [name, before] of c.content) rows.push(['content', name, 1, known, before ? 1 : 0])
  for (const [path, before] of c.pages) rows.push(['page', path, 1, known, before ? 1 : 0])
  // PostgreSQL text holds no NUL: kind and label are joined by U+001F.
  for (const cta of c.ctas) rows.push(['cta', `${cta.kind}\u001f${cta.label}`, cta.clicks, 1, cta.before ? 1 : 0])
  return rows
}

/** "Customers" in the channel table: the stage with id `customer`, else the last stage. */
export function customerIndexOf(config: JourneyConfig): number {
  const ci = config.stages.findIndex((s) => s.id === 'customer')
  return ci > 0 ? ci : config.stages.length - 1
}

/**
 * The counters a person adds to: everyone, identified, their stage, each of their segments. The
 * stage is read from the stored contribution, not the index, so a changed stage list takes
 * back exactly what was added.
 */
function countNames(row: Pick<JourneyPeopleTable, 'identified' | 'segments'>, rollup: RollupRow[]): string[] {
  const names = ['people']
  for (const r of rollup) if (r[0] === 'stage') names.push(`stage:${r[1]}`)
  if (Number(row.identified) === 1) names.push('identified')
  for (const s of JSON.parse(row.segments) as string[]) names.push(`segment:${s}`)
  return names
}

/** Deltas of one step, added up before they are written. */
class Deltas {
  readonly rollup = new Map<string, [number, string, string, number, number, number]>()
  readonly daily = new Map<string, [number, string, string, number, number, number]>()
  readonly counts = new Map<string, number>()

  add(row: Pick<JourneyPeopleTable, 'identified' | 'segments' | 'contribution' | 'first_seen' | 'daily'>, sign: 1 | -1): void {
    const rollup = JSON.parse(row.contribution) as RollupRow[]
    for (const name of countNames(row, rollup)) this.counts.set(name, (this.counts.get(name) ?? 0) + sign)
    const day = dayOf(Number(row.first_seen))
    for (const [dim, item, a, b, c] of rollup) {
      for (const d of [day, -1]) addDelta(this.rollup, d, dim, item, sign * a, sign * b, sign * c)
    }
    for (const [d, dim, item, a, b, c] of JSON.parse(row.daily) as DailyRow[]) addDelta(this.daily, d, dim, item, sign * a, sign * b, sign * c)
  }
}

function addDelta(sums: Deltas['rollup'], day: number, dim: string, item: string, a: number, b: number, c: number): void {
  const k = `${day}\u0000${dim}\u0000${item}`
  const r = sums.get(k)
  if (r) (r[3] += a), (r[4] += b), (r[5] += c)
  else sums.set(k, [day, dim, item, a, b, c])
}

const statements = (d: Dialect) => ({
  rollup: `INSERT INTO journey_rollup (day, dim, item, a, b, c)
${jsonRows(d, [['day', 'bigint'], ['dim', 'text'], ['item', 'text'], ['a', 'bigint'], ['b', 'bigint'], ['c', 'bigint']])}
ON CONFLICT (day, dim, item) DO UPDATE SET a = journey_rollup.a + excluded.a, b = journey_rollup.b + excluded.b, c = journey_rollup.c + excluded.c`,
  daily: `INSERT INTO journey_daily (day, dim, item, a, b, c)
${jsonRows(d, [['day', 'bigint'], ['dim', 'text'], ['item', 'text'], ['a', 'bigint'], ['b', 'bigint'], ['c', 'bigint']])}
ON CONFLICT (day, dim, item) DO UPDATE SET a = journey_daily.a + excluded.a, b = journey_daily.b + excluded.b, c = journey_daily.c + excluded.c`,
  durations: `INSERT INTO journey_durations (profile_id, model, kind, campaign, first_seen, ms)
${jsonRows(d, [['p', 'text'], ['m', 'text'], ['k', 'text'], ['c', 'text'], ['f', 'bigint'], ['ms', 'bigint']])}
ON CONFLICT (profile_id, model, kind) DO UPDATE SET campaign = excluded.campaign, first_seen = excluded.first_seen, ms = excluded.ms`,
  counts: `INSERT INTO journey_counts (name, n) ${jsonRows(d, [['name', 'text'], ['n', 'bigint']])}
ON CONFLICT (name) DO UPDATE SET n = journey_counts.n + excluded.n`,
  people: `INSERT INTO journey_people (profile_id, stage_index, score, identified, channel, source, first_seen, last_seen, reasons, segments, contribution, stamp, daily, durations)
${jsonRows(d, [['p', 'text'], ['si', 'bigint'], ['sc', 'bigint'], ['i', 'bigint'], ['ch', 'text'], ['so', 'text'], ['fs', 'bigint'], ['ls', 'bigint'], ['r', 'text'], ['sg', 'text'], ['c', 'text'], ['st', 'bigint'], ['dl', 'text'], ['du', 'text']])}
ON CONFLICT (profile_id) DO UPDATE SET stage_index = excluded.stage_index, score = excluded.score, identified = excluded.identified,
  channel = excluded.channel, source = excluded.source, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
  reasons = excluded.reasons, segments = excluded.segments, contribution = excluded.contribution, stamp = excluded.stamp,
  daily = excluded.daily, durations = excluded.durations`,
  members: `INSERT INTO journey_members (segment, profile_id, last_seen) ${jsonRows(d, [['s', 'text'], ['p', 'text'], ['l', 'bigint']])}
ON CONFLICT (segment, profile_id) DO UPDATE SET last_seen = excluded.last_seen`,
})
const STATEMENTS = { sqlite: statements('sqlite'), postgres: statements('postgres') }

async function writeDeltas(trx: Db, dialect: Dialect, deltas: Deltas): Promise<void> {
  const s = STATEMENTS[dialect]
  await runJson(trx, s.rollup, [...deltas.rollup.values()].filter((r) => r[3] || r[4] || r[5]))
  await runJson(trx, s.counts, [...deltas.counts].filter(([, n]) => n !== 0))
  await runJson(trx, s.daily, [...deltas.daily.values()].filter((r) => r[3] || r[4] || r[5]))
}

async function oldRows(trx: Db, ids: string[]): Promise<Map<string, JourneyPeopleTable>> {
  const out = new Map<string, JourneyPeopleTable>()
  for (const chunk of chunks(ids)) {
    for (const r of await trx.selectFrom('journey_people').selectAll().where('profile_id', 'in', chunk).execute()) out.set(r.profile_id, r)
  }
  return out
}

export interface Evaluated {
  person: PersonIdentity
  e: Evaluation
  facts: Facts
}

export type Cause = ChangeCause

/**
 * Evaluates `ids` from their facts and stores the result; people who are gone (merged away,
 * erased) leave the tables. Returns the changes for listeners.
 */
export async function reevaluate(
  trx: Db,
  dialect: Dialect,
  ids: string[],
  ctx: {
    config: JourneyConfig
    matchers: Map<number, string>
    now: number
    stamp: number
    causes?: Map<string, Cause>
    /** People evaluated before this epoch changed, if at all, because the definitions did. */
    changedEpoch?: number
    /** Filled with each live person's state after evaluation. */
    states?: Map<string, PersonState>
  },
): Promise<PersonChange[]> {
  if (ids.length === 0) return []
  const { config, now, stamp } = ctx
  const stageIds = config.stages.map((s) => s.id)
  const customerIndex = customerIndexOf(config)
  const people = await loadPeople(trx, ids)
  const facts = await loadFacts(trx, people, ctx.matchers)
  const owner = new Map(people.flatMap((p) => p.keys.map((k) => [k, p.id] as const)))
  const analytics = await loadAnalytics(trx, owner, chunks([...owner.keys()]))
  const conversions = customerEvents(config, customerIndex)
  // Profiles merged into these people since they were last evaluated leave the tables too.
  const live = people.map((p) => p.id)
  const absorbed: string[] = []
  for (const chunk of chunks(live)) {
    const rows = await trx
      .selectFrom('profiles')
      .innerJoin('journey_people', 'journey_people.profile_id', 'profiles.id')
      .select('profiles.id')
      .where('profiles.merged_into', 'in', chunk)
      .execute()
    for (const r of rows) absorbed.push(r.id)
  }
  const liveSet = new Set(live)
  const gone = [...new Set([...ids.filter((id) => !liveSet.has(id)), ...absorbed])]
  const old = await oldRows(trx, [...live, ...gone])
  const deltas = new Deltas()
  const rows: unknown[] = []
  const members: unknown[] = []
  const changes: PersonChange[] = []
  const durations: unknown[] = []
  const redo: string[] = []
  for (const p of people) {
    const f = facts.get(p.id)!
    const e = evaluateFacts(f, config, now)
    const firstSeen = e.firstSeen ?? now
    const contribution = contributionOf(f)
    const a = analyticsOf({
      firstSeen,
      identifiedAt: p.identifiedAt,
      stage: e.stage,
      stageIndex: e.stageIndex,
      customerIndex,
      segments: e.segments,
      reasons: e.reasons,
      contribution,
      facts: analytics.get(p.id) ?? emptyAnalytics(),
      customerEvents: conversions,
    })
    const row = {
      profile_id: p.id,
      stage_index: e.stageIndex,
      score: e.score,
      identified: p.identifiedAt !== null ? 1 : 0,
      channel: e.channel,
      source: e.source,
      first_seen: firstSeen,
      last_seen: e.lastSeen ?? -1,
      reasons: JSON.stringify(e.reasons),
      segments: JSON.stringify(e.segments),
      contribution: JSON.stringify([...rollupOf(e, f, customerIndex, contribution), ...a.cohort]),
      stamp,
      daily: JSON.stringify(a.daily),
      durations: JSON.stringify(a.durations),
    }
    const before = old.get(p.id)
    if (before) deltas.add(before, -1)
    deltas.add(row, 1)
    rows.push([row.profile_id, row.stage_index, row.score, row.identified, row.channel, row.source, row.first_seen, row.last_seen, row.reasons, row.segments, row.contribution, row.stamp, row.daily, row.durations])
    // Durations are rewritten only when they changed (most evaluations leave them be).
    if (!before || before.durations !== row.durations || Number(before.first_seen) !== row.first_seen) {
      if (before) redo.push(p.id)
      for (const [model, kind, campaign, ms] of a.durations) durations.push([p.id, model, kind, campaign, firstSeen, ms])
    }
    for (const s of e.segments) members.push([s, p.id, row.last_seen])
    const cause = ctx.causes?.get(p.id) ?? null
    const origin = cause ? 'event' : before && Number(before.stamp) >= (ctx.changedEpoch ?? 0) ? 'time' : 'config'
    const person = personState(p, e)
    ctx.states?.set(p.id, person)
    changes.push(...changesOf(before, row, e, person, stageIds, cause, origin))
  }
  for (const id of gone) {
    const before = old.get(id)
    if (before) deltas.add(before, -1)
  }
  const s = STATEMENTS[dialect]
  for (const chunk of chunks([...live, ...gone])) await trx.deleteFrom('journey_members').where('profile_id', 'in', chunk).execute()
  for (const chunk of chunks(gone)) await trx.deleteFrom('journey_people').where('profile_id', 'in', chunk).execute()
  for (const chunk of chunks([...redo, ...gone])) await trx.deleteFrom('journey_durations').where('profile_id', 'in', chunk).execute()
  await runJson(trx, s.people, rows)
  await runJson(trx, s.members, members)
  await runJson(trx, s.durations, durations)
  await writeDeltas(trx, dialect, deltas)
  return changes
}

function personState(p: PersonIdentity, e: Evaluation): PersonState {
  return {
    profileId: p.id,
    email: p.email,
    userId: p.userId,
    identifiedAt: p.identifiedAt,
    stage: e.stage,
    score: e.score,
    segments: e.segments,
    channel: e.channel,
    source: e.source,
    firstSeen: e.firstSeen,
    lastSeen: e.lastSeen,
  }
}

function changesOf(
  before: JourneyPeopleTable | undefined,
  row: { stage_index: number; identified: number; segments: string },
  e: Evaluation,
  person: PersonState,
  stageIds: string[],
  cause: Cause | null,
  origin: PersonChange['origin'],
): PersonChange[] {
  const out: PersonChange[] = []
  const base = { person, cause, origin }
  if (row.identified === 1 && Number(before?.identified ?? 0) === 0) out.push({ kind: 'person.identified', ...base })
  if (!before || Number(before.stage_index) !== row.stage_index) out.push({ kind: 'stage.entered', stage: stageIds[row.stage_index], ...base })
  const was = new Set<string>(before ? JSON.parse(before.segments) : [])
  for (const seg of e.segments) if (!was.has(seg)) out.push({ kind: 'segment.entered', segment: seg, ...base })
  for (const seg of was) if (!e.segments.includes(seg)) out.push({ kind: 'segment.left', segment: seg, ...base })
  return out
}

/** An erased person leaves the tables, with the facts of their identifiers (caller's transaction). */
export async function forgetPerson(trx: Db, dialect: Dialect, profileId: string, keys: string[]): Promise<void> {
  const old = await oldRows(trx, [profileId])
  const deltas = new Deltas()
  const before = old.get(profileId)
  if (before) deltas.add(before, -1)
  await trx.deleteFrom('journey_members').where('profile_id', '=', profileId).execute()
  await trx.deleteFrom('journey_people').where('profile_id', '=', profileId).execute()
  await trx.deleteFrom('journey_durations').where('profile_id', '=', profileId).execute()
  for (const chunk of chunks(keys)) {
    await trx.deleteFrom('journey_hits').where('key', 'in', chunk).execute()
    await trx.deleteFrom('journey_touch').where('key', 'in', chunk).execute()
    await trx.deleteFrom('journey_items').where('key', 'in', chunk).execute()
    await forgetKeys(trx, chunk)
  }
  await writeDeltas(trx, dialect, deltas)
}
