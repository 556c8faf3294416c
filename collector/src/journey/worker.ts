// The journey worker: reads every stored event once, in id order, following a watermark kept in
// the database, and keeps the journey facts, people's evaluations and the tables' sums up to
// date — in bounded steps, each one transaction, so no step holds the event loop or the write
// lock for long and a crash loses nothing (the watermark moves with the facts it covers).
//
// Several collector processes may share one PostgreSQL database: one step runs at a time
// (an advisory lock), whichever process takes it; they all read the same answer.
import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import type { JourneyStatus } from '@waymark/contract'
import type { Store } from '../db/connect.js'
import { parseJson, type Db, type JourneyStateTable } from '../db/schema.js'
import { checkSegment } from './config.js'
import { analyticsKeeper } from './analytics.js'
import { factRows, writeFacts, type KeyedSignal } from './facts.js'
import type { EventKeeper, JourneyHooks, PersonChange, PersonState, StepChanges, StoredEvent } from './hooks.js'
import { dayOf, matchersOf, type JourneyConfig, type Matcher, type SegmentDef } from './model.js'
import { chunks, forgetPerson, reevaluate, type Cause } from './people.js'
import { signalOfParsed } from './signal.js'

/**
 * The kinds of rows an evaluated person adds to the sums: a new kind changes it, so every person
 * is evaluated again in the background, as after a config change (2: the people shares brought).
 */
const ROWS_VERSION = 2
/** Arbitrary constant naming the journey advisory lock on PostgreSQL. */
const JOURNEY_LOCK = 72_617_003
/**
 * PostgreSQL hands out event ids before commit: an id missing below the highest one read may
 * still commit. It is looked for again until every transaction that was running when it was
 * seen has ended, and at least this long (an id is drawn a moment before its transaction id).
 */
const HOLE_MIN_MS = 2_000
const MAX_HOLES = 20_000
/**
 * A step's target time: on SQLite the queries run on the event loop's thread; on PostgreSQL they
 * do not, but a read waits for the step under way.
 */
const STEP_MS = { sqlite: 25, postgres: 60 }
const MIN_BATCH = 20

const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {})

export interface WorkerOptions {
  /** Events read per step. */
  batch?: number
  /** People re-evaluated per step when the day or the config changed. */
  sweep?: number
  /** Pause between steps while nothing is left to do. */
  idleMs?: number
  now?: () => number
}


interface StepResult {
  /** More work is waiting (events, a backfill, stale people). */
  more: boolean
}

type Hole = [id: number, seenAt: number, xmax: string]

export class JourneyWorker {
  /** Events read per step: adapts so a step takes about STEP_MS (events differ a thousandfold in size). */
  private batch: number
  private readonly maxBatch: number
  private readonly sweepSize: number
  private readonly idleMs: number
  private readonly now: () => number
  private timer: NodeJS.Timeout | null = null
  private running: Promise<StepResult> | null = null
  private stopped = false
  private apiSegments: SegmentDef[] = []
  private segmentsFingerprint = ''
  /** Active matcher id → key, and key → matcher, as of the last step. */
  private matcherKeys = new Map<number, string>()
  private active: Array<[number, Matcher]> = []
  private reconciledHash = ''
  /** The analytics tables' keeper, then those of other modules. */
  private readonly keepers: EventKeeper[]

  constructor(
    private readonly store: Store,
    readonly config: JourneyConfig,
    private readonly hooks: JourneyHooks = {},
    opts: WorkerOptions = {},
  ) {
    this.maxBatch = opts.batch ?? 2_000
    this.batch = Math.min(this.maxBatch, 200)
    this.sweepSize = opts.sweep ?? 200
    this.idleMs = opts.idleMs ?? 250
    this.now = opts.now ?? Date.now
    this.keepers = [analyticsKeeper, ...(hooks.keepers ?? [])]
  }

  /** Config segments first, then the ones created through the API (as of the last step). */
  segments(): SegmentDef[] {
    return [...this.config.segments, ...this.apiSegments]
  }

  modelConfig(): JourneyConfig {
    return { ...this.config, segments: this.segments() }
  }

  /** Steps in the background until stopped. */
  start(): void {
    this.stopped = false
    const loop = async () => {
      this.timer = null
      if (this.stopped) return
      let more = false
      try {
        more = (await this.step(false)).more
      } catch {
        // The database is away or busy: try again after the pause.
      }
      if (!this.stopped) this.timer = setTimeout(loop, more ? 0 : this.idleMs)
    }
    this.timer = setTimeout(loop, 0)
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.running?.catch(() => undefined)
  }

  /**
   * Brings the journey up to date before a read: every event stored when the read was asked is
   * read first, so a read that follows a write sees it. Events that arrive meanwhile are left
   * to the background loop, and the wait is bounded: a read under heavy ingest, or after a
   * large import, answers from what is read so far (`status` says how far that is).
   */
  async sync(budgetMs = 500): Promise<void> {
    const until = this.now() + budgetMs
    const target = await this.lastEventId()
    let at = await this.readState()
    // Segments created or deleted through the API (by any process) are taken in by a step.
    const same = fingerprintOf(await storedSegments(this.store.db)) === this.segmentsFingerprint
    if (at.readTo >= target && !at.holes && same) return
    // A step already under way may have read before the caller's write: let it end first.
    if (this.running) await this.running.catch(() => undefined)
    for (;;) {
      // Each step also reads again the ids that were not committed yet at the last one.
      await this.step(true)
      at = await this.readState()
      if (at.readTo >= target || this.now() >= until) return
      // SQLite answers on this thread: let other requests in between steps.
      await new Promise((resolve) => setImmediate(resolve))
    }
  }

  private async lastEventId(db: Db = this.store.db): Promise<number> {
    const last = await db.selectFrom('events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst()
    return Number(last?.id ?? 0)
  }

  /** The watermark, and whether ids below it may still commit (PostgreSQL). */
  private async readState(db: Db = this.store.db): Promise<{ readTo: number; holes: boolean; epoch: number }> {
    const row = await db.selectFrom('journey_state').select(['scanned_to', 'holes', 'epoch']).where('id', '=', 1).executeTakeFirst()
    return { readTo: Number(row?.scanned_to ?? 0), holes: row ? row.holes !== '[]' : false, epoch: Number(row?.epoch ?? 0) }
  }

  /** One step; concurrent callers in this process share it. */
  step(wait: boolean): Promise<StepResult> {
    return (this.running ??= this.runStep(wait).finally(() => (this.running = null)))
  }

  private async runStep(wait: boolean): Promise<StepResult> {
    const { store } = this
    const started = performance.now()
    const result = await store.transaction(async (trx) => {
      if (store.dialect === 'postgres') {
        if (wait) {
          // A read waits for another process's step, then sees its result.
          await sql`SET LOCAL lock_timeout = '5s'`.execute(trx)
          await sql`SELECT pg_advisory_xact_lock(${JOURNEY_LOCK})`.execute(trx)
        } else {
          const got = await sql<{ ok: boolean }>`SELECT pg_try_advisory_xact_lock(${JOURNEY_LOCK}) AS ok`.execute(trx)
          if (!got.rows[0]?.ok) return null
        }
      }
      return this.stepIn(trx)
    })
    if (result) for (const done of this.hooks.committed ?? []) done()
    // SQLite runs on this thread: a step's time is time the event loop waits.
    const took = performance.now() - started
    const target = STEP_MS[store.dialect]
    if (took > target * 2) this.batch = Math.max(MIN_BATCH, Math.floor(this.batch / 2))
    else if (took < target / 2) this.batch = Math.min(this.maxBatch, this.batch * 2)
    return result ?? { more: false }
  }

  private async stepIn(trx: Db): Promise<StepResult> {
    const now = this.now()
    const state = await this.loadState(trx, now)
    const changes: PersonChange[] = []
    const config = this.modelConfig()

    // 1. New events: facts for every active matcher, keepers, and the people they touch.
    const fresh = await this.readNew(trx, state, now)
    const dirty = new Set<string>()
    const causes = new Map<string, Cause>()
    const profileOf = new Map<string, string>()
    if (fresh.length) {
      const keyed = fresh.map(toKeyed)
      await writeFacts(trx, this.store.dialect, factRows(keyed, this.active))
      const also = new Set<string>()
      for (const k of this.keepers) for (const key of (await k.apply(trx, this.store.dialect, fresh)) ?? []) also.add(key)
      const latest = new Map<string, StoredEvent>()
      for (const e of fresh) {
        const prev = latest.get(e.identityKey)
        if (!prev || e.timestamp >= prev.timestamp) latest.set(e.identityKey, e)
      }
      for (const key of latest.keys()) also.delete(key)
      for (const chunk of chunks([...latest.keys(), ...also])) {
        const owners = await trx.selectFrom('identifiers').select(['key', 'profile_id']).where('key', 'in', chunk).execute()
        for (const o of owners) {
          dirty.add(o.profile_id)
          const e = latest.get(o.key)
          if (!e) continue
          profileOf.set(o.key, o.profile_id)
          const prev = causes.get(o.profile_id)
          if (!prev || e.timestamp >= prev.at) causes.set(o.profile_id, { id: e.id, messageId: e.messageId, event: e.event, type: e.type, at: e.timestamp, receivedAt: e.receivedAt })
        }
      }
    }

    // 2. A rebuild under way: a share of the step's events, for the matchers and keepers it fills.
    const backfilled = await this.backfillChunk(trx, state)

    // 3. People: those the new events touched, then a share of those evaluated before the
    // current day or config (decay and windows move with the day).
    const states = new Map<string, PersonState>()
    const ctx = { config, matchers: this.matcherKeys, now, stamp: state.epoch, changedEpoch: Number(state.changed_epoch), states }
    changes.push(...(await reevaluate(trx, this.store.dialect, [...dirty], { ...ctx, causes })))
    let stale: string[] = []
    if (!backfilled.pending) {
      stale = (
        await trx.selectFrom('journey_people').select('profile_id').where('stamp', '<', state.epoch).orderBy('stamp').limit(this.sweepSize).execute()
      ).map((r) => r.profile_id)
      changes.push(...(await reevaluate(trx, this.store.dialect, stale.filter((id) => !dirty.has(id)), ctx)))
    }
    const listeners = this.hooks.listeners ?? []
    if (listeners.length && (changes.length || fresh.length)) {
      const events: StepChanges['events'] = []
      for (const e of fresh) {
        const person = profileOf.get(e.identityKey)
        const st = person === undefined ? undefined : states.get(person)
        if (st) events.push({ event: e, person: st })
      }
      for (const listen of listeners) await listen(trx, this.store.dialect, { changes, events, now })
    }

    await trx
      .updateTable('journey_state')
      .set({
        scanned_to: state.scanned_to,
        holes: state.holes,
        epoch: state.epoch,
        epoch_day: state.epoch_day,
        config_hash: state.config_hash,
        keepers: state.keepers,
        changed_epoch: state.changed_epoch,
      })
      .where('id', '=', 1)
      .execute()
    return { more: fresh.length >= this.batch || backfilled.more || stale.length >= this.sweepSize }
  }

  /** The state row, after taking in any change of day, config, API segments or keepers. */
  private async loadState(trx: Db, now: number): Promise<JourneyStateTable> {
    const segments = await storedSegments(trx)
    const fingerprint = fingerprintOf(segments)
    if (fingerprint !== this.segmentsFingerprint) {
      const stageIds = this.config.stages.map((s) => s.id)
      const api: SegmentDef[] = []
      for (const s of segments) {
        try {
          const raw = { id: s.id, name: s.name, when: parseJson(s.definition as string), ...(s.description ? { description: s.description } : {}) }
          api.push({ ...checkSegment(raw, `segment ${s.id}`, stageIds, new Set()), origin: 'api' })
        } catch {
          // A stored segment naming a stage the config no longer has is skipped, not fatal.
        }
      }
      this.apiSegments = api
      this.segmentsFingerprint = fingerprint
    }
    const config = this.modelConfig()
    const hash = createHash('sha256').update(JSON.stringify([ROWS_VERSION, config])).digest('hex').slice(0, 32)
    let state = await trx.selectFrom('journey_state').selectAll().where('id', '=', 1).executeTakeFirst()
    if (!state) {
      state = { id: 1, scanned_to: 0, holes: '[]', epoch: 1, epoch_day: dayOf(now), config_hash: '', keepers: '[]', changed_epoch: 0 }
      await trx.insertInto('journey_state').values(state).execute()
    }
    state = { ...state, scanned_to: Number(state.scanned_to), epoch: Number(state.epoch), epoch_day: Number(state.epoch_day), changed_epoch: Number(state.changed_epoch) }
    const keepers = this.keepers.map((k) => k.name)
    const knownKeepers = new Set<string>(JSON.parse(state.keepers))
    const newKeepers = keepers.filter((k) => !knownKeepers.has(k))
    let newMatchers: number[] = []
    // Each process reconciles once per config it sees (another process may have added the rows).
    if (hash !== this.reconciledHash) {
      newMatchers = await this.reconcileMatchers(trx, config)
      this.reconciledHash = hash
    }
    if (state.config_hash !== hash) {
      state.config_hash = hash
      state.changed_epoch = ++state.epoch
    }
    if ((newMatchers.length || newKeepers.length) && state.scanned_to > 0) {
      await trx
        .insertInto('journey_backfills')
        .values({ matchers: JSON.stringify(newMatchers), keepers: JSON.stringify(newKeepers), cursor: 0, upto: state.scanned_to })
        .execute()
    }
    if (newKeepers.length) state.keepers = JSON.stringify([...knownKeepers, ...newKeepers])
    if (dayOf(now) !== state.epoch_day) {
      state.epoch_day = dayOf(now)
      state.epoch++
    }
    return state
  }

  /** Active matchers for `config`; returns the ids of matchers that were not active before. */
  private async reconcileMatchers(trx: Db, config: JourneyConfig): Promise<number[]> {
    const wanted = matchersOf(config)
    const rows = await trx.selectFrom('journey_matchers').select(['id', 'definition']).where('active', '=', 1).execute()
    const have = new Map(rows.map((r) => [r.definition, Number(r.id)]))
    const added: number[] = []
    for (const key of wanted.keys()) {
      if (have.has(key)) continue
      // A matcher dropped and added again gets a new id: the rows of its old id are stale.
      const row = await trx.insertInto('journey_matchers').values({ definition: key, active: 1 }).returning('id').executeTakeFirstOrThrow()
      have.set(key, Number(row.id))
      added.push(Number(row.id))
    }
    const retired = [...have].filter(([key]) => !wanted.has(key)).map(([, id]) => id)
    if (retired.length) await trx.updateTable('journey_matchers').set({ active: 0 }).where('id', 'in', retired).execute()
    this.matcherKeys = new Map([...have].filter(([key]) => wanted.has(key)).map(([key, id]) => [id, key]))
    this.active = [...this.matcherKeys].map(([id, key]) => [id, wanted.get(key)!])
    return added
  }

  /** Events past the watermark (and, on PostgreSQL, in its holes), at most one batch. */
  private async readNew(trx: Db, state: JourneyStateTable, now: number): Promise<StoredEvent[]> {
    const pg = this.store.dialect === 'postgres'
    let holes: Hole[] = JSON.parse(state.holes)
    const holeIds = holes.map((h) => h[0])
    // Taken before the read: a hole is given up only when every transaction that may hold its id
    // had ended before the read began, so the read would have seen its event. (Taken after, a
    // commit landing between the two was given up unread.)
    const before = pg && holes.length ? await snapshotOf(trx) : null
    const rows = await trx
      .selectFrom('events')
      .select(EVENT_COLUMNS)
      .where((eb) => (holeIds.length ? eb.or([eb('id', '>', state.scanned_to), eb('id', 'in', holeIds)]) : eb('id', '>', state.scanned_to)))
      .orderBy('id')
      .limit(this.batch)
      .execute()
    if (pg) {
      const found = new Set(rows.map((r) => Number(r.id)))
      if (before) holes = holes.filter((h) => !found.has(h[0]) && !(BigInt(before.xmin) > BigInt(h[2]) && now - h[1] >= HOLE_MIN_MS))
      const gaps: number[] = []
      let prev = state.scanned_to
      for (const r of rows) {
        const id = Number(r.id)
        if (id <= state.scanned_to) continue
        for (let g = Math.max(prev + 1, id - MAX_HOLES); g < id; g++) gaps.push(g)
        prev = id
      }
      if (gaps.length) {
        // Taken after the read: a transaction holding a missing id was running when the read
        // began (so it is below this xmax) or had not been given its transaction id yet.
        const after = await snapshotOf(trx)
        for (const g of gaps) holes.push([g, now, after.xmax])
      }
      if (holes.length > MAX_HOLES) holes = holes.slice(holes.length - MAX_HOLES)
      state.holes = JSON.stringify(holes)
    }
    for (const r of rows) state.scanned_to = Math.max(state.scanned_to, Number(r.id))
    return rows.map(toStored)
  }

  /** One chunk of the oldest rebuild under way. */
  private async backfillChunk(trx: Db, state: JourneyStateTable): Promise<{ more: boolean; pending: boolean }> {
    const job = await trx.selectFrom('journey_backfills').selectAll().orderBy('id').limit(1).executeTakeFirst()
    if (!job) return { more: false, pending: false }
    const cursor = Number(job.cursor)
    const upto = Number(job.upto)
    const holeIds = new Set((JSON.parse(state.holes) as Hole[]).map((h) => h[0]))
    const read = await trx.selectFrom('events').select(EVENT_COLUMNS).where('id', '>', cursor).where('id', '<=', upto).orderBy('id').limit(this.batch).execute()
    const rows = read.filter((r) => !holeIds.has(Number(r.id)))
    const ids = new Set<number>(JSON.parse(job.matchers))
    const matchers = this.active.filter(([id]) => ids.has(id))
    const events = rows.map(toStored)
    if (matchers.length) await writeFacts(trx, this.store.dialect, factRows(events.map(toKeyed), matchers, false))
    const keepers = new Set<string>(JSON.parse(job.keepers))
    for (const k of this.keepers) if (keepers.has(k.name)) await k.apply(trx, this.store.dialect, events)
    const next = read.length < this.batch ? upto : Number(read[read.length - 1]!.id)
    if (next >= upto) {
      await trx.deleteFrom('journey_backfills').where('id', '=', job.id).execute()
      // Everyone is evaluated again with the complete facts.
      state.changed_epoch = ++state.epoch
      return { more: true, pending: false }
    }
    await trx.updateTable('journey_backfills').set({ cursor: next }).where('id', '=', job.id).execute()
    return { more: true, pending: true }
  }

  /** An erased person leaves the journey, in the erasing transaction. */
  async forget(trx: Db, profileId: string, keys: string[]): Promise<void> {
    if (this.store.dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(${JOURNEY_LOCK})`.execute(trx)
    await forgetPerson(trx, this.store.dialect, profileId, keys)
    for (const k of this.hooks.keepers ?? []) await k.forget?.(trx, this.store.dialect, keys)
  }

  /** How far the journey is behind the events, for readers. */
  async status(db: Db = this.store.db): Promise<JourneyStatus> {
    const [lastEventId, state, jobs] = await Promise.all([
      this.lastEventId(db),
      this.readState(db),
      db.selectFrom('journey_backfills').select(['cursor', 'upto']).orderBy('id').execute(),
    ])
    // Counted up to a bound, by the stamp index: the figure is for a progress line, not worth a
    // scan. Ordered, so the index is the plan: without it PostgreSQL, guessing from statistics
    // taken while everyone was stale, scanned every person to count none (133 ms at 10M events).
    const stale = await db
      .selectFrom((eb) => eb.selectFrom('journey_people').select('stamp').where('stamp', '<', state.epoch).orderBy('stamp').limit(10_001).as('s'))
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst()
    return {
      lastEventId,
      readTo: state.readTo,
      backfills: jobs.map((j) => ({ done: Number(j.cursor), total: Number(j.upto) })),
      stale: Number(stale?.n ?? 0),
    }
  }
}

/** The oldest transaction still running and the next one to start (PostgreSQL). */
const snapshotOf = async (trx: Db) =>
  (await sql<{ xmin: string; xmax: string }>`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin, pg_snapshot_xmax(pg_current_snapshot())::text AS xmax`.execute(trx)).rows[0]!

const storedSegments = (db: Db) => db.selectFrom('segments').selectAll().orderBy('created_at').orderBy('id').execute()
const fingerprintOf = (segments: Awaited<ReturnType<typeof storedSegments>>) =>
  JSON.stringify(segments.map((s) => [s.id, s.name, s.description, parseJson(s.definition as string)]))

const EVENT_COLUMNS = ['id', 'message_id', 'type', 'event', 'identity_key', 'anonymous_id', 'user_id', 'email', 'session_id', 'timestamp', 'received_at', 'properties', 'context', 'traits'] as const

function toStored(r: {
  id: number
  message_id: string
  type: string
  event: string | null
  identity_key: string
  anonymous_id: string | null
  user_id: string | null
  email: string | null
  session_id: string | null
  timestamp: number
  received_at: number
  properties: unknown
  context: unknown
  traits: unknown
}): StoredEvent {
  return {
    id: Number(r.id),
    messageId: r.message_id,
    type: r.type,
    event: r.event,
    identityKey: r.identity_key,
    anonymousId: r.anonymous_id,
    userId: r.user_id,
    email: r.email,
    sessionId: r.session_id,
    timestamp: Number(r.timestamp),
    receivedAt: Number(r.received_at),
    properties: obj(parseJson(r.properties as string)),
    context: obj(parseJson(r.context as string)),
    traits: obj(parseJson(r.traits as string)),
  }
}

function toKeyed(e: StoredEvent): KeyedSignal {
  return {
    key: e.identityKey,
    signal: signalOfParsed({ type: e.type, event: e.event, timestamp: e.timestamp, session_id: e.sessionId, user_id: e.userId, email: e.email }, e.properties, e.context),
  }
}
