// DOM adapter: what the page is, and when it goes away. Read at call time, never at import.
import type { EventContext, PageContext } from '../types'
import { all, on } from './listen'

export const hasWindow = () => typeof window !== 'undefined' && typeof document !== 'undefined'

export function pageContext(): PageContext {
  const { href, pathname, search } = location
  return { url: href, path: pathname, search, title: document.title, referrer: document.referrer }
}

/** The parts of the context that do not change while the page lives. */
export function environment(version: string): EventContext {
  const nav = navigator
  return {
    library: { name: 'waymark', version },
    userAgent: nav.userAgent,
    locale: nav.language,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    screen: { width: screen.width, height: screen.height, density: devicePixelRatio },
  }
}

/**
 * Calls `hidden(false)` when the page is hidden (it may be killed without another word) and
 * `hidden(true)` when it is left; `shown` when it comes back from the back/forward cache.
 */
export const onHide = (hidden: (leaving: boolean) => void, shown: () => void): (() => void) =>
  all([
    on(document, 'visibilitychange', () => document.visibilityState === 'hidden' && hidden(false)),
    on(window, 'pagehide', () => hidden(true)),
    on(window, 'pageshow', (event: PageTransitionEvent) => event.persisted && shown()),
  ])

export function doNotTrack(): boolean {
  const nav = navigator as Navigator & { globalPrivacyControl?: boolean }
  return nav.doNotTrack === '1' || nav.globalPrivacyControl === true
}

export function readCookie(name: string): string | undefined {
  const match = document.cookie.match(new RegExp(`(?:^|; )${name}=([^;]*)`))
  return match ? decodeURIComponent(match[1]) : undefined
}

export function writeCookie(name: string, value: string, domain: string): void {
  const secure = location.protocol === 'https:' ? '; Secure' : ''
  document.cookie = `${name}=${encodeURIComponent(value)}; domain=${domain}; path=/; max-age=63072000; SameSite=Lax${secure}`
}
