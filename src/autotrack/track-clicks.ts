// Declared clicks: `<button data-wm-track="Signup Clicked" data-wm-prop-plan="pro">` records
// track('Signup Clicked', { plan: 'pro' }) when it (or anything inside it) is clicked.
// Property values are strings, keys are written as in the attribute (`data-wm-prop-plan_id` → plan_id).
import type { Autotracker } from '../types'
import { attrs, closest, on } from './util'

export function trackClicks(): Autotracker {
  return ({ tracker }) =>
    on(document, 'click', (event) => {
      const el = closest(event, '[data-wm-track]')
      if (el) tracker.track(el.dataset.wmTrack!, attrs(el, 'data-wm-prop-'))
    })
}
