// Webhooks, the pure part: checking subscriptions, matching triggers, building the body, and the
// retry policy. No clock, randomness, network or storage here: callers hand them in.
import { BlockList, isIP } from 'node:net'
import { WEBHOOK_LIMITS, WEBHOOK_TRIGGERS, type WebhookPayload, type WebhookPerson, type WebhookTrigger, type WebhookTriggers } from '@waymark/contract'
import type { PersonChange, PersonState, StoredEvent } from '../journey/hooks.js'

export class WebhookError extends Error {}

const fail = (msg: string): never => {
  throw new WebhookError(msg)
}
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Ids a subscription may name: the journey's stages and segments as they are now. */
export interface KnownIds {
  stages: readonly string[]
  segments: readonly string[]
}

/** Checks a triggers object; `path` names it in the message. */
export function checkTriggers(v: unknown, known: KnownIds, path = 'triggers'): WebhookTriggers {
  if (!isObj(v)) return fail(`${path} must be an object with one or more of ${WEBHOOK_TRIGGERS.join(', ')}`)
  const out: WebhookTriggers = {}
  for (const [k, x] of Object.entries(v)) {
    const p = `${path}.${k}`
    if (k === 'person.identified') {
      if (typeof x !== 'boolean') fail(`${p} must be true or false`)
      if (x) out['person.identified'] = true
      continue
    }
    if (!(WEBHOOK_TRIGGERS as readonly string[]).includes(k)) fail(`${p}: unknown trigger; use ${WEBHOOK_TRIGGERS.join(', ')}`)
    if (!Array.isArray(x) || x.length === 0 || x.length > WEBHOOK_LIMITS.idsPerTrigger) fail(`${p} must list 1–${WEBHOOK_LIMITS.idsPerTrigger} names`)
    const list = x as unknown[]
    for (const name of list) {
      if (typeof name !== 'string' || name.length === 0 || name.length > WEBHOOK_LIMITS.eventNameLength) fail(`${p} must list non-empty strings (≤ ${WEBHOOK_LIMITS.eventNameLength})`)
    }
    const names = [...new Set(list as string[])]
    const allowed = k === 'stage.entered' ? known.stages : k === 'event' ? null : known.segments
    if (allowed) {
      for (const name of names) if (!allowed.includes(name)) fail(`${p}: unknown ${k === 'stage.entered' ? 'stage' : 'segment'} "${name}"; known are ${allowed.join(', ')}`)
    }
    out[k as 'stage.entered' | 'segment.entered' | 'segment.left' | 'event'] = names
  }
  if (Object.keys(out).length === 0) fail(`${path} must name at least one trigger`)
  return out
}

/** A target URL: http or https only, no fragment. Returns it normalised. */
export function checkTargetUrl(v: unknown): URL {
  if (typeof v !== 'string' || v.length === 0 || v.length > WEBHOOK_LIMITS.urlLength) return fail(`url must be a string of 1–${WEBHOOK_LIMITS.urlLength} characters`)
  let url: URL
  try {
    url = new URL(v)
  } catch {
    return fail(`url is not a URL: "${v.slice(0, 100)}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(`url must be http:// or https://, not ${url.protocol}`)
  if (url.hash) fail('url must have no #fragment')
  return url
}

const SECRET_PREFIX = 'whsec_'
/** whsec_ and the base64 of 24 to 64 bytes, as Standard Webhooks libraries read it. */
export function checkSecret(v: unknown): string {
  if (typeof v !== 'string' || !v.startsWith(SECRET_PREFIX)) return fail('secret must be whsec_ followed by base64 (24–64 bytes)')
  const b64 = v.slice(SECRET_PREFIX.length)
  const bytes = Buffer.from(b64, 'base64')
  if (bytes.length < 24 || bytes.length > 64 || bytes.toString('base64') !== b64) fail('secret must be whsec_ followed by base64 (24–64 bytes)')
  return v
}

export const secretOf = (bytes: Uint8Array): string => SECRET_PREFIX + Buffer.from(bytes).toString('base64')

// Targets that are not the public internet: loopback, private, link-local, carrier-grade NAT,
// unspecified, multicast and reserved ranges. A receiver there is inside the collector's network.
const BLOCKED = new BlockList()
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  BLOCKED.addSubnet(net, bits, 'ipv4')
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) {
  BLOCKED.addSubnet(net, bits, 'ipv6')
}

/** True for an address a webhook may not be sent to (unless private targets are allowed). */
export function isPrivateAddress(raw: string): boolean {
  const zone = raw.indexOf('%')
  const address = zone === -1 ? raw : raw.slice(0, zone)
  const family = isIP(address)
  if (family === 4) return BLOCKED.check(address, 'ipv4')
  if (family !== 6) return true
  const lower = address.toLowerCase()
  // An IPv4 address written as IPv6 (::ffff:10.0.0.1) is that IPv4 address.
  if (lower.startsWith('::ffff:')) {
    const rest = lower.slice(7)
    if (isIP(rest) === 4) return BLOCKED.check(rest, 'ipv4')
    const [hi, lo] = rest.split(':')
    if (hi !== undefined && lo !== undefined) {
      const n = (parseInt(hi, 16) << 16) | parseInt(lo, 16)
      return BLOCKED.check(`${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`, 'ipv4')
    }
    return true
  }
  return BLOCKED.check(address, 'ipv6')
}

// ---------------------------------------------------------------------------------------------
// Matching and the body.

/** A subscription as the outbox sees it. */
export interface Subscription {
  id: string
  triggers: WebhookTriggers
  /** Events up to this id are history. */
  fromEvent: number
  createdAt: number
}

/** One thing to send, before it has an id. */
export interface Item {
  type: WebhookTrigger
  /** The stage, segment or event name. */
  name: string | null
  person: PersonState
  cause: PersonChange['cause']
  /** When it happened (the cause's time, else the step's clock): a person's items go out in this order. */
  at: number
  properties?: Record<string, unknown>
}

export function itemOfChange(c: PersonChange, now: number): Item {
  return { type: c.kind, name: c.stage ?? c.segment ?? null, person: c.person, cause: c.cause, at: c.cause?.at ?? now }
}

export function itemOfEvent(e: StoredEvent, person: PersonState): Item {
  return {
    type: 'event',
    name: e.event,
    person,
    cause: { id: e.id, messageId: e.messageId, event: e.event, type: e.type, at: e.timestamp, receivedAt: e.receivedAt },
    at: e.timestamp,
    properties: e.properties,
  }
}

/**
 * Whether `sub` is sent `item`. Never history: changes that restate the definitions (a new
 * segment, a rebuilt rule), and changes caused by events stored before the subscription.
 */
export function wants(sub: Subscription, item: Item, origin: PersonChange['origin'] = 'event', now = item.at): boolean {
  if (origin === 'config') return false
  if (item.cause ? item.cause.id <= sub.fromEvent : now < sub.createdAt) return false
  const t = sub.triggers
  switch (item.type) {
    case 'person.identified':
      return t['person.identified'] === true
    case 'event':
      return item.name !== null && item.cause?.type === 'track' && (t.event?.includes(item.name) ?? false)
    default:
      return item.name !== null && (t[item.type]?.includes(item.name) ?? false)
  }
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString())

export function personOf(p: PersonState): WebhookPerson {
  return {
    profileId: p.profileId,
    email: p.email,
    userId: p.userId,
    identifiedAt: iso(p.identifiedAt),
    stage: p.stage,
    score: p.score,
    segments: p.segments,
    firstTouch: { channel: p.channel, source: p.source },
    firstSeen: iso(p.firstSeen),
    lastSeen: iso(p.lastSeen),
  }
}

/** The JSON body of one delivery: the bytes signed and sent on every attempt. */
export function payloadOf(id: string, webhook: string, item: Item): string {
  const c = item.cause
  const data: WebhookPayload['data'] = {
    webhook,
    ...(item.type === 'stage.entered' ? { stage: item.name! } : {}),
    ...(item.type === 'segment.entered' || item.type === 'segment.left' ? { segment: item.name! } : {}),
    ...(item.type === 'event' ? { event: item.name! } : {}),
    person: personOf(item.person),
    cause: c ? { messageId: c.messageId, type: c.type, event: c.event, timestamp: iso(c.at)!, receivedAt: iso(c.receivedAt)! } : null,
    ...(item.properties ? { properties: item.properties } : {}),
  }
  const body: WebhookPayload = { id, type: item.type, timestamp: iso(item.at)!, data }
  return JSON.stringify(body)
}

/** A person's items in the order their causes happened (stable: changes of one cause keep their order). */
export function inCauseOrder(items: Item[]): Item[] {
  return items.map((item, i) => [item, i] as const).sort((a, b) => a[0].at - b[0].at || a[1] - b[1]).map(([item]) => item)
}

// ---------------------------------------------------------------------------------------------
// Retries.

export interface RetryPolicy {
  /** The first retry waits about this long; each next one twice as long (with jitter). */
  baseMs: number
  /** No wait is longer than this. */
  maxDelayMs: number
  /** A delivery is retried this long after it was made (or resent), then given up. */
  maxAgeMs: number
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 5_000, maxDelayMs: 3_600_000, maxAgeMs: 24 * 3_600_000 }

/** What one attempt came to. */
export type Outcome =
  | { kind: 'answer'; status: number; retryAfter: string | null; body: string }
  | { kind: 'error'; error: string; retryable: boolean }

export type Decision =
  | { status: 'delivered' }
  | { status: 'pending'; nextAt: number; reason: string }
  | { status: 'failed'; reason: string }

/** Exponential, with "equal jitter": half the wait fixed, half random, so retries of many deliveries spread out. */
export function backoffMs(attempts: number, random: () => number, policy: RetryPolicy): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 40))
  return Math.round(exp / 2 + random() * (exp / 2))
}

/** Retry-After in milliseconds from `now`: delay-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null
  const v = value.trim()
  if (v.length === 0 || v.length > 64) return null
  let digits = true
  for (const ch of v) if (ch < '0' || ch > '9') digits = false
  if (digits) return Number(v) * 1000
  // An HTTP date ("Wed, 21 Oct 2026 07:28:00 GMT"); Date.parse alone reads "-5" as a year.
  if (!v.endsWith(' GMT') || !v.includes(',')) return null
  const at = Date.parse(v)
  return Number.isNaN(at) ? null : Math.max(0, at - now)
}

const duration = (ms: number) => (ms >= 3_600_000 ? `${Math.round(ms / 3_600_000)} h` : `${Math.round(ms / 1000)} s`)

const RETRYABLE_STATUS = (s: number) => s === 408 || s === 429 || s >= 500

/**
 * After an attempt (`attempts` counts it): delivered on 2xx; retried on network errors,
 * timeouts, 408, 429 and 5xx (after Retry-After when given) until `expiresAt`; stopped with the
 * reason on anything else (other 4xx, redirects, a refused target).
 */
export function decide(outcome: Outcome, attempts: number, now: number, expiresAt: number, random: () => number, policy: RetryPolicy): Decision {
  let reason: string
  let wait: number | null = null
  if (outcome.kind === 'answer') {
    const s = outcome.status
    if (s >= 200 && s < 300) return { status: 'delivered' }
    reason = `HTTP ${s}`
    if (s >= 300 && s < 400) return { status: 'failed', reason: `${reason}: redirects are not followed` }
    if (!RETRYABLE_STATUS(s)) return { status: 'failed', reason }
    wait = parseRetryAfter(outcome.retryAfter, now)
  } else {
    reason = outcome.error
    if (!outcome.retryable) return { status: 'failed', reason }
  }
  // Retry-After: 0 from a receiver that always fails must not make a busy loop.
  const nextAt = now + (wait === null ? backoffMs(attempts, random, policy) : Math.max(wait, Math.min(policy.baseMs, 1000)))
  if (nextAt > expiresAt) return { status: 'failed', reason: `gave up: retries end ${duration(policy.maxAgeMs)} after the delivery was made; last: ${reason}` }
  return { status: 'pending', nextAt, reason }
}
