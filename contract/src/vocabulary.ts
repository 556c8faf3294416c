// The words events are written in (docs/contract.md, Wire format): the autotrack event names, the
// click ids, the shape of a touch and the channel names. The SDK writes them, the collector's
// journey and channel rules read them, the viewer shows them.

export const CONTENT_IMPRESSION = 'Content Impression'
export const CONTENT_CLICKED = 'Content Clicked'
export const PAGE_ENGAGED = 'Page Engaged'
export const SCROLL_DEPTH = 'Scroll Depth'
export const FORM_SUBMITTED = 'Form Submitted'
export const OUTBOUND_LINK_CLICKED = 'Outbound Link Clicked'
export const FILE_DOWNLOADED = 'File Downloaded'
export const EMAIL_LINK_CLICKED = 'Email Link Clicked'
export const PHONE_LINK_CLICKED = 'Phone Link Clicked'
export const CONTENT_SHARED = 'Content Shared'

/** The query parameter that carries a share token on a shared link (docs/autotrack.md, Shares). */
export const SHARE_PARAM = 'wm_share'

/** The Segment e-commerce event whose `revenue` (else `total`, else `value`) and `currency` the revenue tables add up. */
export const ORDER_COMPLETED = 'Order Completed'

/** Every event the autotrackers record, none of them a call to action of the site's own. */
export const AUTOTRACK_EVENTS: readonly string[] = [
  CONTENT_IMPRESSION,
  CONTENT_CLICKED,
  PAGE_ENGAGED,
  SCROLL_DEPTH,
  FORM_SUBMITTED,
  OUTBOUND_LINK_CLICKED,
  FILE_DOWNLOADED,
  EMAIL_LINK_CLICKED,
  PHONE_LINK_CLICKED,
  CONTENT_SHARED,
]

export type EventKind = 'content' | 'form' | 'link' | 'track'

/** How a track event is grouped in the timeline and the journey. */
export function eventKind(event: string | null): EventKind {
  if (event === CONTENT_IMPRESSION || event === CONTENT_CLICKED) return 'content'
  if (event === FORM_SUBMITTED) return 'form'
  if (event === OUTBOUND_LINK_CLICKED || event === FILE_DOWNLOADED || event === EMAIL_LINK_CLICKED || event === PHONE_LINK_CLICKED) return 'link'
  return 'track'
}

/** What the Person page's timeline filters by. */
export type TimelineKind = 'page' | 'content' | 'form' | 'link' | 'custom' | 'identity'
export const TIMELINE_KINDS: readonly TimelineKind[] = ['page', 'content', 'form', 'link', 'custom', 'identity']

/** Event types of the page and identity kinds; every other kind is a track event. */
export const KIND_TYPES: Readonly<Partial<Record<TimelineKind, readonly string[]>>> = { page: ['page', 'screen'], identity: ['identify', 'alias', 'group'] }

/**
 * Track events by timeline kind; any other track event is `custom`. Scroll depth and engaged
 * time belong to the page view they measure, so they are of the page kind.
 */
export const KIND_EVENTS: Readonly<Record<'page' | 'content' | 'form' | 'link', readonly string[]>> = {
  page: [SCROLL_DEPTH, PAGE_ENGAGED],
  content: [CONTENT_IMPRESSION, CONTENT_CLICKED, CONTENT_SHARED],
  form: [FORM_SUBMITTED],
  link: [OUTBOUND_LINK_CLICKED, FILE_DOWNLOADED, EMAIL_LINK_CLICKED, PHONE_LINK_CLICKED],
}

/** The timeline kind of an event; the collector's timeline filter says the same in SQL. */
export function timelineKind(type: string, event: string | null): TimelineKind {
  for (const kind of ['page', 'identity'] as const) if (KIND_TYPES[kind]!.includes(type)) return kind
  for (const kind of ['page', 'content', 'form', 'link'] as const) if (event !== null && KIND_EVENTS[kind].includes(event)) return kind
  return 'custom'
}

/** Ad click ids read from a landing URL, by their query parameter names. */
export const CLICK_IDS: readonly string[] = ['gclid', 'gbraid', 'wbraid', 'msclkid', 'dclid', 'fbclid', 'ttclid', 'twclid', 'li_fat_id']

export type Channel =
  | 'direct'
  | 'organic search'
  | 'paid search'
  | 'social'
  | 'paid social'
  | 'email'
  | 'referral'
  | 'display'
  | 'affiliate'
  | 'other'

/** A visit's campaign as the Segment spec's `context.campaign` carries it (utm_* without the prefix). */
export interface Campaign {
  source?: string
  medium?: string
  name?: string
  term?: string
  content?: string
}

/**
 * A touch as the SDK sends it (`traits.firstTouch`, and `context.campaign` for the last touch):
 * the campaign, the external referrer, the landing URL and the click ids found in it.
 */
export interface WireTouch extends Campaign {
  referrer?: string
  landing?: string
  /** Set by the collector when the client did not decide it. */
  channel?: string
  [clickId: string]: string | undefined
}

/** A touch as the collector stores and the read API answers it (`landingPage`: a path). */
export interface Touch {
  source?: string
  medium?: string
  campaign?: string
  term?: string
  content?: string
  referrer?: string
  landingPage?: string
  channel?: string
}

const objectOf = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {})
const textOf = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)

// The WHATWG URL of browsers and Node; the contract compiles without either's type library.
declare const URL: new (url: string, base?: string) => { pathname: string; searchParams: { get(name: string): string | null } }

const parsed = (url: string | undefined) => {
  if (!url) return undefined
  try {
    return new URL(url, 'http://x')
  } catch {
    return undefined
  }
}

/** The path of a URL (absolute or not); undefined for none or a malformed one. */
export const pathOfUrl = (url: string | undefined): string | undefined => parsed(url)?.pathname

const CAMPAIGN_FIELDS = [['source', 'source'], ['medium', 'medium'], ['campaign', 'name'], ['term', 'term'], ['content', 'content']] as const

/**
 * The touch one stored event tells of, read as the collector reads it: its `context.campaign`
 * (with the channel the collector decided, `direct` when it carried none), else the `utm_*` of
 * the page it happened on; and the path of that page. A person's first touch is this of their
 * earliest page view on any device; a session header shows this of the session's first event;
 * so the two agree.
 */
export function touchOfEvent(e: { type: string; properties: unknown; context: unknown }): Touch {
  const context = objectOf(e.context)
  const page = objectOf(context.page)
  const props = e.type === 'page' || e.type === 'screen' ? objectOf(e.properties) : {}
  const url = textOf(props.url) ?? textOf(page.url)
  const touch: Touch = {}
  if (typeof context.campaign === 'object' && context.campaign !== null) {
    const campaign = objectOf(context.campaign)
    touch.channel = textOf(campaign.channel) ?? 'direct'
    for (const [to, from] of CAMPAIGN_FIELDS) if (textOf(campaign[from])) touch[to] = textOf(campaign[from])
    if (textOf(campaign.referrer)) touch.referrer = textOf(campaign.referrer)
  } else {
    // a server library's page: its campaign is in its address; the collector decided no channel
    const query = parsed(textOf(page.search) ?? textOf(props.search) ?? url)?.searchParams
    for (const [to] of CAMPAIGN_FIELDS) if (query?.get(`utm_${to}`)) touch[to] = query.get(`utm_${to}`)!
    if (!Object.keys(touch).length) touch.channel = 'direct'
  }
  const landing = textOf(props.path) ?? textOf(page.path) ?? pathOfUrl(url)
  if (landing) touch.landingPage = landing
  return touch
}
