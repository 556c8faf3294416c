// Typed view of the tables created by ./migrations. Times are epoch milliseconds
// (BIGINT in both databases) so ordering and arithmetic are identical on SQLite and PostgreSQL.
import type { Generated, Kysely } from 'kysely'

export type IdentifierKind = 'anonymousId' | 'userId' | 'email'
export const EVENT_TYPES = ['page', 'screen', 'track', 'identify', 'alias', 'group'] as const
export type EventType = (typeof EVENT_TYPES)[number]

/** JSON columns are TEXT on SQLite and JSONB on PostgreSQL: written as text, read back as either. */
export type JsonColumn = string | Record<string, unknown> | null

export interface ProfilesTable {
  id: string
  created_at: number
  /** The one userId this person holds (identity rule 4: never two). */
  user_id: string | null
  /** The one normalized email this person holds (rule 4). */
  email: string | null
  /** Corrected time of the earliest identifying event; null while anonymous (rule 7). */
  identified_at: number | null
  /** Set when this profile was merged into another: a tombstone kept so old ids still resolve. */
  merged_into: string | null
}

export interface IdentifiersTable {
  /** `${kind}:${value}` — the same string events carry in `identity_key`. */
  key: string
  kind: IdentifierKind
  value: string
  profile_id: string
  created_at: number
  // Per-identifier activity. Kept here (not on profiles) so a merge never has to recompute it.
  event_count: Generated<number>
  first_seen: number | null
  last_seen: number | null
  first_touch: string | null
  first_touch_at: number | null
  last_touch: string | null
  last_touch_at: number | null
}

export interface TraitsTable {
  identifier_key: string
  name: string
  value: string
  updated_at: number
}

export interface EventsTable {
  id: Generated<number>
  message_id: string
  source: string
  type: EventType
  event: string | null
  name: string | null
  identity_key: string
  anonymous_id: string | null
  user_id: string | null
  email: string | null
  previous_id: string | null
  session_id: string | null
  timestamp: number
  original_timestamp: number | null
  sent_at: number | null
  received_at: number
  properties: JsonColumn
  traits: JsonColumn
  context: JsonColumn
  browser: string | null
  os: string | null
  device: string | null
  is_bot: number
  ip: string | null
}

export interface IdentityConflictsTable {
  id: Generated<number>
  created_at: number
  message_id: string | null
  /** Identifier that asked to join a profile it could not join. */
  identifier_key: string
  /** Profile that identifier stays in (or was given). */
  profile_id: string | null
  /** Profile it would have been merged with. */
  other_profile_id: string | null
  reason: string
}

export interface SegmentsTable {
  id: string
  name: string
  description: string | null
  definition: JsonColumn
  created_at: number
}

export interface SchemaMigrationsTable {
  version: number
  name: string
  applied_at: number
}

export interface JourneyStateTable {
  id: number
  scanned_to: number
  /** JSON: [[id, seenAt, xmax], …] (PostgreSQL). */
  holes: string
  epoch: number
  epoch_day: number
  config_hash: string
  /** JSON: names of the event keepers whose facts are complete. */
  keepers: string
  /** The epoch of the last change of config or facts (a day's change excluded). */
  changed_epoch: number
}

export interface JourneyMatchersTable {
  id: Generated<number>
  /** The matcher's key (model.ts matcherKey). */
  definition: string
  active: number
}

export interface JourneyBackfillsTable {
  id: Generated<number>
  /** JSON: matcher ids to fill in. */
  matchers: string
  /** JSON: keeper names to feed. */
  keepers: string
  /** Events with ids in (cursor, upto] are still to read. */
  cursor: number
  upto: number
}

export interface JourneyHitsTable {
  key: string
  matcher: number
  day: number
  n: number
}

export interface JourneyTouchTable {
  key: string
  channel: string
  source: string | null
  at: number
}

export interface JourneyItemsTable {
  key: string
  kind: string
  item: string
  first_at: number
  first_identified: number
  n: number
}

export interface JourneyPeopleTable {
  profile_id: string
  stage_index: number
  score: number
  identified: number
  channel: string | null
  source: string | null
  first_seen: number
  last_seen: number
  /** JSON ScoreReason[]. */
  reasons: string
  /** JSON segment ids. */
  segments: string
  /** JSON Contribution: what this person adds to the rollup, taken back when they change. */
  contribution: string
  /** The state's epoch when evaluated. */
  stamp: number
  /** JSON [day, dim, item, a, b, c][]: what this person adds to journey_daily. */
  daily: string
  /** JSON [model, kind, campaign, ms][]: this person's rows of journey_durations. */
  durations: string
}

export interface JourneyMembersTable {
  segment: string
  profile_id: string
  last_seen: number
}

export interface JourneyRollupTable {
  day: number
  dim: string
  item: string
  a: number
  b: number
  c: number
}

export interface JourneyCampaignsTable {
  key: string
  day: number
  source: string
  medium: string
  campaign: string
  first_at: number
  last_at: number
}

export interface JourneyOrdersTable {
  key: string
  message_id: string
  at: number
  order_id: string | null
  currency: string
  amount: number
}

export type JourneyDailyTable = JourneyRollupTable

export interface JourneyDurationsTable {
  profile_id: string
  model: string
  kind: string
  campaign: string
  first_seen: number
  ms: number
}

export interface JourneyCountsTable {
  name: string
  n: number
}

export interface WebhookSubscriptionsTable {
  id: string
  url: string
  /** whsec_<base64>: shown once when created, never read back through the API. */
  secret: string
  /** JSON WebhookTriggers. */
  triggers: string
  source: 'config' | 'api'
  created_at: number
  /** Changes caused by events with ids up to this one are history: never sent. */
  from_event: number
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed'

export interface WebhookDeliveriesTable {
  seq: Generated<number>
  /** msg_<ulid>: the webhook-id header, the same on every attempt. */
  id: string
  subscription_id: string
  /** The person's profile id when enqueued: one person's deliveries go out in seq order. */
  person_key: string
  kind: string
  /** The exact JSON body that is signed and sent. */
  payload: string
  status: DeliveryStatus
  attempts: number
  created_at: number
  next_attempt_at: number
  /** Retrying stops past this (24 h after creation or a resend). */
  expires_at: number
  lease_until: number
  lease_owner: string | null
  last_attempt_at: number | null
  last_status: number | null
  last_error: string | null
  /** The start of the last answer's body (at most 1 KB). */
  last_body: string | null
  delivered_at: number | null
}

export interface ShareLinksTable {
  token: string
  content: string
  network: string
  /** Identity key of the sharing event ('' once that person is erased). */
  sharer: string
  at: number
}

export interface ShareVisitsTable {
  token: string
  /** Identity key of the arriving event. */
  visitor: string
  day: number
  first_at: number
  first_identified: number
  n: number
}

export interface ShareTotalsTable {
  day: number
  content: string
  network: string
  shares: number
  visits: number
}

export interface DeviceLinksTable {
  /** `anonymousId:…` */
  key: string
  at: number
}

export interface DB {
  webhook_subscriptions: WebhookSubscriptionsTable
  webhook_deliveries: WebhookDeliveriesTable
  journey_state: JourneyStateTable
  journey_matchers: JourneyMatchersTable
  journey_backfills: JourneyBackfillsTable
  journey_hits: JourneyHitsTable
  journey_touch: JourneyTouchTable
  journey_items: JourneyItemsTable
  journey_people: JourneyPeopleTable
  journey_members: JourneyMembersTable
  journey_rollup: JourneyRollupTable
  journey_counts: JourneyCountsTable
  journey_campaigns: JourneyCampaignsTable
  journey_orders: JourneyOrdersTable
  journey_daily: JourneyDailyTable
  journey_durations: JourneyDurationsTable
  share_links: ShareLinksTable
  share_visits: ShareVisitsTable
  share_totals: ShareTotalsTable
  device_links: DeviceLinksTable
  profiles: ProfilesTable
  identifiers: IdentifiersTable
  traits: TraitsTable
  events: EventsTable
  identity_conflicts: IdentityConflictsTable
  segments: SegmentsTable
  schema_migrations: SchemaMigrationsTable
}

export type Db = Kysely<DB>
export type Dialect = 'sqlite' | 'postgres'

export function parseJson(value: JsonColumn): Record<string, unknown> | null {
  if (value == null) return null
  return typeof value === 'string' ? (JSON.parse(value) as Record<string, unknown>) : value
}
