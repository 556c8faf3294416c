// The script-tag entry (dist/waymark.min.js): options from its own data- attributes, then
// the calls the loader stub queued are replayed in order and the stub is replaced.
import { createTracker } from './tracker'
import type { Tracker, TrackerOptions } from './types'

type QueuedCall = [method: keyof Tracker, args: unknown[], resolve?: (result: unknown) => void]

const NUMBERS = ['batchSize', 'flushInterval', 'maxQueue']
const CALLBACKS = ['beforeSend', 'onError']

/** data-write-key="…" → { writeKey: '…' }; callbacks are named globals: data-before-send="fn". */
export function optionsFromDataset(data: DOMStringMap, globals: Record<string, unknown>): TrackerOptions {
  const options: Record<string, unknown> = {}
  for (const key in data) {
    const value = data[key]!
    options[key] = CALLBACKS.includes(key)
      ? globals[value]
      : NUMBERS.includes(key)
        ? Number(value)
        : value === 'true' || value === ''
          ? true
          : value === 'false'
            ? false
            : value
  }
  return options as unknown as TrackerOptions
}

export function install(script: HTMLElement | null, host: Window & { waymark?: { q?: QueuedCall[] } }): Tracker {
  const tracker = createTracker(optionsFromDataset(script?.dataset ?? {}, host as unknown as Record<string, unknown>))
  const queued = host.waymark?.q ?? []
  host.waymark = tracker as Tracker & { q?: QueuedCall[] }
  for (const [method, args, resolve] of queued) {
    const result = (tracker[method] as (...a: unknown[]) => unknown)?.(...args)
    resolve?.(result)
  }
  return tracker
}

install(document.currentScript as HTMLElement | null, window)
