// Scroll depth: a `Scroll Depth` event for each of 25/50/75/90/100 % of the page reached by
// scrolling, once per page view (reset on every SPA route change). Depth = bottom of the viewport
// over the document's height. Pages that do not scroll produce nothing, and scrolling inside an
// element (a long value typed into an input, a scrolling panel) is not the page's scroll.
import { SCROLL_DEPTH } from '@waymark/contract'
import type { Autotracker } from '../types'
import { all, on } from '../platform/listen'
import { here, onRoute } from './util'

export const SCROLL_MILESTONES = [25, 50, 75, 90, 100]

export function scrollDepth(milestones = SCROLL_MILESTONES): Autotracker {
  return ({ tracker }) => {
    let reached = 0
    const check = ({ target }: Event) => {
      const height = document.documentElement.scrollHeight
      // The listener captures: an element's own scroll reaches it too.
      if (target instanceof Element || height <= innerHeight) return
      // +2 px: rounding and subpixel layouts must not keep 100 % out of reach
      const percent = ((scrollY + innerHeight + 2) / height) * 100
      for (const milestone of milestones) {
        if (milestone > reached && percent >= milestone) {
          reached = milestone
          tracker.track(SCROLL_DEPTH, { percent: milestone, url: here() })
        }
      }
    }
    return all([
      on(window, 'scroll', check),
      onRoute((leaving) => {
        if (!leaving) reached = 0
      }),
    ])
  }
}
