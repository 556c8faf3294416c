// DOM listeners for the core and the autotrackers: added in one call, removed by the function
// returned, and never throwing into the page's own event dispatch.
import { attempt } from './attempt'

/** `fn`, never throwing. */
export const safe =
  <A extends unknown[]>(fn: (...args: A) => unknown) =>
  (...args: A) =>
    attempt(() => fn(...args))

/**
 * Adds a capturing listener that never throws (we never preventDefault, so it is passive anyway)
 * and returns how to remove it.
 */
export function on(target: EventTarget, type: string, fn: (event: any) => void): () => void {
  const listener = safe(fn)
  target.addEventListener(type, listener, true)
  return () => target.removeEventListener(type, listener, true)
}

/** Runs every cleanup: what a module returns from several `on` calls. */
export const all = (offs: (() => void)[]) => () => offs.forEach((off) => off())
