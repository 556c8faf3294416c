// E-mail links: a visitor arriving on `…?wm_email=ada@example.com` (from a newsletter) is
// identified with that address, and the parameter is removed from the address bar
// (history.replaceState) as soon as this installs — install it after sessions()/attribution()
// (so the identify carries them) and before pageViews() so no page
// event ever records it (redact() catches what slips through anyway).
import type { Autotracker } from '../types'
import { takeParam } from './util'

export function emailLinks({ param = 'wm_email' }: { param?: string } = {}): Autotracker {
  return ({ tracker }) => {
    const email = takeParam(param)
    if (email?.trim()) tracker.identify({ email })
  }
}
