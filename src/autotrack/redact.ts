// Privacy floor: e-mail addresses are removed from the page fields (url, path, search, referrer,
// title) of every event's context and of page events' properties, whatever recorded them.
import type { Autotracker, Properties } from '../types'
import { redactEmails } from './redact-emails'

const FIELDS = ['url', 'path', 'search', 'referrer', 'title']

/** The page fields of `fields`, redacted in place. */
export function clean<T>(fields: T): T {
  const page = fields as Properties | undefined
  if (page) for (const key of FIELDS) if (typeof page[key] === 'string') page[key] = redactEmails(page[key] as string)
  return fields
}

export function redact(): Autotracker {
  return ({ enrich }) => {
    enrich((event) => {
      clean(event.context.page)
      if (event.type === 'page') clean(event.properties)
    })
  }
}
