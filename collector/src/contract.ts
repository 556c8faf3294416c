// The read API's wire shapes, shared by the server and the viewer (collector/ui). No imports, so
// the viewer's DOM-only build can use them without pulling in server code.

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
  /** Rule 7: the event happened before this person was identified. */
  beforeIdentified: boolean
}

export interface JourneyReport {
  model: 'journey'
  period: { from: string | null; to: string | null }
  /** People in the period: first seen within it. */
  people: number
  stages: Array<{ stage: string; name: string; count: number; reached: number; conversion: number | null }>
  content: Array<{ name: string; consumers: number; known: number; becameKnown: number }>
  pages: Array<{ path: string; visitors: number; known: number; becameKnown: number }>
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
