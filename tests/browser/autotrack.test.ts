// Autotrack in real Chromium, on the example site: what jsdom cannot do faithfully — scrolling,
// IntersectionObserver, navigation on link click, form submission to another page, back/forward
// in an SPA, events of a page that goes away.
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { flush, launchChromium, startSite, type SiteEvent } from './autotrack-harness'

let browser: Browser
let site: Awaited<ReturnType<typeof startSite>>
let context: BrowserContext

beforeAll(async () => {
  site = await startSite()
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
  await site?.close()
})
beforeEach(async () => {
  site.events.length = 0
  context = await browser.newContext({ viewport: { width: 1000, height: 700 } })
  // the example's outbound link, answered here: nothing leaves 127.0.0.1
  await context.route('https://example.org/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<p>partner</p>' }))
})
afterEach(async () => {
  await context?.close()
})

async function open(path: string): Promise<Page> {
  const page = await context.newPage()
  await page.goto(site.origin + path)
  await page.waitForFunction(() => typeof (window as any).waymark?.user === 'function' && !(window as any).waymark.q)
  return page
}

const pathOf = (e: SiteEvent) => new URL(e.properties!.url).pathname + new URL(e.properties!.url).search + new URL(e.properties!.url).hash

describe('autotrack in Chromium', () => {
  it('counts SPA route changes, back and forward once each, with one session shared by tabs', async () => {
    const page = await open('/examples/app.html')
    await page.click('text=Reports')
    await page.waitForFunction(() => document.title.endsWith('reports'))
    await page.click('text=Settings')
    await page.goBack()
    await page.goForward()
    await page.click('text=Help (hash route)')
    await page.waitForFunction(() => document.title.endsWith('help'))
    const other = await open('/examples/index.html')
    await flush(page)
    await flush(other)
    const pages = await site.waitFor((e) => e.type === 'page', 7, '7 page views')
    expect(pages.map(pathOf)).toEqual([
      '/examples/app.html',
      '/examples/app.html?view=reports',
      '/examples/app.html?view=settings',
      '/examples/app.html?view=reports',
      '/examples/app.html?view=settings',
      '/examples/app.html?view=settings#/help',
      '/examples/index.html',
    ])
    expect(pages[1].properties!.title).toBe('Waymark demo — App — reports')
    expect(pages[1].properties!.referrer).toBe(`${site.origin}/examples/app.html`)
    expect(new Set(pages.map((e) => e.context.sessionId)).size).toBe(1)
    expect(new Set(pages.map((e) => e.anonymousId)).size).toBe(1)
  })

  it('sees content rendered by an SPA route, once per page view', async () => {
    const page = await open('/examples/app.html')
    await site.waitFor((e) => e.event === 'Content Impression' && e.properties!.name === 'Dashboard tip', 1, 'dashboard tip')
    await page.click('text=Reports')
    await site.waitFor((e) => e.event === 'Content Impression' && e.properties!.name === 'Report card', 1, 'report card')
    await page.goBack() // the dashboard again: a new page view, a new impression
    await site.waitFor((e) => e.event === 'Content Impression' && e.properties!.name === 'Dashboard tip', 2, 'second dashboard tip')
    await page.click('button[data-wm-track]')
    await flush(page)
    await site.waitFor((e) => e.event === 'Invite Clicked', 1, 'declared click')
    const tips = site.named('Content Impression').filter((e) => e.properties!.name === 'Dashboard tip')
    expect(tips.map((e) => e.context.page.search)).toEqual(['', ''])
    expect(site.named('Invite Clicked')[0].properties).toEqual({ source: 'tip' })
  })

  it('records scroll depth milestones once per page view on a real scroll', async () => {
    const page = await open('/examples/article.html')
    for (const y of [0.3, 0.6, 1, 0, 1]) {
      await page.evaluate((f) => scrollTo(0, f * (document.documentElement.scrollHeight - innerHeight)), y)
      await page.waitForTimeout(50) // let the scroll event fire before the next jump
    }
    await flush(page)
    const depths = await site.waitFor((e) => e.event === 'Scroll Depth', 5, 'scroll milestones')
    await flush(page)
    expect(site.named('Scroll Depth').map((e) => e.properties!.percent)).toEqual([25, 50, 75, 90, 100])
    expect(depths[0].properties!.url).toBe(`${site.origin}/examples/article.html`)
  })

  it('records a content impression for blocks at least half visible for 1 s, and clicks on them', async () => {
    const page = await open('/examples/index.html')
    await site.waitFor((e) => e.event === 'Content Impression' && e.properties!.name === 'Home hero', 1, 'hero impression')
    expect(site.named('Content Impression').map((e) => e.properties!.name)).not.toContain('Newsletter') // below the fold
    await page.locator('#newsletter-box').scrollIntoViewIfNeeded()
    await site.waitFor((e) => e.event === 'Content Impression' && e.properties!.name === 'Newsletter', 1, 'newsletter impression')
    await page.click('text=Start free trial') // a data-wm-track CTA inside a content block, leaving for pricing
    await site.waitFor((e) => e.event === 'Signup Clicked', 1, 'CTA click')
    expect(site.named('Signup Clicked')[0].properties).toEqual({ plan: 'pro', location: 'hero' })
    expect(site.named('Content Clicked')[0].properties).toMatchObject({ name: 'Home hero', piece: 'Autumn launch' })
    const hero = site.named('Content Impression').filter((e) => e.properties!.name === 'Home hero')
    expect(hero).toHaveLength(1)
  })

  it('keeps the events of link clicks that navigate away: outbound, and engaged time of the page left', async () => {
    const page = await open('/examples/index.html')
    await page.mouse.move(100, 100)
    await page.waitForTimeout(1200)
    await page.mouse.move(200, 200)
    await Promise.all([page.waitForURL('https://example.org/**'), page.click('#outbound')])
    const [outbound] = await site.waitFor((e) => e.event === 'Outbound Link Clicked', 1, 'outbound click')
    expect(outbound.properties).toEqual({ url: 'https://example.org/partners?from=waymark', text: 'Our partner site' })
    const [engaged] = await site.waitFor((e) => e.event === 'Page Engaged', 1, 'engaged time')
    expect(engaged.properties!.engagedSeconds).toBeGreaterThan(1)
    expect(engaged.properties!.url).toBe(`${site.origin}/examples/index.html`)
  })

  it('records downloads and mailto clicks', async () => {
    // The click is what is recorded; the file itself is answered with no content, so Chromium
    // starts no download (one left running once held context.close() past its timeout).
    await context.route('**/examples/files/**', (route) => route.fulfill({ status: 204 }))
    const page = await open('/examples/index.html')
    await page.click('#mailto', { noWaitAfter: true }).catch(() => {})
    await page.click('#whitepaper', { noWaitAfter: true })
    await page.waitForLoadState()
    await page.evaluate(() => (window as any).waymark?.flush?.()).catch(() => {})
    const [download] = await site.waitFor((e) => e.event === 'File Downloaded', 1, 'download')
    expect(download.properties).toMatchObject({ url: `${site.origin}/examples/files/waymark-whitepaper.pdf`, extension: 'pdf' })
    expect(site.named('Email Link Clicked')[0].properties!.url).toBe('mailto:[email]')
  })

  it('submits the newsletter to another page: identified by the e-mail field, field names only, no e-mail in URLs', async () => {
    const page = await open('/examples/index.html')
    await page.fill('input[name=email]', 'Ada@Example.com')
    await Promise.all([page.waitForURL('**/thanks.html?**'), page.click('text=Subscribe')])
    await page.waitForFunction(() => typeof (window as any).waymark?.user === 'function' && !(window as any).waymark.q)
    await flush(page)
    const [identify] = await site.waitFor((e) => e.type === 'identify', 1, 'identify')
    const [form] = await site.waitFor((e) => e.event === 'Form Submitted', 1, 'form')
    const thanks = (await site.waitFor((e) => e.type === 'page' && e.properties!.path === '/examples/thanks.html', 1, 'thanks page'))[0]
    expect(identify.traits).toMatchObject({ email: 'ada@example.com', firstTouch: { landing: '/examples/index.html' } })
    expect(identify.traits!.firstTouch).not.toHaveProperty('referrer') // a direct arrival
    expect(form.properties).toEqual({ id: 'newsletter', name: 'newsletter', action: `${site.origin}/examples/thanks.html`, fields: ['email', 'topics'] })
    expect(thanks.anonymousId).toBe(identify.anonymousId)
    expect(thanks.properties!.url).toContain('email=[email]')
    for (const e of site.events) {
      if (e.type !== 'identify') expect(JSON.stringify(e)).not.toMatch(/ada@|ada%40|Ada/i)
    }
  })

  it('identifies from an e-mail link and removes the parameter before anything records the URL', async () => {
    const page = await open('/examples/pricing.html?wm_email=ada%40example.com&utm_source=newsletter&utm_medium=email&utm_campaign=nov')
    expect(new URL(page.url()).search).toBe('?utm_source=newsletter&utm_medium=email&utm_campaign=nov')
    await flush(page)
    const [identify] = await site.waitFor((e) => e.type === 'identify', 1, 'identify')
    const [view] = await site.waitFor((e) => e.type === 'page', 1, 'page view')
    expect(identify.traits!.email).toBe('ada@example.com')
    expect(view.properties!.url).toBe(`${site.origin}/examples/pricing.html?utm_source=newsletter&utm_medium=email&utm_campaign=nov`)
    expect(view.context.campaign).toMatchObject({ source: 'newsletter', medium: 'email', name: 'nov', landing: '/examples/pricing.html' })
    expect(JSON.stringify(view)).not.toMatch(/ada|wm_email/)
  })
})
