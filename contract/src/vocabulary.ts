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
]

export type EventKind = 'content' | 'form' | 'link' | 'track'

/** How a track event is grouped in the timeline and the journey. */
export function eventKind(event: string | null): EventKind {
  if (event === CONTENT_IMPRESSION || event === CONTENT_CLICKED) return 'content'
  if (event === FORM_SUBMITTED) return 'form'
  if (event === OUTBOUND_LINK_CLICKED || event === FILE_DOWNLOADED || event === EMAIL_LINK_CLICKED || event === PHONE_LINK_CLICKED) return 'link'
  return 'track'
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

/** A touch as the collector stores and the read API answers it. */
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
