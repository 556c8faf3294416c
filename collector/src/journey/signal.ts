// One stored event reduced to the Signal rules look at. Every text is cut to VALUE_CAP
// characters: rules and tables never hold more of a value anyone can send.
import { eventKind, FORM_SUBMITTED } from '@waymark/contract'
import { parseJson, type JsonColumn } from '../db/schema.js'
import { VALUE_CAP, type Signal } from './model.js'

const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? (v.length > VALUE_CAP ? v.slice(0, VALUE_CAP) : v) : null)
const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {})

function pathOf(url: string | null): string | null {
  if (!url) return null
  try {
    return str(new URL(url, 'http://x').pathname)
  } catch {
    return null
  }
}

export interface EventRowForSignal {
  type: string
  event: string | null
  timestamp: number
  session_id: string | null
  user_id: string | null
  email: string | null
  properties: JsonColumn
  context: JsonColumn
}

/** Pure: one stored event → the Signal rules look at. */
export function signalOf(r: EventRowForSignal): Signal {
  return signalOfParsed(r, obj(parseJson(r.properties)), obj(parseJson(r.context)))
}

export function signalOfParsed(r: Omit<EventRowForSignal, 'properties' | 'context'>, props: Record<string, unknown>, ctx: Record<string, unknown>): Signal {
  const page = obj(ctx.page)
  const campaign = obj(ctx.campaign)
  // A full URL is parsed only when no path is given (the SDK always sends one).
  const pagePath = str(page.path) ?? pathOf(typeof page.url === 'string' ? page.url : null)
  const path = r.type === 'page' ? (str(props.path) ?? pathOf(typeof props.url === 'string' ? props.url : null) ?? pagePath) : pagePath
  const isContent = eventKind(r.event) === 'content'
  return {
    t: Number(r.timestamp),
    type: r.type,
    event: str(r.event),
    path,
    content: isContent ? str(props.name) : null,
    form: r.event === FORM_SUBMITTED ? (str(props.name) ?? str(props.id)) : null,
    url: r.type === 'track' ? str(props.url) : null,
    channel: str(campaign.channel),
    source: str(campaign.source),
    sessionId: r.session_id,
    identified: r.user_id !== null || r.email !== null,
  }
}
