// Links: clicks on outbound links (another host), downloads (a `download` attribute or a file
// extension in DOWNLOADS), and mailto:/tel: links. Nothing waits: the event is queued at once and
// the core sends what is queued with keepalive when the page goes away.
// Events: `Outbound Link Clicked`, `File Downloaded` (+ extension), `Email Link Clicked`,
// `Phone Link Clicked`, each with { url, text }; e-mail addresses are redacted from both.
import type { Autotracker } from '../types'
import { redactEmails } from './redact-emails'
import { onClick } from './util'

export const DOWNLOADS =
  /\.(pdf|zip|rar|7z|gz|tgz|dmg|exe|msi|pkg|deb|apk|iso|csv|txt|rtf|docx?|xlsx?|pptx?|od[tsp]|epub|mp3|wav|mp4|mov|avi)$/i

export function links(): Autotracker {
  return ({ tracker }) =>
    onClick('a[href]', (el) => {
      // the link parses its own href: a malformed one has no host
      const { protocol, pathname, hostname, href } = el as HTMLAnchorElement
      const props: Record<string, string> = {
        url: redactEmails(href),
        text: redactEmails(el.textContent!.trim().slice(0, 100)), // an element's textContent is never null
      }
      let event = protocol === 'mailto:' ? 'Email Link Clicked' : protocol === 'tel:' ? 'Phone Link Clicked' : ''
      if (/^https?:$/.test(protocol)) {
        if (DOWNLOADS.test(pathname) || el.hasAttribute('download')) {
          event = 'File Downloaded'
          props.extension = /\.(\w+)$/.exec(pathname)?.[1].toLowerCase() ?? ''
        } else if (hostname !== location.hostname) event = 'Outbound Link Clicked'
      }
      if (event) tracker.track(event, props)
    })
}
