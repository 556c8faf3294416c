// The read API's answers (docs/contract.md, Read API), as the collector sends them and the viewer
// reads them.
import type { Touch } from './vocabulary.js'

export interface TimelineEvent {
  messageId: string
  type: string
  event: string | null
  name: string | null
  timestamp: string
  receivedAt: string
  originalTimestamp: string | null
  sentAt: string | null
  sessionId: string | null
  anonymousId: string | null
  userId: string | null
  email: string | null
  properties: Record<string, unknown> | null
  traits: Record<string, unknown> | null
  context: Record<string, unknown> | null
  browser: string | null
  os: string | null
  device: string | null
  isBot: boolean
  ip: string | null
  /**
   * The event was recorded anonymously, before its device belonged to the identified person:
   * before the person's identification, or, on a device linked later, before that link.
   */
  beforeIdentified: boolean
}

export interface JourneyReport {
  model: 'journey'
  period: { from: string | null; to: string | null }
  /** People in the period: first seen within it. */
  people: number
  stages: Array<{ stage: string; name: string; count: number; reached: number; conversion: number | null }>
  /** `customers`: of the consumers, those in the customer stage; `becameCustomer`: of those, who saw it before becoming one. */
  content: Array<{ name: string; consumers: number; known: number; becameKnown: number; customers: number; becameCustomer: number }>
  pages: Array<{ path: string; visitors: number; known: number; becameKnown: number; customers: number; becameCustomer: number }>
  channels: Array<{ channel: string; visitors: number; leads: number; customers: number }>
  ctas: Array<{ label: string; kind: 'content' | 'track'; clicks: number; people: number; beforeIdentification: number }>
  status: JourneyStatus
}

/** How far the journey analytics are behind the stored events. */
export interface JourneyStatus {
  /** Highest event id stored, and the highest read. */
  lastEventId: number
  readTo: number
  /** Rebuilds of facts under way (a rule or segment added to a database that has events): event ids read of those to read. */
  backfills: Array<{ done: number; total: number }>
  /** People whose evaluation predates the current day or config, still to redo (counted up to 10,001). */
  stale: number
}

export interface ScoreReason {
  rule: string
  label: string
  /** Events that fired the rule (after `max`). */
  count: number
  /** Points it contributed (after decay), one decimal. */
  points: number
}

/** A touch with the time of the visit it came from. */
export type TouchAt = Touch & { at: string | null }

export interface Identifier {
  kind: string
  value: string
  eventCount: number
  firstSeen: string | null
  lastSeen: string | null
}

/** A profile as the identity graph holds it. */
export interface ProfileSummary {
  id: string
  email: string | null
  userId: string | null
  /** Journey stage id. */
  stage: string
  identifiedAt: string | null
  createdAt: string
  firstSeen: string | null
  lastSeen: string | null
  eventCount: number
  /** The touch of the person's earliest page view on any device (`touchOfEvent`); null without one. */
  firstTouch: TouchAt | null
  /** The latest event that carried a campaign or an external referrer. */
  lastTouch: TouchAt | null
  /** Its userId and email, and the most recently seen of its anonymous ids (at most 100). */
  identifiers: Identifier[]
  /** How many identifiers the person has in all; `GET /api/profiles/:id/devices` pages through them. */
  identifierCount: number
}

/** A row of the People list: the profile with its journey. */
export interface PersonSummary extends ProfileSummary {
  stageName: string
  score: number
  channel: string | null
  segments: string[]
}

/** `GET /api/profiles`, `POST /api/profiles/search`, `GET /api/segments/:id/profiles`. */
export interface PeoplePage {
  profiles: PersonSummary[]
  total: number
  /** Set when `total` stopped counting at its cap. */
  totalCapped?: true
  nextCursor: string | null
}

export interface PersonJourney {
  stage: string
  stageName: string
  score: number
  reasons: ScoreReason[]
  segments: Array<{ id: string; name: string }>
  channel: string | null
  source: string | null
  /** The most recently seen devices (at most 20); `GET /api/profiles/:id/devices` pages through all. */
  devices: Device[]
  deviceCount: number
  /**
   * The identification moment as the timeline shows it; null while anonymous. `earlierEvents`
   * and `devices` count what was stitched then: devices linked later have their own entry in
   * `linkedDevices`.
   */
  identification: { at: string; as: string; earlierEvents: number; devices: number } | null
  /** Devices linked to the person after the identification, in the order they were linked (at most 200). */
  linkedDevices: LinkedDevice[]
}

/** A device that joined an identified person later: where its own marker goes in the timeline. */
export interface LinkedDevice {
  anonymousId: string
  browser: string | null
  os: string | null
  device: string | null
  /** The first event that carried this device together with the person's email or userId. */
  at: string
  /** Its events recorded before then (they are marked in the timeline). */
  earlierEvents: number
}

export interface ProfileDetail extends ProfileSummary {
  traits: Record<string, { value: unknown; updatedAt: string }>
  conflicts: Array<{ identifier: string; profileId: string | null; otherProfileId: string | null; reason: string; at: string; messageId: string | null }>
  /** Set when the id asked for was merged into this profile. */
  mergedFrom: string | null
}

/** `GET /api/profiles/:id` and the lookup. */
export interface ProfileAnswer extends ProfileDetail {
  journey: PersonJourney | null
}

/** One anonymous id of a person: a browser or device. */
export interface Device {
  anonymousId: string
  browser: string | null
  os: string | null
  device: string | null
  events: number
  firstSeen: string | null
  lastSeen: string | null
}

/** `GET /api/profiles/:id/devices?cursor=&limit=`: most recently seen first. */
export interface DevicesPage {
  profileId: string
  devices: Device[]
  nextCursor: string | null
}

/** One row of the share table: shares of one piece of content on one network. */
export interface ShareRow {
  content: string
  network: string
  /** `Content Shared` events. */
  shares: number
  /** Page views that arrived with one of these shares' tokens (not the sharer's own browser). */
  referredVisits: number
  /** People those visits brought (the sharer not counted). */
  people: number
  /** Of them, those who were anonymous when they arrived and are identified now. */
  becameKnown: number
}

/** `GET /api/journey/shares?from=&to=`: shares and the visits they brought in the period. */
export interface ShareReport {
  period: { from: string | null; to: string | null }
  rows: ShareRow[]
  status: JourneyStatus
}

/** `GET /api/profiles/:id/timeline`. */
export interface TimelinePage {
  profileId: string
  identifiedAt: string | null
  events: TimelineEvent[]
  nextCursor: string | null
}

/** An entry of `GET /api/segments`. */
export interface Segment {
  id: string
  name: string
  description: string | null
  origin: 'config' | 'api'
  count: number
}
