// Page views: one on load, one on every SPA route change to a new address (see util.onRoute).
// A route change's page view is recorded on the next task, so the title the app sets while
// rendering the new route is the one recorded; it carries the previous address as referrer.
import type { Autotracker } from '../types'
import { redactEmails } from './redact-emails'
import { onRoute } from './util'

export function pageViews(): Autotracker {
  return ({ tracker }) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    tracker.page()
    const off = onRoute((leaving, previous) => {
      if (leaving) return
      clearTimeout(timer)
      timer = setTimeout(() => tracker.page(undefined, { referrer: redactEmails(previous) }))
    })
    return () => {
      off()
      clearTimeout(timer)
    }
  }
}
