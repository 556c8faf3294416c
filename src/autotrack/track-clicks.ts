// Declared clicks: `<button data-wm-track="Signup Clicked" data-wm-prop-plan="pro">` records
// track('Signup Clicked', { plan: 'pro' }) when it (or anything inside it) is clicked.
// Property values are strings, keys are written as in the attribute (`data-wm-prop-plan_id` → plan_id).
import type { Autotracker, Properties } from '../types'
import { onClick } from './util'

export function trackClicks(): Autotracker {
  return ({ tracker }) =>
    onClick('[data-wm-track]', (el) => {
      const props: Properties = {}
      for (const { name, value } of el.attributes) {
        if (name.startsWith('data-wm-prop-')) props[name.slice(13)] = value
      }
      tracker.track(el.dataset.wmTrack!, props)
    })
}
