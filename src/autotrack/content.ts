// Content: elements marked `data-wm-content="Name"` (optional `data-wm-piece`, `data-wm-target`)
// produce a `Content Impression` once per page view when at least half of them stays visible for
// 1 s, and `Content Clicked` when clicked. Elements added later (SPA rendering) are picked up.
import { CONTENT_CLICKED, CONTENT_IMPRESSION } from '@waymark/contract'
import type { Autotracker, Properties } from '../types'
import { redactEmails } from './redact-emails'
import { onClick, onRoute } from './util'

export const SELECTOR = '[data-wm-content]'

export function contentOf(el: HTMLElement): Properties {
  const d = el.dataset
  const props: Properties = { name: d.wmContent }
  if (d.wmPiece) props.piece = d.wmPiece
  const target = d.wmTarget ?? (el.closest('a') ?? el.querySelector('a'))?.href
  if (target) props.target = redactEmails(target)
  return props
}

export function content({ dwell = 1000, ratio = 0.5 } = {}): Autotracker {
  return ({ tracker }) => {
    const offClicks = onClick(SELECTOR, (el) => tracker.track(CONTENT_CLICKED, contentOf(el)))
    if (!window.IntersectionObserver) return offClicks // no impressions without it, clicks still
    const timers = new Map<Element, ReturnType<typeof setTimeout>>()
    let seen = new WeakSet<Element>()
    const observer = new IntersectionObserver(
      (entries) => {
        for (const { target, isIntersecting, intersectionRatio } of entries) {
          clearTimeout(timers.get(target))
          timers.delete(target)
          if (isIntersecting && intersectionRatio >= ratio && !seen.has(target)) {
            timers.set(
              target,
              setTimeout(() => {
                seen.add(target)
                tracker.track(CONTENT_IMPRESSION, contentOf(target as HTMLElement))
              }, dwell),
            )
          }
        }
      },
      { threshold: ratio },
    )
    // text nodes have neither `matches` nor `querySelectorAll`
    const scan = (root: Node) => {
      if ((root as Element).matches?.(SELECTOR)) observer.observe(root as Element)
      ;(root as Element).querySelectorAll?.(SELECTOR).forEach((el) => observer.observe(el))
    }
    const stop = () => {
      observer.disconnect()
      timers.forEach(clearTimeout)
      timers.clear()
    }
    scan(document)
    const mutations = new MutationObserver((records) => records.forEach((record) => record.addedNodes.forEach(scan)))
    mutations.observe(document.documentElement, { childList: true, subtree: true })
    const offRoute = onRoute((leaving) => {
      if (leaving) return
      // a new page view: everything may make an impression again
      seen = new WeakSet()
      stop()
      scan(document)
    })
    return () => {
      offClicks()
      offRoute()
      stop()
      mutations.disconnect()
    }
  }
}
