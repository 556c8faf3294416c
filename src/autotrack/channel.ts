// The marketing channel of an arrival, from its campaign parameters and referrer.
// Rules, first match wins (documented in docs/autotrack.md); m = utm_medium, s = utm_source:
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

/** Campaign parameters of a landing URL: utm_source… and click ids, as found in the query. */
export type CampaignParams = Record<string, string | undefined>

export const CLICK_IDS = ['gclid', 'gbraid', 'wbraid', 'msclkid', 'dclid', 'fbclid', 'ttclid', 'twclid', 'li_fat_id']

const SEARCH = /(^|\.)(google|bing|yahoo|duckduckgo|baidu|yandex|ecosia|qwant|naver)\./
const SOCIAL = /(^|\.)(facebook|fb|instagram|ig|linkedin|lnkd|li|t|twitter|x|reddit|pinterest|youtube|tiktok|threads|bsky)\./

export function hostOf(url: string | undefined): string {
  try {
    return new URL(url as string).hostname.replace(/^www\./, '')
  } catch {
    return ''
  }
}

export function channelOf(referrer: string | undefined, params: CampaignParams, ownHost = ''): Channel {
  const m = (params.utm_medium ?? '').toLowerCase()
  const s = (params.utm_source ?? '').toLowerCase() + '.'
  const host = hostOf(referrer)
  const ids = Object.keys(params).join()
  const social = SOCIAL.test(s) || SOCIAL.test(host)
  return /^(display|banner|cpm)$/.test(m) || /dclid/.test(ids)
    ? 'display'
    : /mail|newsletter/.test(m + s)
      ? 'email'
      : /^affiliate/.test(m)
        ? 'affiliate'
        : /cp|ppc|paid|retargeting/.test(m) || /gclid|gbraid|wbraid|msclkid/.test(ids)
          ? social
            ? 'paid social'
            : 'paid search'
          : /ttclid|twclid|li_fat_id/.test(ids)
            ? 'paid social'
            : /social|^sm$/.test(m) || social || /fbclid/.test(ids)
              ? 'social'
              : m === 'organic' || SEARCH.test(s) || SEARCH.test(host)
                ? 'organic search'
                : m === 'referral' || (host && host !== ownHost.replace(/^www\./, ''))
                  ? 'referral'
                  : m || s.length > 1 || params.utm_campaign
                    ? 'other'
                    : 'direct'
}
