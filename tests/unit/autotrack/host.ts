// A stand-in for the tracker an autotracker is installed on: records what it is asked to record,
// as drafts that went through the enrich steps, with a clock the test moves.
import { ulid } from 'ulid'
import { afterEach } from 'vitest'
import type { Autotracker, ConsentState, EventDraft, Properties, Tracker, TrackerHost, TrackerOptions } from '../../../src/index'

const cleanups: (() => void)[] = []
afterEach(() => {
  while (cleanups.length) cleanups.pop()!()
  localStorage.clear()
})

export function fakeHost(start = Date.parse('2026-11-22T10:00:00.000Z'), options: Partial<TrackerOptions> = {}) {
  let now = start
  let consent: ConsentState = options.consent ?? 'granted'
  const consentListeners: ((state: ConsentState) => void)[] = []
  const events: EventDraft[] = []
  const mine: (() => void)[] = []
  const steps: ((event: EventDraft) => void)[] = []
  const page = () => ({
    url: location.href,
    path: location.pathname,
    search: location.search,
    title: document.title,
    referrer: document.referrer,
  })
  const record = (fields: Partial<EventDraft> & Pick<EventDraft, 'type'>) => {
    const event = {
      messageId: ulid(now), // as the core makes them
      timestamp: new Date(now).toISOString(),
      ...fields,
      context: { library: { name: 'waymark', version: 'test' }, page: page() },
    } as EventDraft
    for (const step of steps) step(event)
    events.push(event)
  }
  const tracker = {
    page: (name?: string, properties?: Properties) => record({ type: 'page', name, properties: { ...page(), ...properties } }),
    track: (event: string, properties?: Properties) => record({ type: 'track', event, properties: properties ?? {} }),
    identify: (input: unknown) => record({ type: 'identify', traits: typeof input === 'object' ? { ...(input as object) } : { id: input } }),
  } as unknown as Tracker
  const host: TrackerHost = {
    tracker,
    enrich: (step: (event: EventDraft) => void) => steps.push(step),
    now: () => now,
    options: { collector: 'https://c.example', writeKey: 'k', ...options },
    consent: () => consent,
    onConsent: (listener) => consentListeners.push(listener),
  }
  return {
    events,
    host,
    /** installs autotrackers on this host; uninstalled after the test */
    install(...trackers: Autotracker[]) {
      for (const install of trackers) {
        const off = install(host)
        if (off) {
          cleanups.push(off)
          mine.push(off)
        }
      }
    },
    /** the page goes away: its autotrackers stop */
    unload() {
      while (mine.length) mine.pop()!()
    },
    advance(ms: number) {
      now += ms
    },
    /** the visitor's consent changes, as tracker.consent() reports it to autotrackers */
    setConsent(state: ConsentState) {
      consent = state
      consentListeners.forEach((listener) => listener(state))
    },
    named: (name: string) => events.filter((e) => e.event === name),
    pages: () => events.filter((e) => e.type === 'page'),
  }
}

/** Puts the address bar at `url` (same origin) without going through any patched history method. */
export function goTo(path: string) {
  History.prototype.replaceState.call(history, null, '', path)
  // lets the route watcher (if any) learn the address, as a back/forward would
  dispatchEvent(new PopStateEvent('popstate'))
}

export function setReferrer(referrer: string) {
  Object.defineProperty(document, 'referrer', { value: referrer, configurable: true })
}

export function click(el: Element) {
  el.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true }))
}

/** Lets timers of 0 ms run (page views of route changes are recorded on the next task). */
export const tick = () => new Promise((resolve) => setTimeout(resolve, 1))
