// Attribution: where each visit came from. A visit that arrives with campaign parameters or from
// another site is a "touch". The first touch is kept for the life of the browser's storage and
// added to identify events as `traits.firstTouch`; the last touch (the latest non-direct one)
// goes on every event as `context.campaign`. Shared by tabs through localStorage. The marketing
// channel is not decided here: the collector derives it from these fields (docs/autotrack.md),
// so the rules can change without a new script on every site.
import { CLICK_IDS, type WireTouch } from '@waymark/contract'
import type { Autotracker } from '../types'
import { redactEmails } from './redact-emails'
import { readLocal } from '../platform/local-storage'
import { attempt } from '../platform/attempt'
import { consentedSave } from './util'

export { CLICK_IDS }

/** Campaign parameters of a landing URL: utm_source… and click ids, as found in the query. */
export type CampaignParams = Record<string, string | undefined>

/** A touch as it travels (`traits.firstTouch`, `context.campaign`). */
export type Touch = WireTouch

/** The host of `url` without `www.`; undefined for '' or a malformed URL. */
export const hostOf = (url: string) => attempt(() => new URL(url).hostname.replace(/^www\./, ''))

/** Campaign parameters (utm_* and click ids) present in a query string. */
export function campaignParams(search: string): CampaignParams {
  const query = new URLSearchParams(search)
  const params: CampaignParams = {}
  for (const key of ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', ...CLICK_IDS]) {
    const value = query.get(key)
    if (value) params[key] = redactEmails(value)
  }
  return params
}

/**
 * The touch of a page load and whether it is a direct arrival (no referrer, no parameters);
 * undefined for a navigation inside the site.
 */
export function touchOf(href: string, referrer: string): { touch: Touch; direct: boolean } | undefined {
  const url = new URL(href)
  const p = campaignParams(url.search)
  const host = hostOf(referrer)
  const external = host && host !== hostOf(href)
  const direct = !external && !Object.keys(p).length
  if (host && direct) return undefined
  const touch: Touch = { landing: redactEmails(url.pathname) }
  // utm_campaign is Segment's `name`, the other utm_* lose their prefix, click ids keep theirs
  for (const key in p) touch[key === 'utm_campaign' ? 'name' : key.replace('utm_', '')] = p[key]
  if (external) {
    touch.source ??= host
    touch.referrer = redactEmails(referrer)
  }
  return { touch, direct }
}

export interface AttributionOptions {
  /** localStorage key. Default 'wm_touch'. */
  key?: string
}

export function attribution({ key = 'wm_touch' }: AttributionOptions = {}): Autotracker {
  return (host) => {
    const { enrich, tracker } = host
    const save = consentedSave(host, key)
    const stored = readLocal<{ first?: Touch; last?: Touch; aid?: string }>(key) ?? {}
    const arrival = touchOf(location.href, document.referrer)
    // a direct arrival is a first touch, never a last one: it does not erase where they came from
    if (arrival) {
      stored.first ??= arrival.touch
      if (!arrival.direct) stored.last = arrival.touch
      save(stored)
    }
    // The first touch belongs to one anonymous id: after reset() (or a new identity) it starts over.
    let known = false
    const own = (aid: string) => {
      if (stored.aid !== aid) {
        if (stored.aid) stored.first = arrival?.touch ?? {}
        stored.aid = aid
        save(stored)
      }
    }
    tracker.ready?.().then(({ anonymousId }) => {
      known = true
      own(anonymousId)
    })
    enrich((event) => {
      event.context.campaign = { ...stored.last }
      if (event.type === 'identify') {
        if (known) own(tracker.user().anonymousId)
        event.traits = { firstTouch: stored.first, ...event.traits }
      }
    })
  }
}
