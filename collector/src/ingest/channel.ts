// The marketing channel of a touch (a visit's campaign parameters and referrer), decided here
// rather than in every browser so the script stays small and the rules change in one place.
// Rules, first match wins (docs/autotrack.md); m = utm_medium, s = utm_source, lower-cased:
//  1. m is display/banner/cpm, or a `dclid`                                  → display
//  2. m or s mentions mail/newsletter                                        → email
//  3. m starts with affiliate                                                → affiliate
//  4. m mentions cp/ppc/paid/retargeting, or a search-ad click id (gclid, gbraid, wbraid, msclkid):
//     from a social network (s or referrer) → paid social, otherwise          → paid search
//  5. a social-ad click id (ttclid, twclid, li_fat_id)                        → paid social
//  6. m mentions social (or is sm), s or referrer is a social network, or fbclid → social
//  7. m is organic, or s or referrer is a search engine                      → organic search
//  8. m is referral, or a referrer from another host                         → referral
//  9. any other utm_medium/utm_source/utm_campaign                           → other
// 10. nothing                                                                → direct
import { CLICK_IDS, type Channel } from '@waymark/contract'
import { memo } from './memo.js'

export type { Channel }

/** A touch as the Segment spec's `context.campaign` carries it, plus what the Waymark SDK adds. */
export interface TouchFields {
  source?: string
  medium?: string
  name?: string
  referrer?: string
  /** Click ids present (gclid, fbclid…), by name. */
  clickIds?: string[]
}

const SEARCH = /(^|\.)(google|bing|yahoo|duckduckgo|baidu|yandex|ecosia|qwant|naver)\./
const SOCIAL = /(^|\.)(facebook|fb|instagram|ig|linkedin|lnkd|li|t|twitter|x|reddit|pinterest|youtube|tiktok|threads|bsky)\./

/** What a URL tells about a touch: its host (without `www.`) and the click ids in its query. */
const urlFacts = memo(2000, (url) => {
  try {
    const { hostname, searchParams } = new URL(url)
    return { host: hostname.replace(/^www\./, ''), clickIds: CLICK_IDS.filter((id) => searchParams.get(id)) }
  } catch {
    return { host: '', clickIds: [] }
  }
})

const hostOf = (url: string | undefined) => (url ? urlFacts(url).host : '')

export function channelOf(touch: TouchFields, pageUrl?: string): Channel {
  const m = (touch.medium ?? '').toLowerCase()
  const s = (touch.source ?? '').toLowerCase() + '.'
  const host = hostOf(touch.referrer)
  const ids = (touch.clickIds ?? []).join()
  const social = SOCIAL.test(s) || SOCIAL.test(host)
  if (/^(display|banner|cpm)$/.test(m) || /dclid/.test(ids)) return 'display'
  if (/mail|newsletter/.test(m + s)) return 'email'
  if (/^affiliate/.test(m)) return 'affiliate'
  if (/cp|ppc|paid|retargeting/.test(m) || /gclid|gbraid|wbraid|msclkid/.test(ids)) return social ? 'paid social' : 'paid search'
  if (/ttclid|twclid|li_fat_id/.test(ids)) return 'paid social'
  if (/social|^sm$/.test(m) || social || /fbclid/.test(ids)) return 'social'
  if (m === 'organic' || SEARCH.test(s) || SEARCH.test(host)) return 'organic search'
  if (m === 'referral' || (host && host !== hostOf(pageUrl))) return 'referral'
  if (m || s.length > 1 || touch.name) return 'other'
  return 'direct'
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)

/**
 * The channel of a `context.campaign` or `traits.firstTouch` object: its own fields first, the
 * page's referrer and click ids in its URL for clients that send only utm fields there.
 */
export function channelOfCampaign(campaign: Record<string, unknown>, page: Record<string, unknown> = {}): Channel {
  const pageUrl = text(page.url)
  const inUrl = pageUrl ? urlFacts(pageUrl).clickIds : []
  return channelOf(
    {
      source: text(campaign.source),
      medium: text(campaign.medium),
      name: text(campaign.name),
      referrer: text(campaign.referrer) ?? text(page.referrer),
      clickIds: CLICK_IDS.filter((id) => text(campaign[id]) || inUrl.includes(id)),
    },
    pageUrl,
  )
}
