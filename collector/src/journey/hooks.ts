// What the journey worker offers to other modules (webhooks, extra analytics tables): it reads
// every stored event exactly once, in id order, and re-evaluates the people those events touch.
// Each step runs inside the worker's transaction, the same one that moves its watermark, so an
// extension's rows are written exactly once per event and never for an event that is not stored.
import type { Db, Dialect } from '../db/schema.js'

/** A stored event as the worker read it (JSON columns parsed). */
export interface StoredEvent {
  id: number
  messageId: string
  type: string
  event: string | null
  identityKey: string
  anonymousId: string | null
  userId: string | null
  email: string | null
  sessionId: string | null
  /** Corrected event time, epoch ms. */
  timestamp: number
  receivedAt: number
  properties: Record<string, unknown>
  context: Record<string, unknown>
  traits: Record<string, unknown>
}

/** Keeps facts of its own from events (for example revenue per campaign and day). */
export interface EventKeeper {
  /** Stable name; a keeper added to an existing database is backfilled from the first event. */
  name: string
  /**
   * Returns the identifier keys whose people must be evaluated again besides those the events
   * belong to (facts of theirs that these events completed), if any.
   */
  apply(trx: Db, dialect: Dialect, events: StoredEvent[]): Promise<void | string[]>
  /** An erased person's identifier keys: what the keeper holds of them goes, in the erasing transaction. */
  forget?(trx: Db, dialect: Dialect, keys: string[]): Promise<void>
}

/** The person as evaluated after a change. */
export interface PersonState {
  profileId: string
  email: string | null
  userId: string | null
  identifiedAt: number | null
  stage: string
  score: number
  segments: string[]
  channel: string | null
  source: string | null
  firstSeen: number | null
  lastSeen: number | null
}

export type PersonChangeKind = 'stage.entered' | 'segment.entered' | 'segment.left' | 'person.identified'

export interface PersonChange {
  kind: PersonChangeKind
  /** The stage entered (`stage.entered`) or the segment entered or left. */
  stage?: string
  segment?: string
  person: PersonState
  /**
   * What moved the person: the newest of their events read in this step, or null when the
   * change came from time passing (a window closing, a score decaying) or a config change.
   */
  cause: ChangeCause | null
  /**
   * `event`: new events of the person; `time`: the day moved on (windows, decay); `config`: the
   * definitions or their facts changed since the person was last evaluated (a new segment, a
   * rebuilt rule), so the change restates history.
   */
  origin: 'event' | 'time' | 'config'
}

export interface ChangeCause {
  /** The event's id in the events table. */
  id: number
  messageId: string
  event: string | null
  type: string
  /** Corrected event time, epoch ms. */
  at: number
  /** When the collector stored it, epoch ms. */
  receivedAt: number
}

/** What one step did: people's changes, in the order they happened per person, and the new events with their person. */
export interface StepChanges {
  changes: PersonChange[]
  /** Each new event whose person is live, with that person as evaluated after the step. */
  events: Array<{ event: StoredEvent; person: PersonState }>
  /** The worker's clock at the step. */
  now: number
}

/** Called once per step that read events or changed someone, in the worker's transaction. */
export type ChangeListener = (trx: Db, dialect: Dialect, step: StepChanges) => Promise<void>

export interface JourneyHooks {
  keepers?: EventKeeper[]
  listeners?: ChangeListener[]
  /** Called after a step's transaction has committed (a listener's rows are then visible). */
  committed?: Array<() => void>
}
