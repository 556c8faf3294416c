// Helpers shared by the autotrackers: click matching, consent-following storage, and one watcher of SPA route changes.
// Nothing runs at import: every browser global is touched only when an autotracker installs.
import type { TrackerHost } from '../types'
import { attempt } from '../platform/attempt'
import { on } from '../platform/listen'
import { removeLocal, writeLocal } from '../platform/local-storage'
import { redactEmails } from './redact-emails'

/**
 * Calls `fn` with the element matching `selector` that a click landed on or inside. (A click
 * dispatched on the document itself has no `closest`: it throws inside `on`, which swallows it.)
 */
export const onClick = (selector: string, fn: (el: HTMLElement) => void) =>
  on(document, 'click', (event: Event) => {
    const el = (event.target as Element).closest(selector) as HTMLElement | null
    if (el) fn(el)
  })

/**
 * `save` that follows consent (docs/contract.md, SDK): nothing is written unless it is granted, the latest
 * value is written when it becomes granted, and the key is removed when it is denied.
 */
export function consentedSave(host: TrackerHost, key: string): (value: unknown) => void {
  let latest: unknown
  const write = () => host.consent() === 'granted' && latest && writeLocal(key, latest)
  host.onConsent((state) => {
    if (state === 'denied') {
      latest = undefined
      removeLocal(key)
    }
    write()
  })
  return (value) => {
    latest = value
    write()
  }
}

/** The current address, without e-mail addresses in it. */
export const here = () => redactEmails(location.href)

// ---------------------------------------------------------------------------------------------
// Route changes. A "page view" is one address: a pushState, replaceState, popstate or hashchange
// that leads to the same address again is not a new one. Only hash changes that look like routes
// (`#/…` or `#!…`) count; a jump to an anchor (`#pricing`) does not. A page restored from the
// back/forward cache is a new page view too.

/** Called twice on each change: `leaving` (the old page view ends) then entering the new one. */
export type RouteListener = (leaving: boolean, previousUrl: string) => void

const listeners = new Set<RouteListener>()
let current: string | undefined
let muted = false

const routeKey = () => {
  const { href, hash } = location
  return /^#[!/]/.test(hash) ? href : href.replace(/#.*/, '')
}

/** A pushState/replaceState (no event), popstate, hashchange or pageshow (persisted: from the back/forward cache). */
function changed(event?: Event) {
  const previous = current!
  current = routeKey()
  if (muted || (current === previous && !(event as PageTransitionEvent | undefined)?.persisted)) return
  // every page view ends before the next starts; inside the app's own pushState call, so a
  // listener's error must not reach it
  for (const leaving of [true, false]) for (const fn of [...listeners]) attempt(() => fn(leaving, previous))
}

export function onRoute(fn: RouteListener): () => void {
  if (current === undefined) {
    current = routeKey()
    const h = history as History & Record<string, any>
    for (const method of ['pushState', 'replaceState']) {
      const original = h[method]
      h[method] = function (this: History, ...args: unknown[]) {
        const result = original.apply(this, args)
        changed()
        return result
      }
    }
    for (const type of ['popstate', 'hashchange', 'pageshow']) on(window, type, changed)
  }
  listeners.add(fn)
  return () => listeners.delete(fn)
}

/** The value of query parameter `name` this page arrived with (null: none), removed from the address bar. */
export function takeParam(name: string): string | null {
  const url = new URL(location.href)
  const value = url.searchParams.get(name)
  url.searchParams.delete(name)
  if (value !== null) replaceUrl(url.href)
  return value
}

/** Changes the address bar without it counting as a route change (the watcher, if installed, learns the new address). */
export function replaceUrl(url: string): void {
  muted = true
  // sandboxed documents may refuse: redact() still keeps the address out of events
  attempt(() => history.replaceState(history.state, '', url))
  muted = false
}
