// Shares (src/autotrack/shares.ts): share buttons and links, navigator.share(), share URLs, and
// the arrival of a visit on a shared link.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { pageViews, shares } from '../../../src/autotrack/index'
import { install } from '../../../src/autotrack/script-tag'
import { createTracker, memoryEventStore, memoryMetaStore, type Tracker } from '../../../src/index'
import { testClock, testCollector } from '../helpers'
import { click, fakeHost, goTo, tick } from './host'

const TOKEN = /^[0-9a-z]+$/
const tokenOf = (url: string) => new URL(url).searchParams.get('wm_share')

// The links clicked here stay on this page (happy-dom follows them otherwise).
const stay = (e: Event) => e.preventDefault()
beforeEach(() => document.addEventListener('click', stay))
afterEach(() => {
  document.removeEventListener('click', stay)
  document.body.innerHTML = ''
  document.title = ''
  delete (navigator as { share?: unknown }).share
})

describe('share buttons and links', () => {
  it('records Content Shared with the content block, the network and a new token per share', () => {
    goTo('/post')
    document.title = 'Post'
    document.body.innerHTML = `<article data-wm-content="Autumn guide"><button data-wm-share="linkedin">Share</button></article>
      <footer><button data-wm-share="x"><span>Post it</span></button></footer>`
    const host = fakeHost()
    host.install(shares())
    const [inBlock, outside] = document.querySelectorAll('button')
    click(inBlock)
    click(inBlock)
    click(outside.querySelector('span')!)
    const shared = host.named('Content Shared').map((e) => e.properties as Record<string, string>)
    expect(shared.map(({ name, network }) => [name, network])).toEqual([
      ['Autumn guide', 'linkedin'],
      ['Autumn guide', 'linkedin'],
      ['Post', 'x'], // outside a content block: the page's title
    ])
    for (const s of shared) expect(s.token).toMatch(TOKEN)
    expect(new Set(shared.map((s) => s.token)).size).toBe(3)
    // nothing that names the visitor
    expect(Object.keys(shared[0]!).sort()).toEqual(['name', 'network', 'token'])
  })

  it("puts the token on this site's address inside a share link, leaving every other byte as it was", () => {
    goTo('/post?utm_source=news')
    const here = encodeURIComponent(location.href)
    const other = encodeURIComponent('https://elsewhere.example/post')
    document.body.innerHTML = `
      <a id="x" data-wm-share="x" href="https://x.example/intent/post?text=Read%20this&url=${here}&via=waymark">X</a>
      <a id="mail" data-wm-share="email" href="mailto:?subject=Read%20this&body=${here}">Mail</a>
      <a id="foreign" data-wm-share="x" href="https://x.example/intent/post?url=${other}&text=a+b">X</a>`
    const host = fakeHost()
    host.install(shares())
    const link = (id: string) => document.getElementById(id) as HTMLAnchorElement
    click(link('x'))
    click(link('mail'))
    click(link('foreign'))
    const [x, mail] = host.named('Content Shared').map((e) => (e.properties as { token: string }).token)
    const shared = new URL(link('x').href).searchParams.get('url')!
    expect(tokenOf(shared)).toBe(x)
    expect(new URL(shared).searchParams.get('utm_source')).toBe('news')
    expect(link('x').href).toMatch(/^https:\/\/x\.example\/intent\/post\?text=Read%20this&url=[^&]+&via=waymark$/)
    expect(link('mail').href).toMatch(/^mailto:\?subject=Read%20this&body=/)
    expect(tokenOf(decodeURIComponent(link('mail').href.split('body=')[1]!))).toBe(mail)
    // another site's address gets no token; the link is as written
    expect(link('foreign').getAttribute('href')).toBe(`https://x.example/intent/post?url=${other}&text=a+b`)
  })

  it('a second click shares again: the link carries the new token, not both', () => {
    goTo('/post')
    document.body.innerHTML = `<a data-wm-share="facebook" href="https://fb.example/sharer?u=${encodeURIComponent(location.href)}">f</a>`
    const host = fakeHost()
    host.install(shares())
    const a = document.querySelector('a')!
    click(a)
    click(a)
    const tokens = host.named('Content Shared').map((e) => (e.properties as { token: string }).token)
    const shared = new URL(a.href).searchParams.get('u')!
    expect(new URL(shared).searchParams.getAll('wm_share')).toEqual([tokens[1]])
  })
})

describe('navigator.share()', () => {
  const stubShare = (answer: () => Promise<void>) => {
    const calls: ShareData[] = []
    Object.defineProperty(navigator, 'share', {
      configurable: true,
      writable: true,
      value: (data: ShareData) => (calls.push(data), answer()),
    })
    return calls
  }

  it('is recorded once the visitor completed it, with the token on the shared address', async () => {
    goTo('/post')
    const calls = stubShare(() => Promise.resolve())
    const host = fakeHost()
    host.install(shares())
    await expect(navigator.share({ title: 'Autumn guide', text: 'Worth a read', url: '/post' })).resolves.toBeUndefined()
    const [event] = host.named('Content Shared')
    expect(event!.properties).toMatchObject({ name: 'Autumn guide', network: 'native' })
    expect(calls[0]).toMatchObject({ title: 'Autumn guide', text: 'Worth a read' })
    expect(tokenOf(calls[0]!.url!)).toBe((event!.properties as { token: string }).token)
    expect(calls[0]!.url!.startsWith(`${location.origin}/post?`)).toBe(true)
  })

  it('a closed share sheet records nothing and rejects as before; other sites keep their address', async () => {
    goTo('/post')
    const abort = new DOMException('cancelled', 'AbortError')
    let answer = () => Promise.reject(abort)
    const calls = stubShare(() => answer())
    const host = fakeHost()
    host.install(shares())
    await expect(navigator.share({ url: location.href })).rejects.toBe(abort)
    expect(host.named('Content Shared')).toEqual([])
    answer = () => Promise.resolve()
    await navigator.share({ url: 'https://elsewhere.example/x', text: 'hi' })
    expect(calls[1]).toEqual({ url: 'https://elsewhere.example/x', text: 'hi' })
    await navigator.share({ text: 'no address' })
    expect(calls[2]).toEqual({ text: 'no address', url: undefined })
    expect(host.named('Content Shared')).toHaveLength(2)
  })

  it('is given back as it was when the autotracker is removed', () => {
    stubShare(() => Promise.resolve())
    const original = navigator.share
    const host = fakeHost()
    host.install(shares())
    expect(navigator.share).not.toBe(original)
    host.unload()
    expect(navigator.share).toBe(original)
  })
})

describe('a visit on a shared link', () => {
  it('drops the token from the address bar and records it on the first page view only', async () => {
    goTo('/post?x=1&wm_share=k3j2h1q9&y=2#top')
    const host = fakeHost()
    host.install(shares(), pageViews())
    expect(location.pathname + location.search + location.hash).toBe('/post?x=1&y=2#top')
    history.pushState({}, '', '/next')
    await tick()
    const [first, next] = host.pages()
    expect(first!.context.referrer).toEqual({ type: 'share', id: 'k3j2h1q9' })
    expect(JSON.stringify(first)).not.toContain('wm_share')
    expect(next!.context.referrer).toBeUndefined()
  })

  it('keeps a token that is not one of ours off every event', () => {
    goTo(`/post?wm_share=${encodeURIComponent('ada@example.com')}`)
    const host = fakeHost()
    host.install(shares(), pageViews())
    expect(location.search).toBe('')
    expect(JSON.stringify(host.events)).not.toMatch(/ada|wm_share/)
    expect(host.pages()[0]!.context.referrer).toBeUndefined()
  })
})

describe('shareUrl on a real tracker', () => {
  const open: Tracker[] = []
  afterEach(async () => {
    while (open.length) await open.pop()!.shutdown()
    delete (window as { waymark?: unknown }).waymark
  })

  it('returns this page with a new token and delivers the share it records', async () => {
    goTo('/post?ref=a')
    const time = testClock()
    const collector = testCollector(time.clock.now)
    const tracker = createTracker(
      { collector: 'https://c.test', writeKey: 'wk', autotrack: [shares()] },
      { clock: time.clock, transport: collector.transport, stores: { events: memoryEventStore(), meta: memoryMetaStore() } },
    )
    open.push(tracker)
    const link = tracker.shareUrl!('copy')
    expect(link).toMatch(new RegExp(`^${location.origin}/post\\?ref=a&wm_share=[0-9a-z]+$`))
    expect(tracker.shareUrl!('email', 'https://elsewhere.example/')).toBe('https://elsewhere.example/')
    await tracker.flush()
    const shared = collector.delivered().filter((e) => e.event === 'Content Shared')
    expect(shared.map((e) => e.properties)).toEqual([
      { name: '', network: 'copy', token: tokenOf(link) },
      { name: '', network: 'email', token: expect.stringMatching(TOKEN) },
    ])
  })

  it('is on window.waymark after the script tag installed', async () => {
    const script = document.createElement('script')
    script.dataset.collector = 'https://c.test'
    script.dataset.writeKey = 'wk'
    const tracker = install(script, window)
    open.push(tracker)
    expect(typeof (window as unknown as { waymark: Tracker }).waymark.shareUrl).toBe('function')
    expect(tokenOf(tracker.shareUrl!('copy'))).toMatch(TOKEN)
    const bare = createTracker({ collector: 'https://c.test', writeKey: 'wk' })
    open.push(bare)
    expect(bare.shareUrl).toBeUndefined()
  })
})
