// Pure validation of what arrives on /v1/*. Each event is checked on its own so one bad entry
// never costs its neighbours (valid events of a partly bad batch are kept).
import { EVENT_TYPES, type EventType } from '../db/schema.js'
// What an id or an email is: the rule the SDK checks with too.
import { isAbsentId, isPlaceholderId, MAX_ID_LENGTH, normalizeEmail } from '@waymark/contract'

export type JsonObject = Record<string, unknown>

export interface ValidEvent {
  type: EventType
  messageId: string | null
  anonymousId: string | null
  userId: string | null
  previousId: string | null
  /** Normalized email taken from traits.email or context.traits.email. */
  email: string | null
  event: string | null
  name: string | null
  properties: JsonObject | null
  traits: JsonObject | null
  context: JsonObject | null
  /** Client clock, epoch ms: timestamp, else originalTimestamp. */
  timestamp: number | null
  /** Client clock at send time, epoch ms, when given on the event itself. */
  sentAt: number | null
}

export interface EnvelopeOk {
  /** The events, each with the batch-level context merged under its own (Segment behaviour). */
  events: unknown[]
  sentAt: number | null
  writeKey: string | null
}

export interface EnvelopeError {
  error: string
  /** 413 when the batch context repeated in every event would be too large; else 400. */
  status?: 413
}

export { MAX_ID_LENGTH }
export const MAX_NAME_LENGTH = 512
export const MAX_DEPTH = 32
/** Tiny events could otherwise make one 500 KB request carry ~100,000 of them. */
export const MAX_BATCH_EVENTS = 10_000
/** A batch context is stored with every event: it may multiply a request up to this many times its limit. */
export const MAX_CONTEXT_FAN_OUT = 20
const MAX_TIME = Date.UTC(2999, 11, 31)

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v)

// ISO-8601 shapes only: Date.parse alone also reads "12" (as 2001), "0" or "May 5".
const ISO_DATE = /^(?:[+-]\d{6}|\d{4})-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i

function parseTime(value: unknown, field: string): number | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string' || value.length > 64) throw new Error(`${field} must be an ISO-8601 date string`)
  const ms = ISO_DATE.test(value) ? Date.parse(value) : NaN
  if (Number.isNaN(ms)) throw new Error(`${field} "${value}" is not an ISO-8601 date`)
  // Keeps corrected times (timestamp + receivedAt − sentAt) inside what Date can represent.
  if (ms < 0 || ms > MAX_TIME) throw new Error(`${field} "${value}" is outside 1970–2999`)
  return ms
}

/**
 * Reads the request envelope: `{batch: [...]}` for /v1/batch, the event itself otherwise. A
 * batch-level context is merged into each event here, before validation, so the per-event
 * limits (size, depth, NUL) hold for each event as it is stored.
 */
export function readEnvelope(body: unknown, single: EventType | null, requestBytes = Infinity): EnvelopeOk | EnvelopeError {
  const fail = (error: string, status?: 413): EnvelopeError => (status ? { error, status } : { error })
  if (!isObject(body)) return fail('body must be a JSON object')
  const writeKey = typeof body.writeKey === 'string' ? body.writeKey : null
  let sentAt: number | null
  try {
    sentAt = parseTime(body.sentAt, 'sentAt')
  } catch (err) {
    return fail((err as Error).message)
  }
  if (single) return { events: [{ ...body, type: single }], sentAt, writeKey }
  if (!Array.isArray(body.batch)) return fail('body.batch must be an array of events')
  if (body.batch.length > MAX_BATCH_EVENTS) return fail(`batch has ${body.batch.length} events; the limit is ${MAX_BATCH_EVENTS}`)
  const context = body.context
  if (context === undefined || context === null) return { events: body.batch, sentAt, writeKey }
  if (!isObject(context)) return fail('body.context must be an object')
  // Too deep to serialize safely: each event is rejected for its depth below.
  if (jsonSizeBound(context, MAX_DEPTH) >= 0) {
    const expanded = Buffer.byteLength(JSON.stringify(context)) * body.batch.length
    if (expanded > MAX_CONTEXT_FAN_OUT * requestBytes) {
      return fail(`body.context repeated in each of the ${body.batch.length} events makes ${expanded} bytes; the limit is ${MAX_CONTEXT_FAN_OUT * requestBytes}`, 413)
    }
  }
  return { events: body.batch.map((event) => withBatchContext(event, context)), sentAt, writeKey }
}

/** The event with `context` under its own; an event or context of the wrong type is left for validation to refuse. */
function withBatchContext(event: unknown, context: JsonObject): unknown {
  if (!isObject(event)) return event
  const own = event.context
  if (own !== undefined && own !== null && !isObject(own)) return event
  // Spread, not Object.assign: an own "__proto__" key (JSON.parse makes them) stays a key.
  return { ...event, context: own ? { ...context, ...own } : { ...context } }
}

/**
 * An upper bound of the UTF-8 bytes of JSON.stringify(value), or -1 when it nests deeper than
 * `limit` levels (one walk for both checks). A string costs at most 6 bytes per UTF-16 unit (a
 * \uXXXX escape) plus its quotes, a number at most 25 characters (-0.00000…, 17 digits).
 */
export function jsonSizeBound(value: unknown, limit: number): number {
  if (typeof value === 'string') return 6 * value.length + 2
  if (typeof value !== 'object' || value === null) return 25 // number, boolean, null
  if (limit === 0) return -1
  let bytes = 2
  // for…in, not Object.values: no array allocated per object of every event (hot path)
  for (const key in value) {
    const inner = jsonSizeBound((value as Record<string, unknown>)[key], limit - 1)
    if (inner < 0) return -1
    bytes += 6 * key.length + 4 + inner // "key": and a comma
  }
  return bytes
}

// JSON.stringify escapes exactly the characters PostgreSQL cannot store (NUL) or that are not
// valid Unicode (lone surrogates). An even run of backslashes before them means a literal "\\u".
const UNSTORABLE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i

function id(raw: JsonObject, field: string): string | null {
  const value = raw[field]
  if (isAbsentId(value)) return null
  let s: string
  if (typeof value === 'string') s = value
  else if (typeof value === 'number' && Number.isFinite(value)) s = String(value)
  else throw new Error(`${field} must be a string`)
  if (s.length > MAX_ID_LENGTH) throw new Error(`${field} is longer than ${MAX_ID_LENGTH} characters`)
  if (isPlaceholderId(s)) throw new Error(`${field} "${s}" is a placeholder, not an identifier`)
  return s
}

function text(raw: JsonObject, field: string, required: boolean): string | null {
  const value = raw[field]
  if (value === undefined || value === null) {
    if (required) throw new Error(`${field} is required`)
    return null
  }
  if (typeof value !== 'string') throw new Error(`${field} must be a string`)
  if (required && value.trim() === '') throw new Error(`${field} must not be empty`)
  if (value.length > MAX_NAME_LENGTH) throw new Error(`${field} is longer than ${MAX_NAME_LENGTH} characters`)
  return value
}

function object(raw: JsonObject, field: string): JsonObject | null {
  const value = raw[field]
  if (value === undefined || value === null) return null
  if (!isObject(value)) throw new Error(`${field} must be an object`)
  return value
}

/**
 * An identify's traits: its own, plus those only in context.traits (RudderStack sends them
 * there alone). Its own win on a name in both.
 */
export function identifyTraits(traits: JsonObject | null, contextTraits: JsonObject | null): JsonObject | null {
  if (!contextTraits) return traits
  // Spread, not Object.assign: an own "__proto__" key (JSON.parse makes them) stays a key.
  return traits ? { ...contextTraits, ...traits } : contextTraits
}

/**
 * When the event happened by the client's clock. An explicit timestamp wins: server libraries
 * add originalTimestamp = now to every event, a backfilled timestamp included.
 */
function clientTime(raw: JsonObject): number | null {
  const field = raw.timestamp != null ? 'timestamp' : 'originalTimestamp'
  return parseTime(raw[field], field)
}

/** What is known about the whole request body, so per-event checks can be skipped safely. */
export interface BodyFacts {
  bytes: number
  /** The body text contains a \u0000 or \uD800–\uDFFF escape somewhere. */
  unstorable: boolean
}

export function bodyFacts(text: string): BodyFacts {
  // includes() first: most bodies have no \u escape at all, and it is far cheaper than the regex
  return { bytes: Buffer.byteLength(text), unstorable: text.includes('\\u') && UNSTORABLE.test(text) }
}

/**
 * Validates one event. Returns it or throws an Error whose message is sent back. Size and
 * character checks serialize the event, unless the whole body already proves them: a body
 * without those escapes has none, and no event of a body under the limit can be over it, nor
 * one whose size bound is (large batches: serializing each event cost ~10% of ingest).
 */
export function validateEvent(raw: unknown, maxBytes: number, body?: BodyFacts): ValidEvent {
  if (!isObject(raw)) throw new Error('event must be a JSON object')
  const bound = jsonSizeBound(raw, MAX_DEPTH)
  const proven = body && !body.unstorable && (body.bytes <= maxBytes || (bound >= 0 && bound <= maxBytes))
  if (!proven) {
    let serialized: string
    try {
      serialized = JSON.stringify(raw)
    } catch {
      // Nested too deep for the stack (thousands of levels): only the depth can be reported.
      throw new Error(`event is nested deeper than ${MAX_DEPTH} levels`)
    }
    const bytes = Buffer.byteLength(serialized)
    if (bytes > maxBytes) throw new Error(`event is ${bytes} bytes; the limit is ${maxBytes}`)
    if (UNSTORABLE.test(serialized)) throw new Error('event contains a NUL character or invalid Unicode')
  }
  if (bound < 0) throw new Error(`event is nested deeper than ${MAX_DEPTH} levels`)
  const type = raw.type
  if (typeof type !== 'string' || !(EVENT_TYPES as readonly string[]).includes(type))
    throw new Error(`type must be one of ${EVENT_TYPES.join(', ')}`)
  let messageId: string | null = null
  if (raw.messageId !== undefined && raw.messageId !== null) {
    if (typeof raw.messageId !== 'string' || raw.messageId.length === 0) throw new Error('messageId must be a non-empty string')
    if (raw.messageId.length > MAX_ID_LENGTH) throw new Error(`messageId is longer than ${MAX_ID_LENGTH} characters`)
    messageId = raw.messageId
  }
  const anonymousId = id(raw, 'anonymousId')
  const userId = id(raw, 'userId')
  if (!anonymousId && !userId) throw new Error('anonymousId or userId is required')
  const previousId = type === 'alias' ? id(raw, 'previousId') : null
  if (type === 'alias' && (!previousId || !userId)) throw new Error('alias needs previousId and userId')
  const properties = object(raw, 'properties')
  const context = object(raw, 'context')
  const contextTraits = context && isObject(context.traits) ? context.traits : null
  const traits = type === 'identify' ? identifyTraits(object(raw, 'traits'), contextTraits) : object(raw, 'traits')
  return {
    type: type as EventType,
    messageId,
    anonymousId,
    userId,
    previousId,
    email: normalizeEmail(traits?.email) ?? normalizeEmail(contextTraits?.email),
    event: text(raw, 'event', type === 'track'),
    name: text(raw, 'name', false),
    properties,
    traits,
    context,
    timestamp: clientTime(raw),
    sentAt: parseTime(raw.sentAt, 'sentAt'),
  }
}
