// Page views: one on load, one on every SPA route change to a new address (see util.onRoute).
// A route change's page view is recorded on the next task, so the title the app sets while
// rendering the route is the one recorded — or at the next route change if that comes first, with
// the address it was for. It carries the previous address as referrer.
import { pageContext } from '../platform/page'
import type { Autotracker } from '../types'
import { clean } from './redact'
import { onRoute } from './util'

export function pageViews(): Autotracker {
  return ({ tracker, enrich }) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    let pending: Record<string, string> | undefined
    let recording: Record<string, string> | undefined
    // the page context of a late page view is the route's, not the address bar's
    enrich((event) => recording && Object.assign(event.context.page!, recording))
    const run = () => {
      clearTimeout(timer)
      if (!pending) return
      recording = { ...pending, title: document.title }
      clean(recording)
      pending = undefined
      tracker.page(undefined, recording)
      recording = undefined
    }
    tracker.page()
    const off = onRoute((leaving, referrer) => {
      run()
      if (leaving) return
      pending = { ...pageContext(), referrer } // the title is read when it is recorded
      timer = setTimeout(run)
    })
    return () => {
      off()
      clearTimeout(timer)
    }
  }
}
