// Pure builders and encoders of wire events (docs/contract.md, Wire format).
import type { EventContext, EventDraft as Draft, Identity, WireEvent } from '../types'

/**
 * The caller's data as the collector will receive it: JSON's copy. IndexedDB and the other tabs
 * get what they can clone (a function or a DOM node there failed the whole write), and a value
 * JSON cannot encode (a cycle, a BigInt) throws here, at the call, instead of at every send.
 */
export const plain = <T>(value: T): T => (value == null ? value : JSON.parse(JSON.stringify(value)))

/** An event as recorded at call time; the caller's properties and traits as their JSON copy. */
export function draft(
  fields: Pick<WireEvent, 'type'> & Partial<Draft>,
  messageId: string,
  time: number,
  context: EventContext,
): Draft {
  const event: Draft = { ...fields, messageId, timestamp: new Date(time).toISOString(), context }
  if (fields.properties) event.properties = plain(fields.properties)
  if (fields.traits) event.traits = plain(fields.traits)
  return event
}

export const idsOf = (events: WireEvent[]) => events.map((event) => event.messageId)

export function stamp(event: Draft, identity: Identity): WireEvent {
  const wire = event as WireEvent
  wire.anonymousId = identity.anonymousId
  if (identity.userId && !wire.userId) wire.userId = identity.userId
  return wire
}

// Segment's limits: the collector would refuse more.
export const MAX_EVENT_BYTES = 32_000
export const MAX_BATCH_BYTES = 500_000
// Browsers cap keepalive and beacon bodies in flight at 64 KB.
export const MAX_BEACON_BYTES = 64_000

export interface EncodedBatch {
  body: string
  events: WireEvent[]
}

/**
 * Splits events, oldest first, into request bodies of at most `maxBytes` and hands back those too
 * large to ever be accepted. Bytes as sent (UTF-8): a page in Japanese has three per character,
 * and a keepalive body counted in characters would be over the browser's quota.
 */
export function encodeBatches(
  events: WireEvent[],
  writeKey: string,
  sentAt: string,
  maxBytes: number,
): { batches: EncodedBatch[]; oversized: WireEvent[] } {
  const encoder = new TextEncoder()
  const tail = `],"sentAt":"${sentAt}","writeKey":${JSON.stringify(writeKey)}}`
  const batches: EncodedBatch[] = []
  const oversized: WireEvent[] = []
  let parts: string[] = []
  let members: WireEvent[] = []
  let size = 10 + tail.length
  const close = () => {
    if (members.length) batches.push({ body: `{"batch":[${parts.join(',')}${tail}`, events: members })
    parts = []
    members = []
    size = 10 + tail.length
  }
  for (const event of events) {
    const json = JSON.stringify(event)
    const bytes = encoder.encode(json).length
    if (bytes > MAX_EVENT_BYTES) {
      oversized.push(event)
      continue
    }
    if (size + bytes + 1 > maxBytes) close()
    parts.push(json)
    members.push(event)
    size += bytes + 1
  }
  close()
  return { batches, oversized }
}
