// Content: elements marked `data-wm-content="Name"` (optional `data-wm-piece`, `data-wm-target`)
// produce a `Content Impression` once per page view when at least half of them stays visible for
// 1 s, and `Content Clicked` when clicked. Elements added later (SPA rendering) are picked up.
import type { Autotracker, Properties } from '../types'
import { redactEmails } from './redact-emails'
import { all, onClick, onRoute } from './util'

const SELECTOR = '[data-wm-content]'

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
    const offs = [
      onClick(SELECTOR, (el) => tracker.track('Content Clicked', contentOf(el))),
    ]
    if (typeof IntersectionObserver !== 'function') return all(offs)
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
                timers.delete(target)
                seen.add(target)
                observer.unobserve(target)
                tracker.track('Content Impression', contentOf(target as HTMLElement))
              }, dwell),
            )
          }
        }
      },
      { threshold: ratio },
    )
    const scan = (root: ParentNode) => {
      if ((root as Element).matches?.(SELECTOR)) observer.observe(root as Element)
      root.querySelectorAll?.(SELECTOR).forEach((el) => observer.observe(el))
    }
    scan(document)
    const mutations = new MutationObserver((records) => {
      for (const record of records) record.addedNodes.forEach((node) => node.nodeType === 1 && scan(node as Element))
    })
    mutations.observe(document.documentElement, { childList: true, subtree: true })
    offs.push(
      onRoute((leaving) => {
        if (leaving) return
        // a new page view: everything may make an impression again
        seen = new WeakSet()
        timers.forEach(clearTimeout)
        timers.clear()
        observer.disconnect()
        scan(document)
      }),
      () => {
        observer.disconnect()
        mutations.disconnect()
        timers.forEach(clearTimeout)
      },
    )
    return all(offs)
  }
}
