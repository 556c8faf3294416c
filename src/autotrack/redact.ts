// Privacy floor: e-mail addresses are removed from the page fields (url, path, search, referrer,
// title) of every event's context and of page events' properties, whatever recorded them.
import type { Autotracker } from '../types'
import { redactEmails } from './redact-emails'

const FIELDS = ['url', 'path', 'search', 'referrer', 'title']

/** Redacts the page fields of `page` in place (a PageContext or a page event's properties). */
export function clean(page?: Record<string, any>): void {
  for (const key of FIELDS) if (typeof page?.[key] === 'string') page[key] = redactEmails(page[key])
}

export function redact(): Autotracker {
  return ({ enrich }) => {
    enrich((event) => {
      clean(event.context.page)
      if (event.type === 'page') clean(event.properties)
    })
  }
}
