// Attribution: where each visit came from. A visit that arrives with campaign parameters or from
// another site is a "touch". The first touch is kept for the life of the browser's storage and
// added to identify events as `traits.firstTouch`; the last touch (the latest non-direct one)
// goes on every event as `context.campaign`. Shared by tabs through localStorage.
import type { Autotracker, Campaign } from '../types'
import { channelOf, CLICK_IDS, hostOf, type CampaignParams, type Channel } from './channel'
import { redactEmails } from './redact-emails'
import { consentedSave, load } from './util'

export interface Touch extends Campaign {
  channel: Channel
  referrer?: string
  landing?: string
  [clickId: string]: string | undefined
}

/** Campaign parameters (utm_* and click ids) present in a query string. */
export function campaignParams(search: string): CampaignParams {
  const query = new URLSearchParams(search)
  const params: CampaignParams = {}
  for (const key of ['source', 'medium', 'campaign', 'term', 'content'].map((k) => 'utm_' + k).concat(CLICK_IDS)) {
    const value = query.get(key)
    if (value) params[key] = redactEmails(value)
  }
  return params
}

/** The touch of a page load: undefined for an internal navigation, `channel: 'direct'` for a direct one. */
export function touchOf(href: string, referrer: string): Touch | undefined {
  const url = new URL(href)
  const p = campaignParams(url.search)
  const host = hostOf(referrer)
  const external = host && host !== hostOf(href)
  const channel = channelOf(referrer, p, url.hostname)
  if (host && !external && channel === 'direct') return undefined
  const touch: Touch = {
    source: p.utm_source ?? (host || undefined),
    medium: p.utm_medium,
    name: p.utm_campaign,
    term: p.utm_term,
    content: p.utm_content,
    channel,
    referrer: external ? redactEmails(referrer) : undefined,
    landing: redactEmails(url.pathname),
  }
  for (const id of CLICK_IDS) touch[id] = p[id]
  return touch // undefined fields vanish in JSON
}

export interface AttributionOptions {
  /** localStorage key. Default 'wm_touch'. */
  key?: string
}

export function attribution({ key = 'wm_touch' }: AttributionOptions = {}): Autotracker {
  return (host) => {
    const { enrich, tracker } = host
    const save = consentedSave(host, key)
    let stored = load<{ first?: Touch; last?: Touch; aid?: string }>(key) ?? {}
    const touch = touchOf(location.href, document.referrer)
    // a direct arrival is a first touch, never a last one: it does not erase where they came from
    if (touch && (touch.channel !== 'direct' || !stored.first)) {
      stored = { ...stored, first: stored.first ?? touch, last: touch.channel !== 'direct' ? touch : stored.last }
      save(stored)
    }
    // The first touch belongs to one anonymous id: after reset() (or a new identity) it starts over.
    let known = false
    const own = (aid: string) => {
      if (stored.aid !== aid) {
        if (stored.aid) stored.first = touch ?? { channel: 'direct' }
        stored.aid = aid
        save(stored)
      }
    }
    tracker.ready?.().then(({ anonymousId }) => {
      known = true
      own(anonymousId)
    })
    enrich((event) => {
      event.context.campaign = { ...(stored.last ?? { channel: 'direct' }) } as Campaign
      if (event.type === 'identify') {
        if (known) own(tracker.user().anonymousId)
        event.traits = { firstTouch: stored.first, ...event.traits }
      }
    })
  }
}
