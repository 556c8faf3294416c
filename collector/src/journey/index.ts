// The journey index: every person's activity reduced to Signals, kept in memory and brought up
// to date on each read by folding only the events stored since the last read. Stages, scores
// and segments are then evaluated on read (pure functions in ./model.ts), so they follow new
// events and merges without any recompute step, and a changed config applies at once.
//
// Signals are kept per identifier key, like the collector's own statistics: a merge only
// re-points identifiers (reloaded here), never the signals.
import type { Store } from '../db/connect.js'
import { parseJson, type JsonColumn } from '../db/schema.js'
import { checkSegment } from './config.js'
import { contributions, evaluate, type Contribution, type Evaluation, type JourneyConfig, type Person, type SegmentDef, type Signal } from './model.js'

export interface PersonRow {
  id: string
  email: string | null
  userId: string | null
  identifiedAt: number | null
  createdAt: number
  /** Identifier keys (`kind:value`). */
  keys: string[]
}

interface KeyInfo {
  signals: Signal[]
  browser: string | null
  os: string | null
  device: string | null
}

/**
 * A person's evaluation is redone when their events or identity change, and otherwise once it is
 * this old (decay and "within N days" windows move with time) — at most STALE_BUDGET people per
 * read, oldest first, so no single read pays for re-evaluating everyone.
 */
const STALE_MS = 5 * 60_000
const STALE_BUDGET = 500
/** Identities (merges, erasures in other processes) are reloaded at least this often while reads come in. */
const IDENTITY_TTL_MS = 1_000
/** PostgreSQL hands out ids before commit: an id skipped by a read may still commit; recheck it this long. */
const GAP_TTL_MS = 30_000
const MAX_GAPS = 5_000
// Small enough that PostgreSQL keeps to the primary-key index even when its statistics lag
// behind a bulk load (with LIMIT 20000 it chose a sequential scan + sort: 15–25 ms per read).
const FOLD_BATCH = 2_000

const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null)
const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {})

function pathOf(url: string | null): string | null {
  if (!url) return null
  try {
    return new URL(url, 'http://x').pathname
  } catch {
    return null
  }
}

export interface EventRowForSignal {
  type: string
  event: string | null
  timestamp: number
  session_id: string | null
  user_id: string | null
  email: string | null
  properties: JsonColumn
  context: JsonColumn
}

/** Pure: one stored event → the Signal rules look at. */
export function signalOf(r: EventRowForSignal): Signal {
  const props = obj(parseJson(r.properties))
  const ctx = obj(parseJson(r.context))
  const page = obj(ctx.page)
  const campaign = obj(ctx.campaign)
  const pagePath = str(page.path) ?? pathOf(str(page.url))
  const path = r.type === 'page' ? (str(props.path) ?? pathOf(str(props.url)) ?? pagePath) : pagePath
  const isContent = r.event === 'Content Impression' || r.event === 'Content Clicked'
  return {
    t: Number(r.timestamp),
    type: r.type,
    event: r.event,
    path,
    content: isContent ? str(props.name) : null,
    form: r.event === 'Form Submitted' ? (str(props.name) ?? str(props.id)) : null,
    url: r.type === 'track' ? str(props.url) : null,
    channel: str(campaign.channel),
    source: str(campaign.source),
    sessionId: r.session_id,
    identified: r.user_id !== null || r.email !== null,
  }
}

export class JourneyIndex {
  private keys = new Map<string, KeyInfo>()
  private watermark = 0
  private gaps = new Map<number, number>()
  private people = new Map<string, PersonRow>()
  private profileOfKey = new Map<string, string>()
  private apiSegments: SegmentDef[] = []
  private identityLoadedAt = -Infinity
  private identityFingerprint = ''
  private refreshing: Promise<void> | null = null
  /** Per person, in the order evaluated (oldest first). */
  private evals = new Map<string, { e: Evaluation; c: Contribution; at: number }>()
  /** People whose events or identity changed since their evaluation. */
  private dirty = new Set<string>()
  private memos = new Map<string, unknown>()
  /** Bumped on every re-evaluation of a person. */
  version = 0

  constructor(
    private readonly store: Store,
    readonly config: JourneyConfig,
  ) {}

  /** Brings the index up to date with the database; concurrent callers share one refresh. */
  refresh(): Promise<void> {
    return (this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = null)))
  }

  /** Forces identities and API segments to be reloaded on the next read (after an erase, a segment change). */
  invalidate(keys: string[] = []): void {
    for (const k of keys) this.keys.delete(k)
    this.identityLoadedAt = -Infinity
    this.identityFingerprint = ''
  }

  private async doRefresh(): Promise<void> {
    const identitiesMayHaveChanged = await this.fold()
    if (identitiesMayHaveChanged) return this.loadIdentities()
    if (Date.now() - this.identityLoadedAt <= IDENTITY_TTL_MS) return
    // Periodic check for what no event announces (an erasure or a segment change made by another
    // process): a cheap fingerprint first, the full reload only when it moved.
    const fp = await this.fingerprint()
    if (fp !== this.identityFingerprint) await this.loadIdentities()
    else this.identityLoadedAt = Date.now()
  }

  private async fingerprint(): Promise<string> {
    const db = this.store.db
    const [i, s] = await Promise.all([
      db.selectFrom('identifiers').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst(),
      db.selectFrom('segments').select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.max('created_at').as('m')]).executeTakeFirst(),
    ])
    return `${i?.n}|${s?.n}|${s?.m}`
  }

  /** Folds new events in; true when one of them may have changed identities (new browser, identify, link). */
  private async fold(): Promise<boolean> {
    const db = this.store.db
    const now = Date.now()
    for (const [id, at] of this.gaps) if (now - at > GAP_TTL_MS) this.gaps.delete(id)
    let identities = false
    const gapIds = [...this.gaps.keys()]
    for (;;) {
      const rows = await db
        .selectFrom('events')
        .select(['id', 'identity_key', 'type', 'event', 'timestamp', 'session_id', 'user_id', 'email', 'properties', 'context', 'browser', 'os', 'device', 'received_at'])
        .where((eb) => (gapIds.length ? eb.or([eb('id', '>', this.watermark), eb('id', 'in', gapIds)]) : eb('id', '>', this.watermark)))
        .orderBy('id')
        .limit(FOLD_BATCH)
        .execute()
      gapIds.length = 0
      for (const r of rows) {
        const id = Number(r.id)
        if (id <= this.watermark && !this.gaps.delete(id)) continue
        if (this.store.dialect === 'postgres' && id > this.watermark + 1 && now - Number(r.received_at) < GAP_TTL_MS) {
          // Ids between the last one seen and this one may belong to transactions not yet committed.
          for (let g = Math.max(this.watermark + 1, id - MAX_GAPS); g < id; g++) this.gaps.set(g, now)
        }
        if (id > this.watermark) this.watermark = id
        let info = this.keys.get(r.identity_key)
        if (!info) this.keys.set(r.identity_key, (info = { signals: [], browser: null, os: null, device: null }))
        info.signals.push(signalOf(r))
        const owner = this.profileOfKey.get(r.identity_key)
        if (owner) this.dirty.add(owner)
        if (!owner || r.user_id !== null || r.email !== null || r.type === 'identify' || r.type === 'alias') identities = true
        if (r.browser || r.os || r.device) Object.assign(info, { browser: r.browser, os: r.os, device: r.device })
      }
      if (this.gaps.size > MAX_GAPS) {
        const drop = [...this.gaps.keys()].sort((a, b) => a - b).slice(0, this.gaps.size - MAX_GAPS)
        for (const g of drop) this.gaps.delete(g)
      }
      if (rows.length < FOLD_BATCH) break
    }
    return identities
  }

  private async loadIdentities(): Promise<void> {
    const db = this.store.db
    const fingerprint = await this.fingerprint()
    const [profiles, identifiers, segments] = await Promise.all([
      db.selectFrom('profiles').select(['id', 'email', 'user_id', 'identified_at', 'created_at']).where('merged_into', 'is', null).execute(),
      db.selectFrom('identifiers').select(['key', 'profile_id']).execute(),
      db.selectFrom('segments').selectAll().orderBy('created_at').execute(),
    ])
    const people = new Map<string, PersonRow>()
    for (const p of profiles) {
      people.set(p.id, {
        id: p.id,
        email: p.email,
        userId: p.user_id,
        identifiedAt: p.identified_at === null ? null : Number(p.identified_at),
        createdAt: Number(p.created_at),
        keys: [],
      })
    }
    const profileOfKey = new Map<string, string>()
    for (const i of identifiers) {
      people.get(i.profile_id)?.keys.push(i.key)
      profileOfKey.set(i.key, i.profile_id)
    }
    // Signals of erased identifiers go too, so a browser that comes back starts empty (rule 6).
    for (const k of this.keys.keys()) if (!profileOfKey.has(k)) this.keys.delete(k)
    const stageIds = this.config.stages.map((s) => s.id)
    const apiSegments: SegmentDef[] = []
    for (const s of segments) {
      try {
        const raw = { id: s.id, name: s.name, when: parseJson(s.definition as JsonColumn), ...(s.description ? { description: s.description } : {}) }
        apiSegments.push({ ...checkSegment(raw, `segment ${s.id}`, stageIds, new Set()), origin: 'api' })
      } catch {
        // A stored segment naming a stage the config no longer has is skipped, not fatal.
      }
    }
    for (const p of people.values()) {
      const old = this.people.get(p.id)
      if (!old || old.identifiedAt !== p.identifiedAt || old.email !== p.email || old.userId !== p.userId || old.keys.join() !== p.keys.join()) this.dirty.add(p.id)
    }
    for (const id of this.evals.keys()) if (!people.has(id)) this.evals.delete(id), this.memos.clear()
    // A segment added or removed through the API changes everyone's membership.
    if (JSON.stringify(apiSegments) !== JSON.stringify(this.apiSegments)) this.evals.clear()
    this.people = people
    this.profileOfKey = profileOfKey
    this.apiSegments = apiSegments
    this.identityLoadedAt = Date.now()
    this.identityFingerprint = fingerprint
  }

  /** Caches a result derived from the evaluations until one of them changes. */
  memo<T>(key: string, fn: () => T, now = Date.now()): T {
    this.evaluations(now)
    if (!this.memos.has(key)) this.memos.set(key, fn())
    return this.memos.get(key) as T
  }

  /** Config segments first, then the ones created through the API. */
  segments(): SegmentDef[] {
    return [...this.config.segments, ...this.apiSegments]
  }

  private modelConfig(): JourneyConfig {
    return { ...this.config, segments: this.segments() }
  }

  allPeople(): Iterable<PersonRow> {
    return this.people.values()
  }

  person(id: string): PersonRow | undefined {
    return this.people.get(id)
  }

  profileOf(key: string): string | undefined {
    return this.profileOfKey.get(key)
  }

  keyInfo(key: string): KeyInfo | undefined {
    return this.keys.get(key)
  }

  asPerson(p: PersonRow): Person {
    const signals: Signal[] = []
    for (const k of p.keys) {
      const info = this.keys.get(k)
      if (info) for (const s of info.signals) signals.push(s)
    }
    return { id: p.id, identifiedAt: p.identifiedAt, signals }
  }

  private evaluateOne(p: PersonRow, config: JourneyConfig, now: number) {
    const person = this.asPerson(p)
    const entry = { e: evaluate(person, config, now), c: contributions(person), at: now }
    this.evals.delete(p.id)
    this.evals.set(p.id, entry)
    this.dirty.delete(p.id)
    this.version++
    this.memos.clear()
    return entry
  }

  evaluate(p: PersonRow, now = Date.now()): Evaluation {
    const cached = this.evals.get(p.id)
    if (cached && !this.dirty.has(p.id)) return cached.e
    return this.evaluateOne(p, this.modelConfig(), now).e
  }

  /** Everyone's evaluation and journey contribution, brought up to date incrementally. */
  evaluations(now = Date.now()): Map<string, { e: Evaluation; c: Contribution; at: number }> {
    const config = this.modelConfig()
    for (const id of [...this.dirty]) {
      const p = this.people.get(id)
      if (p) this.evaluateOne(p, config, now)
      else this.dirty.delete(id)
    }
    if (this.evals.size < this.people.size) {
      for (const p of this.people.values()) if (!this.evals.has(p.id)) this.evaluateOne(p, config, now)
    }
    let budget = STALE_BUDGET
    for (const [id, entry] of this.evals) {
      if (budget-- <= 0 || now - entry.at < STALE_MS) break
      this.evaluateOne(this.people.get(id)!, config, now)
    }
    return this.evals
  }
}
