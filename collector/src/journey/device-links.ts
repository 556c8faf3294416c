// When each device (anonymous id) joined an identified person: the first event that carried it
// together with a userId or email (an identify, a login). The Person page marks a device's
// events before then as anonymous and shows where a device linked after the identification
// joined (read/profiles.ts, journey/queries.ts).
import type { Dialect } from '../db/schema.js'
import { identifierKey } from '../identity/identifiers.js'
import { jsonRows, runJson } from './facts.js'
import type { EventKeeper, StoredEvent } from './hooks.js'
import { chunks } from './people.js'

/** Pure: per anonymous identifier key, the earliest event of the batch that carried an identity with it. */
export function deviceLinkRows(events: StoredEvent[]): Array<[string, number]> {
  const first = new Map<string, number>()
  for (const e of events) {
    if (e.anonymousId === null || (e.userId === null && e.email === null)) continue
    const key = identifierKey('anonymousId', e.anonymousId)
    const at = first.get(key)
    if (at === undefined || e.timestamp < at) first.set(key, e.timestamp)
  }
  return [...first]
}

const statement = (d: Dialect) => `INSERT INTO device_links (key, at) ${jsonRows(d, [['k', 'text'], ['a', 'bigint']])}
ON CONFLICT (key) DO UPDATE SET at = excluded.at WHERE excluded.at < device_links.at`
const STATEMENTS = { sqlite: statement('sqlite'), postgres: statement('postgres') }

export const deviceLinkKeeper: EventKeeper = {
  name: 'device-links',
  apply: (trx, dialect, events) => runJson(trx, STATEMENTS[dialect], deviceLinkRows(events)),
  async forget(trx, _dialect, keys) {
    for (const chunk of chunks(keys)) await trx.deleteFrom('device_links').where('key', 'in', chunk).execute()
  },
}
