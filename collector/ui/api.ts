// The viewer reads only the collector's read API (docs/contract.md, Read API), with the admin token kept in
// sessionStorage: it lasts for the browser tab's session and is never written to disk.

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

export type {
  CampaignReport,
  RevenueReport,
  ScoreDriversReport,
  SegmentCtaReport,
  TrendsReport,
  ProfileAnswer as Detail,
  Device,
  DevicesPage,
  PersonJourney as Journey,
  JourneyReport,
  PeoplePage,
  Segment,
  ShareReport,
  PersonSummary as Summary,
  TimelineEvent,
  TimelinePage,
  Touch,
  DeliveriesPage,
  WebhookDelivery,
  WebhookList,
  WebhookSubscription,
  WebhookTriggers,
} from '@waymark/contract'
