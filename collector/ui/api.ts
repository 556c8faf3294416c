// The viewer reads only the collector's read API (SPEC §6), with the admin token kept in
// sessionStorage: it lasts for the browser tab's session and is never written to disk.

import type { JourneyReport, TimelineEvent } from '../src/contract.js'

const TOKEN_KEY = 'waymark.adminToken'
const SEARCH_KEY = 'waymark.search.'

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (t: string) => sessionStorage.setItem(TOKEN_KEY, t),
  /** Signing out also forgets the search terms (often emails) of this tab. */
  clear: () => {
    sessionStorage.removeItem(TOKEN_KEY)
    for (const key of Object.keys(sessionStorage)) if (key.startsWith(SEARCH_KEY)) sessionStorage.removeItem(key)
  },
}

/**
 * Search terms, kept out of every URL (a term is often an email): the route holds an opaque id
 * of the term, which lives in this tab's sessionStorage.
 */
export const searches = {
  get: (id: string | null): string => (id && sessionStorage.getItem(SEARCH_KEY + id)) || '',
  add: (q: string): string => {
    if (!q) return ''
    const id = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, '0')).join('')
    sessionStorage.setItem(SEARCH_KEY + id, q)
    return id
  },
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

export async function api<T>(path: string, tokenValue = token.get()): Promise<T> {
  return answer<T>(await fetch(path, { headers: { authorization: `Bearer ${tokenValue ?? ''}` } }))
}

/** A POST with a JSON body: for values that must not appear in a URL (a search term may be an email). */
export async function apiPost<T>(path: string, payload: unknown): Promise<T> {
  const headers = { authorization: `Bearer ${token.get() ?? ''}`, 'content-type': 'application/json' }
  return answer<T>(await fetch(path, { method: 'POST', headers, body: JSON.stringify(payload) }))
}

async function answer<T>(res: Response): Promise<T> {
  const body = await res.json().catch(() => null)
  if (!res.ok) throw new ApiError(res.status, (body && typeof body.error === 'string' && body.error) || `HTTP ${res.status}`)
  return body as T
}

export const qs = (params: Record<string, string | number | null | undefined>): string => {
  const u = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') u.set(k, String(v))
  const s = u.toString()
  return s ? `?${s}` : ''
}

// Shapes of the answers the viewer uses (see collector/src/journey/queries.ts, read/profiles.ts).
export interface Touch {
  source?: string
  medium?: string
  campaign?: string
  referrer?: string
  landingPage?: string
  at?: string
}
export interface Summary {
  id: string
  email: string | null
  userId: string | null
  stage: string
  stageName: string
  score: number
  channel: string | null
  segments: string[]
  identifiedAt: string | null
  firstSeen: string | null
  lastSeen: string | null
  eventCount: number
  firstTouch: Touch | null
  identifiers: Array<{ kind: string; value: string; eventCount: number; firstSeen: string | null; lastSeen: string | null }>
}
export interface PeoplePage {
  profiles: Summary[]
  total: number
  nextCursor: string | null
}
export interface Journey {
  stage: string
  stageName: string
  score: number
  reasons: Array<{ rule: string; label: string; count: number; points: number }>
  segments: Array<{ id: string; name: string }>
  channel: string | null
  source: string | null
  devices: Array<{ anonymousId: string; browser: string | null; os: string | null; device: string | null; events: number; firstSeen: string | null; lastSeen: string | null }>
  identification: { at: string; as: string; earlierEvents: number; devices: number } | null
}
export interface Detail extends Omit<Summary, 'stageName' | 'score' | 'channel' | 'segments'> {
  traits: Record<string, { value: unknown; updatedAt: string }>
  journey: Journey | null
}
export type { JourneyReport, TimelineEvent }

export interface TimelinePage {
  profileId: string
  identifiedAt: string | null
  events: TimelineEvent[]
  nextCursor: string | null
}
export interface Segment {
  id: string
  name: string
  description: string | null
  origin: 'config' | 'api'
  count: number
}
