import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { engagedTime, pageViews, scrollDepth } from '../../../src/autotrack/index'
import { fakeHost, goTo, tick } from './host'

const define = (target: object, key: string, value: number) =>
  Object.defineProperty(target, key, { value, configurable: true, writable: true })

function scrollTo(y: number) {
  define(window, 'scrollY', y)
  dispatchEvent(new Event('scroll'))
}

function setVisibility(state: 'visible' | 'hidden') {
  Object.defineProperty(document, 'visibilityState', { value: state, configurable: true })
  document.dispatchEvent(new Event('visibilitychange', { bubbles: true }))
}

beforeEach(() => {
  goTo('/article')
  define(window, 'innerHeight', 1000)
  define(document.documentElement, 'scrollHeight', 10_000)
  define(window, 'scrollY', 0)
})
afterEach(() => setVisibility('visible'))

describe('scrollDepth', () => {
  const percents = (host: ReturnType<typeof fakeHost>) => host.named('Scroll Depth').map((e) => e.properties!.percent)

  it('records each milestone once per page view, in order', () => {
    const host = fakeHost()
    host.install(scrollDepth())
    scrollTo(1000) // 20 %
    expect(percents(host)).toEqual([])
    scrollTo(1600) // 26 %
    scrollTo(8000) // 90 %
    scrollTo(0)
    scrollTo(8000)
    expect(percents(host)).toEqual([25, 50, 75, 90])
    scrollTo(9000)
    expect(percents(host)).toEqual([25, 50, 75, 90, 100])
    expect(host.named('Scroll Depth')[0].properties!.url).toBe(`${location.origin}/article`)
  })

  it("counts the page's own scroll only: not an element's, not a page that cannot scroll", () => {
    const host = fakeHost()
    host.install(scrollDepth())
    const input = document.createElement('input')
    document.body.append(input)
    input.dispatchEvent(new Event('scroll')) // a long email typed into the field scrolls it
    const panel = document.createElement('div')
    document.body.append(panel)
    panel.dispatchEvent(new Event('scroll'))
    expect(percents(host)).toEqual([])
    define(document.documentElement, 'scrollHeight', 800) // shorter than the viewport
    document.dispatchEvent(new Event('scroll'))
    expect(percents(host)).toEqual([])
    define(document.documentElement, 'scrollHeight', 4000)
    define(window, 'scrollY', 1000)
    document.dispatchEvent(new Event('scroll')) // how a browser reports the page's scroll
    expect(percents(host)).toEqual([25, 50])
    input.remove()
    panel.remove()
  })

  it('starts again on an SPA route change', () => {
    const host = fakeHost()
    host.install(scrollDepth())
    scrollTo(9000)
    history.pushState({}, '', '/next')
    scrollTo(0)
    scrollTo(2500)
    expect(percents(host)).toEqual([25, 50, 75, 90, 100, 25])
    expect(host.named('Scroll Depth')[5].properties!.url).toMatch(/\/next$/)
  })
})

describe('engagedTime', () => {
  const seconds = (host: ReturnType<typeof fakeHost>) => host.named('Page Engaged').map((e) => e.properties!.engagedSeconds)

  it('counts visible and active time only, and sends it when the tab is hidden', () => {
    const host = fakeHost()
    host.install(engagedTime())
    host.advance(10_000)
    dispatchEvent(new Event('pointerdown'))
    host.advance(100_000) // idle: only 30 s after the last input count
    setVisibility('hidden')
    expect(seconds(host)).toEqual([40])
    host.advance(60_000) // hidden: nothing counts
    setVisibility('visible')
    host.advance(5_000)
    dispatchEvent(new KeyboardEvent('keydown'))
    host.advance(2_000)
    dispatchEvent(new Event('pagehide'))
    expect(seconds(host)).toEqual([40, 7])
    expect(host.named('Page Engaged')[0].properties!.url).toBe(`${location.origin}/article`)
  })

  it('ends the page view on an SPA route change, before the next page view is recorded', async () => {
    const host = fakeHost()
    host.install(pageViews(), engagedTime()) // even installed after pageViews
    host.advance(12_300)
    history.pushState({}, '', '/second')
    await tick()
    expect(host.events.map((e) => e.event ?? e.type)).toEqual(['page', 'Page Engaged', 'page'])
    expect(host.named('Page Engaged')[0].properties).toEqual({ engagedSeconds: 12.3, url: `${location.origin}/article` })
    host.advance(3_000)
    setVisibility('hidden')
    expect(host.named('Page Engaged')[1].properties).toEqual({ engagedSeconds: 3, url: `${location.origin}/second` })
  })

  it('counts every gap between inputs up to 30 s, and the time after the last input up to 30 s', () => {
    const host = fakeHost()
    host.install(engagedTime())
    host.advance(10_000)
    dispatchEvent(new Event('pointermove')) // 10 s
    host.advance(40_000)
    dispatchEvent(new Event('scroll')) // a 40 s pause: 30 s of it
    host.advance(10_000)
    dispatchEvent(new Event('pagehide')) // 10 s
    expect(seconds(host)).toEqual([50])
  })

  it('sends nothing for a page that was never engaged', () => {
    setVisibility('hidden')
    const host = fakeHost()
    host.install(engagedTime())
    host.advance(50_000)
    dispatchEvent(new Event('pagehide'))
    expect(host.events).toEqual([])
  })
})
