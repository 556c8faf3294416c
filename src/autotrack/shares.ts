// Shares: a click on a share button `data-wm-share="network"` and every completed
// navigator.share() record `Content Shared` { name, network, token }: the name of the
// `data-wm-content` block the button sits in (else the shared title, else the page's), the
// network ("native" for the system share sheet); the page is the event's own context.page (a
// share is recorded on the page it happens on, as it happens). The token is new for each
// share and random, so it names that share and nothing else (no id, nothing personal). It goes
// on this site's addresses being shared: those in a share link's query (`?url=…`, `?u=…`), the
// `url` given to navigator.share(), the one `waymark.shareUrl(network)` returns. A visit that arrives on such
// an address drops the token from the address bar (as e-mail links do) and records it on its
// page view as `context.referrer` { type: 'share', id }; the collector counts it for the share.
import { CONTENT_SHARED, SHARE_PARAM } from '@waymark/contract'
import type { Autotracker } from '../types'
import { attempt } from '../platform/attempt'
import { redactEmails } from './redact-emails'
import { SELECTOR as CONTENT } from './content'
import { onClick, takeParam } from './util'

export function shares(): Autotracker {
  return ({ tracker, enrich }) => {
    let arrived = takeParam(SHARE_PARAM) ?? ''
    enrich((event) => {
      if (event.type == 'page') {
        // Only a token as this script makes them: a hand-made one could carry an address.
        if (/^\w+$/.test(arrived)) event.context.referrer = { type: 'share', id: arrived }
        arrived = ''
      }
    })
    const newToken = () => Math.random().toString(36).slice(2)
    const shared = (network: string, name = document.title, token = newToken()) => (
      tracker.track(CONTENT_SHARED, { name: redactEmails(name), network, token }), token
    )
    // `url` with the token when it is an address of this site (with `base`, relative ones too)
    const tag = (url: string, token: string, base?: string) =>
      attempt(() => {
        const u = new URL(url, base)
        if (u.host != location.host) return url
        u.searchParams.set(SHARE_PARAM, token)
        return u.href
      }) ?? url
    // The tracker's copy the page gets is made after the autotrackers installed: it has this too.
    tracker.shareUrl = (network, url = location.href, name) => tag(url, shared(network, name), location.href)
    const off = onClick('[data-wm-share]', (el) => {
      const token = shared(el.dataset.wmShare!, (el.closest(CONTENT) as HTMLElement | null)?.dataset.wmContent)
      // A share link: before the browser follows it, this site's addresses in its query get
      // the token. The other parameters keep their bytes (a mailto: body reads "+" as a plus).
      const link = el as HTMLAnchorElement
      const href = link.href?.replace(/([?&][^=&#]*=)([^&#]*)/g, (part, key: string, value: string) => {
        const url = attempt(() => decodeURIComponent(value))
        const tagged = url && tag(url, token)
        return tagged != url ? key + encodeURIComponent(tagged!) : part
      })
      if (href) link.href = href
    })
    const nav = navigator
    const native = nav.share
    // Recorded once the visitor completed it: a closed share sheet rejects.
    if (native) {
      nav.share = (data = {}) => {
        const token = newToken()
        return native
          .call(nav, { ...data, url: data.url && tag(data.url, token, location.href) })
          // (it resolves with nothing, always)
          .then(() => void shared('native', data.title, token))
      }
    }
    return () => {
      off()
      if (native) nav.share = native
    }
  }
}
