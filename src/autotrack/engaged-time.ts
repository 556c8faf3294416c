// Engaged time: how long the page was visible while the visitor was active (an input or scroll
// within the last 30 s). Sent as `Page Engaged` { engagedSeconds, url } when the page view ends:
// route change, tab hidden (what follows counts towards the next send), page closed.
import { PAGE_ENGAGED } from '@waymark/contract'
import type { Autotracker } from '../types'
import { all, on } from '../platform/listen'
import { here, onRoute } from './util'

// (touches are pointer events, wheels scroll; the tab hidden ends the count)
const ACTIVITY = ['pointerdown', 'pointermove', 'keydown', 'scroll', 'visibilitychange']

export function engagedTime({ idle = 30_000 }: { idle?: number } = {}): Autotracker {
  return ({ tracker, now }) => {
    let total = 0
    let last = Infinity // the last activity counted; Infinity: none since the last send
    let url = here()
    // the time since the last activity counts, up to `idle`
    const count = (t: number) => {
      total += Math.max(0, Math.min(t - last, idle))
      last = t
    }
    const send = () => {
      count(now())
      last = Infinity
      const seconds = Math.round(total / 100) / 10
      total = 0
      if (seconds > 0) tracker.track(PAGE_ENGAGED, { engagedSeconds: seconds, url })
    }
    // (a second send while hidden finds nothing to send)
    const active = () => (document.visibilityState === 'hidden' ? send() : count(now()))
    active()
    return all([
      // capturing on window: runs before the core's own pagehide/visibilitychange handlers, so the
      // event is queued in time for the last send
      ...ACTIVITY.map((type) => on(window, type, active)),
      on(window, 'pagehide', send),
      onRoute((leaving) => {
        if (leaving) send()
        else {
          url = here()
          active()
        }
      }),
    ])
  }
}
