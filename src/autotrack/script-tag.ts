// The script tag's wiring (run by src/browser.ts): options from the tag's own data- attributes,
// every autotracker installed (each switchable, see docs/autotrack.md), then the calls the loader
// stub queued are replayed in order and the stub is replaced.
//
//   data-autotrack="false"                 none of them (e-mail redaction stays on)
//   data-autotrack="pages,forms"           only those listed (names: AUTOTRACKERS)
//   data-autotrack-scroll="false"          all but that one (any name: data-autotrack-emails…)
//   data-email-param="wm_email"  data-identify-from-forms="false"  data-session-timeout="1800000"
//   data-collector="" (or absent)          this page's own origin
import { createTracker } from '../tracker'
import type { Tracker, TrackerOptions } from '../types'
import { autotrack, AUTOTRACKERS } from './all'

type QueuedCall = [method: keyof Tracker, args: unknown[], resolve?: (result: unknown) => void]

const NUMBERS = ['batchSize', 'flushInterval', 'maxQueue', 'sessionTimeout']
const CALLBACKS = ['beforeSend', 'onError']

/** data-write-key="…" → { writeKey: '…' }; callbacks are named globals: data-before-send="fn". */
export function optionsFromDataset(data: DOMStringMap, globals: Record<string, unknown>): TrackerOptions {
  const o: Record<string, any> = {}
  for (const key in data) {
    const value = data[key]!
    o[key] = CALLBACKS.includes(key)
      ? globals[value]
      : NUMBERS.includes(key)
        ? +value
        : value === 'true' || value === ''
          ? true
          : value === 'false'
            ? false
            : value
  }
  const list = o.autotrack
  // emailParam, identifyFromForms and sessionTimeout are autotrack() options too
  o.autotrack = autotrack({
    ...o,
    only: list === false ? [] : list?.split?.(/[\s,]+/),
    except: AUTOTRACKERS.filter((name) => o['autotrack' + name[0].toUpperCase() + name.slice(1)] === false),
  })
  // data-collector="" reads as true
  if (typeof o.collector != 'string') o.collector = location.origin
  return o as TrackerOptions
}

export function install(script: HTMLOrSVGElement | null, host: Window & { waymark?: { q?: QueuedCall[] } }): Tracker {
  const options = optionsFromDataset(script?.dataset ?? {}, host as unknown as Record<string, unknown>)
  const queued = host.waymark?.q ?? []
  // A consent call queued before the library arrived holds from the start: the automatic first
  // page view must not be stored before it is replayed.
  options.consent ??= queued.find(([method]) => method === 'consent')?.[1][0] as TrackerOptions['consent']
  const tracker = createTracker(options)
  host.waymark = tracker as Tracker & { q?: QueuedCall[] }
  for (const [method, args, resolve] of queued) {
    // A queued user() answers with the identity after the calls queued before it, not the
    // provisional one the tracker has before storage answers.
    const result = method === 'user' ? tracker.ready() : (tracker[method] as (...a: unknown[]) => unknown)?.(...args)
    resolve?.(result)
  }
  return tracker
}
