// Page views: one on load, one on every SPA route change to a new address (see util.onRoute).
// A route change's page event carries the previous address as its referrer.
import type { Autotracker } from '../types'
import { redactEmails } from './redact-emails'
import { onRoute } from './util'

export function pageViews(): Autotracker {
  return ({ tracker }) => {
    tracker.page()
    return onRoute((leaving, previous) => {
      if (!leaving) tracker.page(undefined, { referrer: redactEmails(previous) })
    })
  }
}
