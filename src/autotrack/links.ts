// Links: clicks on outbound links (another host), downloads (a `download` attribute or a file
// extension in DOWNLOADS), and mailto:/tel: links. Nothing waits: the event is queued at once and
// the core sends what is queued with keepalive when the page goes away.
// Events: `Outbound Link Clicked`, `File Downloaded` (+ extension), `Email Link Clicked`,
// `Phone Link Clicked`, each with { url, text }; e-mail addresses are redacted from both.
import { EMAIL_LINK_CLICKED, FILE_DOWNLOADED, OUTBOUND_LINK_CLICKED, PHONE_LINK_CLICKED } from '@waymark/contract'
import type { Autotracker } from '../types'
import { redactEmails } from './redact-emails'
import { onClick } from './util'

export const DOWNLOADS =
  /\.(pdf|zip|rar|7z|gz|tgz|dmg|exe|msi|pkg|deb|apk|iso|csv|txt|rtf|docx?|xlsx?|pptx?|od[tsp]|epub|mp3|wav|mp4|mov|avi)$/i

/** The event of a click on `link`, if it records one. The link parses its own href (a malformed one has no host). */
export function linkEvent(link: HTMLAnchorElement): [string, Record<string, string>] | undefined {
  const { protocol, pathname } = link
  const props: Record<string, string> = {
    url: redactEmails(link.href),
    text: redactEmails(link.textContent!.trim().slice(0, 100)), // an element's textContent is never null
  }
  if (protocol === 'mailto:') return [EMAIL_LINK_CLICKED, props]
  if (protocol === 'tel:') return [PHONE_LINK_CLICKED, props]
  if (!/^https?:$/.test(protocol)) return undefined
  if (DOWNLOADS.test(pathname) || link.hasAttribute('download')) {
    props.extension = /\.(\w+)$/.exec(pathname)?.[1].toLowerCase() ?? ''
    return [FILE_DOWNLOADED, props]
  }
  if (link.hostname !== location.hostname) return [OUTBOUND_LINK_CLICKED, props]
  return undefined
}

export function links(): Autotracker {
  return ({ tracker }) =>
    onClick('a[href]', (link) => {
      const found = linkEvent(link as HTMLAnchorElement)
      if (found) tracker.track(...found)
    })
}
