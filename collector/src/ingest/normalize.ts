// Pure mapping of a validated event to the row that is stored, plus what the identity graph
// and the profile statistics need from it.
import { isIPv4, isIPv6 } from 'node:net'
import { isbot } from 'isbot'
import { UAParser } from 'ua-parser-js'
import type { EventsTable } from '../db/schema.js'
import { eventIdentityKey, type IdentityTuple } from '../identity/identifiers.js'
import { channelOfCampaign } from './channel.js'
import type { Touch } from '@waymark/contract'
import { memo } from './memo.js'
import { isObject, type JsonObject, type ValidEvent } from './validate.js'

export type EventRow = Omit<EventsTable, 'id'>

/** WAYMARK_IP: how much of the client address is stored. */
export type IpPolicy = 'truncate' | 'full' | 'none'

/** Where a visit came from: campaign parameters and/or an external referrer. */
export type { Touch }

export interface PreparedEvent {
  row: EventRow
  identity: IdentityTuple
  touch: Touch | null
  /** identify traits as [name, JSON value]. */
  traits: Array<[string, string]>
}

export interface RequestInfo {
  receivedAt: number
  /** Batch-level sentAt (client clock), epoch ms. */
  sentAt: number | null
  source: string
  ip: string | null
  userAgent: string | null
  ipPolicy: IpPolicy
}

/** Events cannot happen after they arrive: a time further ahead than this is a wrong clock. */
export const MAX_FUTURE_MS = 24 * 3_600_000

/**
 * Clock skew: timestamp + (receivedAt − sentAt); without both client times, trust the server. A
 * time still over a day ahead of arrival (no sentAt, or a timestamp after its own sentAt) is
 * stored at arrival, as PostHog does: a year-2999 event would otherwise head every timeline and
 * keep its person "last seen" forever. originalTimestamp keeps what the client said.
 */
export function correctTimestamp(timestamp: number | null, sentAt: number | null, receivedAt: number): number {
  if (timestamp === null) return receivedAt
  const corrected = sentAt === null ? timestamp : timestamp + (receivedAt - sentAt)
  return corrected > receivedAt + MAX_FUTURE_MS ? receivedAt : corrected
}

/**
 * The address in a client-sent or forwarded value. "v4:port" and "[v6]:port" (as some proxies
 * forward them) lose the port; anything that is not an address is null, never stored.
 */
function addressOf(value: string): string | null {
  const s = value.trim()
  const ip = /^\[([^\]]+)\](?::\d+)?$/.exec(s)?.[1] ?? /^([\d.]+):\d+$/.exec(s)?.[1] ?? s
  return isIPv4(ip) || isIPv6(ip) ? ip : null
}

/** The eight 16-bit groups of a valid IPv6 address ("::" expanded, a trailing IPv4 as two groups). */
function ipv6Groups(ip: string): number[] {
  let s = ip.replace(/%.*$/, '')
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s)
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number]
    s = `${s.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = s.split('::')
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  const zeros = tail === undefined ? [] : Array<string>(8 - h.length - t.length).fill('0')
  return [...h, ...zeros, ...t].map((g) => parseInt(g, 16))
}

/**
 * Keeps the network, not the host: IPv4 /24, IPv6 /48. Parsed, not pattern-matched on the text,
 * so no spelling (a port, upper case, leading zeros, IPv4-mapped in hex) keeps the host part.
 */
export function truncateIp(value: string): string {
  const ip = addressOf(value)
  if (!ip) return ''
  if (isIPv4(ip)) return ip.replace(/\.\d+$/, '.0')
  const g = ipv6Groups(ip)
  // ::ffff:a.b.c.d is an IPv4 address (a dual-stack socket reports IPv4 clients so).
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.0`
  return `${g.slice(0, 3).map((x) => x.toString(16)).join(':')}::`
}

export function applyIpPolicy(ip: string | null, policy: IpPolicy): string | null {
  if (!ip || policy === 'none') return null
  return policy === 'full' ? ip : truncateIp(ip) || null
}

export interface Agent {
  browser: string | null
  os: string | null
  device: string | null
  isBot: boolean
}

const agentOf = memo(2000, (ua): Agent => {
  const r = new UAParser(ua).getResult()
  const join = (...parts: Array<string | undefined>) => parts.filter(Boolean).join(' ') || null
  return {
    browser: join(r.browser.name, r.browser.major),
    os: join(r.os.name, r.os.version),
    device: r.device.type ?? (r.os.name ? 'desktop' : null),
    isBot: isbot(ua),
  }
})

export function parseAgent(ua: string | null): Agent {
  return ua ? agentOf(ua) : { browser: null, os: null, device: null, isBot: false }
}

/**
 * Whether a request's own User-Agent is a browser's: every browser's starts with "Mozilla/".
 * Otherwise it is a server library (analytics-node, RudderLabs, node-fetch, axios, undici…)
 * sending for its users, and is not a bot. A prefix test: the text is untrusted.
 */
export const isBrowserAgent = (ua: string | null): boolean => ua !== null && ua.startsWith('Mozilla/')

/** A session id as text: RudderStack's is a number (its start, epoch ms). */
export function sessionIdOf(value: unknown): string | null {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : null
  return str(value) ?? null
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)

const hostOfUrl = memo(2000, (url) => {
  try {
    return new URL(url).host.toLowerCase()
  } catch {
    return null
  }
})

const hostOf = (url: string | undefined): string | null => (url ? hostOfUrl(url) : null)

/** The utm_* parameters of a query string, as touch fields (shared: never changed). */
const utmOf = memo(2000, (search): Touch => {
  const q = new URLSearchParams(search)
  return touchOf(str(q.get('utm_source')), str(q.get('utm_medium')), str(q.get('utm_campaign')), str(q.get('utm_term')), str(q.get('utm_content')))
})

/**
 * A touch with only the fields that are set, always added in this order. Built in one go:
 * deleting unset fields, or adding fields to a spread copy, made every touch a slow object
 * (measured: ~3 µs per event, about a tenth of the main thread's work per event).
 */
function touchOf(source?: string, medium?: string, campaign?: string, term?: string, content?: string, channel?: string, referrer?: string, landingPage?: string): Touch {
  const touch: Touch = {}
  if (source) touch.source = source
  if (medium) touch.medium = medium
  if (campaign) touch.campaign = campaign
  if (term) touch.term = term
  if (content) touch.content = content
  if (channel) touch.channel = channel
  if (referrer) touch.referrer = referrer
  if (landingPage) touch.landingPage = landingPage
  return touch
}

const NO_TOUCH: Touch = {}

/** The utm_* of a location (context.page, or a page's properties): its search, else its URL's query. */
function utmOfLocation(location: JsonObject): Touch {
  const url = str(location.url)
  const search = str(location.search) ?? (url?.includes('?') ? url.slice(url.indexOf('?')) : undefined)
  return search ? utmOf(search) : NO_TOUCH
}

const hasCampaign = (t: Touch): boolean => Boolean(t.source || t.medium || t.campaign || t.term || t.content)

/**
 * Campaign from context.campaign, else from utm_* in context.page, else in the event's
 * page's properties (a server-side page has its URL there only); referrer only if external.
 */
export function extractTouch(context: JsonObject | null, properties: JsonObject | null = null): Touch | null {
  const page = isObject(context?.page) ? context.page : {}
  const props = properties ?? {}
  const campaign = isObject(context?.campaign) ? context.campaign : null
  let c: Touch
  if (campaign) {
    c = touchOf(str(campaign.source), str(campaign.medium), str(campaign.name), str(campaign.term), str(campaign.content), str(campaign.channel))
  } else {
    c = utmOfLocation(page)
    if (!hasCampaign(c)) c = utmOfLocation(props)
  }
  const url = str(page.url) ?? str(props.url)
  let referrer = str(page.referrer) ?? str(props.referrer)
  const refHost = hostOf(referrer)
  if (!refHost || refHost === hostOf(url)) referrer = undefined
  // a channel alone (`direct`) is the absence of a touch
  if (!(hasCampaign(c) || referrer)) return null
  return touchOf(c.source, c.medium, c.campaign, c.term, c.content, c.channel, referrer, url)
}

/**
 * The channel goes into `context.campaign` and `traits.firstTouch` when the client did not decide
 * it (the Waymark SDK leaves it to the collector); a client's own channel is kept.
 */
export function withChannels(context: JsonObject | null, traits: JsonObject | null) {
  const page = isObject(context?.page) ? context.page : {}
  const campaign = context?.campaign
  if (context && isObject(campaign) && campaign.channel === undefined) {
    context = withKey(context, 'campaign', withKey(campaign, 'channel', channelOfCampaign(campaign, page)))
  }
  // the first touch was another visit: this page's referrer says nothing about it
  const firstTouch = traits?.firstTouch
  if (traits && isObject(firstTouch) && firstTouch.channel === undefined) {
    traits = withKey(traits, 'firstTouch', withKey(firstTouch, 'channel', channelOfCampaign(firstTouch)))
  }
  return { context, traits }
}

/**
 * `{ ...object, [key]: value }`, faster: objects made by spread were slow to make and to read
 * on this V8 (measured: ~3 µs per SDK event). Object.assign would send an own "__proto__" key
 * (JSON.parse makes them) through the prototype setter, so such rare objects keep the spread.
 */
function withKey(object: JsonObject, key: string, value: unknown): JsonObject {
  if (Object.hasOwn(object, '__proto__')) return { ...object, [key]: value }
  const copy: JsonObject = Object.assign({}, object)
  copy[key] = value
  return copy
}

export function prepareEvent(event: ValidEvent, messageId: string, req: RequestInfo): PreparedEvent {
  const { context, traits: eventTraits } = withChannels(event.context, event.traits)
  const e = eventTraits === event.traits ? event : { ...event, traits: eventTraits }
  // The browser's own agent when the client says it (context.userAgent), else the request's.
  const clientAgent = str(context?.userAgent) ?? null
  const agent = parseAgent(clientAgent ?? req.userAgent)
  const isBot = agent.isBot && (clientAgent !== null || isBrowserAgent(req.userAgent))
  const identity: IdentityTuple = {
    anonymousId: e.anonymousId,
    userId: e.userId,
    email: e.email,
    previousId: e.previousId,
  }
  const ip = applyIpPolicy(str(context?.ip) ?? req.ip, req.ipPolicy)
  // A client-sent context.ip must not slip past the IP policy inside the stored context.
  const storedContext = context && context.ip !== undefined && req.ipPolicy !== 'full' ? withKey(context, 'ip', ip ?? undefined) : context
  const timestamp = correctTimestamp(e.timestamp, e.sentAt ?? req.sentAt, req.receivedAt)
  const row: EventRow = {
    message_id: messageId,
    source: req.source,
    type: e.type,
    event: e.event,
    name: e.name ?? (e.type === 'page' ? str(isObject(context?.page) ? context.page.title : undefined) ?? null : null),
    identity_key: eventIdentityKey(identity),
    anonymous_id: e.anonymousId,
    user_id: e.userId,
    email: e.email,
    previous_id: e.previousId,
    session_id: sessionIdOf(context?.sessionId),
    timestamp,
    original_timestamp: e.timestamp,
    sent_at: e.sentAt ?? req.sentAt,
    received_at: req.receivedAt,
    properties: e.properties ? JSON.stringify(e.properties) : null,
    traits: e.traits ? JSON.stringify(e.traits) : null,
    context: storedContext ? JSON.stringify(storedContext) : null,
    browser: agent.browser,
    os: agent.os,
    device: agent.device,
    is_bot: isBot ? 1 : 0,
    ip,
  }
  const traits: Array<[string, string]> =
    e.type === 'identify' && e.traits
      ? Object.entries(e.traits).filter(([name]) => name.length <= MAX_TRAIT_NAME).map(([name, v]) => [name, JSON.stringify(v ?? null)])
      : []
  return { row, identity, touch: extractTouch(context, e.type === 'page' ? e.properties : null), traits }
}

const MAX_TRAIT_NAME = 256
