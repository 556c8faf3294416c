import { beforeEach, describe, expect, it } from 'vitest'
import { emailLinks, pageViews, redact } from '../../../src/autotrack/index'
import { fakeHost, goTo, setReferrer, tick } from './host'

beforeEach(() => {
  goTo('/start')
  setReferrer('')
})

const paths = (host: ReturnType<typeof fakeHost>) => host.pages().map((e) => e.properties!.path)

describe('pageViews', () => {
  it('records the first load, then one page view per new address', async () => {
    const host = fakeHost()
    host.install(pageViews())
    history.pushState({}, '', '/pricing')
    await tick()
    history.replaceState({}, '', '/pricing?plan=pro')
    await tick()
    history.pushState({}, '', '/docs#/getting-started')
    await tick()
    expect(paths(host)).toEqual(['/start', '/pricing', '/pricing', '/docs'])
    expect(host.pages().map((e) => e.properties!.search)).toEqual(['', '', '?plan=pro', ''])
  })

  it('does not count the same address twice, nor jumps to an anchor', async () => {
    const host = fakeHost()
    host.install(pageViews())
    history.pushState({}, '', '/start')
    history.replaceState({ scroll: 1 }, '', '/start')
    history.pushState({}, '', '/start#features')
    history.pushState({}, '', '/start#features-2')
    await tick()
    expect(paths(host)).toEqual(['/start'])
  })

  it('counts popstate (back/forward) and route-like hash changes', async () => {
    const host = fakeHost()
    host.install(pageViews())
    History.prototype.pushState.call(history, null, '', '/other') // as the browser does on back/forward
    dispatchEvent(new PopStateEvent('popstate'))
    dispatchEvent(new PopStateEvent('popstate')) // same address again: nothing
    await tick()
    History.prototype.pushState.call(history, null, '', '/other#/settings')
    dispatchEvent(new HashChangeEvent('hashchange'))
    await tick()
    expect(paths(host)).toEqual(['/start', '/other', '/other'])
    expect(host.pages()[2].properties!.url).toMatch(/#\/settings$/)
  })

  it('counts a page restored from the back/forward cache', async () => {
    const host = fakeHost()
    host.install(pageViews())
    dispatchEvent(Object.assign(new Event('pageshow'), { persisted: false })) // a normal load: nothing
    dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }))
    await tick()
    expect(paths(host)).toEqual(['/start', '/start'])
  })

  it('gives a route change the previous address as referrer', async () => {
    setReferrer('https://www.google.com/')
    const host = fakeHost()
    host.install(pageViews())
    history.pushState({}, '', '/next')
    await tick()
    expect(host.pages()[0].properties!.referrer).toBe('https://www.google.com/')
    expect(host.pages()[1].properties!.referrer).toBe(`${location.origin}/start`)
  })

  it('records the title the app sets while rendering the new route', async () => {
    const host = fakeHost()
    host.install(pageViews())
    history.pushState({}, '', '/reports')
    document.title = 'Reports'
    await tick()
    expect(host.pages()[1].properties).toMatchObject({ path: '/reports', title: 'Reports' })
    document.title = ''
  })

  it('keeps a page view whose route is left before it was recorded, with its own address', async () => {
    const host = fakeHost()
    host.install(pageViews())
    history.pushState({}, '', '/a')
    document.title = 'A'
    history.pushState({}, '', '/b') // within the same task
    document.title = 'B'
    await tick()
    expect(host.pages().map((e) => [e.properties!.path, e.properties!.title, e.context.page!.path])).toEqual([
      ['/start', '', '/start'],
      ['/a', 'A', '/a'],
      ['/b', 'B', '/b'],
    ])
    document.title = ''
  })

  it('stops on uninstall', async () => {
    const host = fakeHost()
    const off = pageViews()(host.host) as () => void
    off()
    history.pushState({}, '', '/after')
    await tick()
    expect(host.pages()).toHaveLength(1)
  })
})

describe('emailLinks + redact', () => {
  it('identifies from ?wm_email= and removes it before the first page view', async () => {
    goTo('/welcome?wm_email=Ada%40Example.com&utm_source=news')
    const host = fakeHost()
    host.install(redact(), emailLinks(), pageViews())
    expect(location.search).toBe('?utm_source=news')
    expect(host.events.map((e) => e.type)).toEqual(['identify', 'page'])
    expect(host.events[0].traits).toEqual({ email: 'Ada@Example.com' })
    expect(JSON.stringify(host.events[1])).not.toMatch(/ada|wm_email/i)
    history.pushState({}, '', '/welcome?utm_source=news')
    await tick()
    expect(host.pages()).toHaveLength(1) // the removal itself was not a route change
  })

  it('uses a configured parameter and ignores pages without it', async () => {
    goTo('/a?e=bob@example.com')
    const host = fakeHost()
    host.install(emailLinks({ param: 'e' }))
    expect(location.search).toBe('')
    goTo('/b?x=1')
    host.install(emailLinks({ param: 'e' }))
    expect(location.search).toBe('?x=1')
    expect(host.events).toHaveLength(1)
  })

  it('redacts e-mail addresses from every event page context and page properties', async () => {
    goTo('/u/ada@example.com?ref=bob%40example.com')
    setReferrer('https://mail.test/?to=carol@example.com')
    document.title = 'Hello dave@example.com'
    const host = fakeHost()
    host.install(redact(), pageViews())
    host.host.tracker.track('X')
    for (const event of host.events) expect(JSON.stringify(event)).not.toMatch(/@|%40/)
    expect(host.events[0].properties!.path).toBe('/u/[email]')
    expect(host.events[1].context.page!.referrer).toBe('https://mail.test/?to=[email]')
    document.title = ''
  })
})
