// Privacy floor: e-mail addresses are removed from the page fields (url, path, search, referrer,
// title) of every event's context and of page events' properties, whatever recorded them.
import type { Autotracker, Properties } from '../types'
import { redactEmails } from './redact-emails'

const FIELDS = ['url', 'path', 'search', 'referrer', 'title']

function clean(fields: Properties | undefined) {
  if (fields) for (const key of FIELDS) if (typeof fields[key] === 'string') fields[key] = redactEmails(fields[key] as string)
}

export function redact(): Autotracker {
  return ({ enrich }) => {
    enrich((event) => {
      clean(event.context.page as unknown as Properties)
      if (event.type === 'page') clean(event.properties)
    })
  }
}
