// The Journey page's marketing tables and charts in real Chromium, against a real collector:
// campaigns by first and by last touch, revenue, score drivers, a segment's calls to action, the
// funnel and the trends drawn by uPlot with the table behind each chart, reached by keyboard.
// A screenshot of the page is saved to test-artifacts/.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { launchChromium, ROOT } from './harness.mjs'
import { loadConfig } from '../../collector/src/config.js'
import { startCollector, type RunningCollector } from '../../collector/src/server.js'

const ADMIN = 'adm_journey_analytics_test'
const ARTIFACTS = join(ROOT, 'test-artifacts')
const DAY = 86_400_000
const HOUR = 3_600_000
// Day 0: a UTC midnight six days ago, so the whole history is in "last 7 days".
const D0 = (Math.floor(Date.now() / DAY) - 6) * DAY
const at = (day: number, h: number, m = 0) => new Date(D0 + day * DAY + h * HOUR + m * 60_000).toISOString()

let browser: Browser
let collector: RunningCollector
let dir: string

const G = { source: 'google', medium: 'cpc', name: 'brand' }
const N = { source: 'newsletter', medium: 'email', name: 'may' }
let n = 0
const ev = (type: string, anon: string, t: string, extra: Record<string, unknown>, campaign?: object, path = '/') => ({
  type, messageId: `ja-${n++}`, anonymousId: anon, timestamp: t, context: { page: { path, url: `https://shop.example${path}` }, ...(campaign ? { campaign } : {}) }, ...extra,
})
const pageView = (anon: string, t: string, path: string, campaign?: object) => ev('page', anon, t, { properties: { path } }, campaign, path)
const track = (anon: string, t: string, event: string, properties: object, campaign?: object) => ev('track', anon, t, { event, properties }, campaign)
const identify = (anon: string, t: string, email: string, campaign?: object) => ev('identify', anon, t, { traits: { email } }, campaign)

beforeAll(async () => {
  for (const f of ['collector/dist/ui/viewer.js']) {
    if (!existsSync(join(ROOT, f))) throw new Error(`missing ${f}: run \`npm run build\` first`)
  }
  mkdirSync(ARTIFACTS, { recursive: true })
  dir = mkdtempSync(join(tmpdir(), 'waymark-journey-ui-'))
  const config = loadConfig(['--port', '0'], { WAYMARK_ADMIN_TOKEN: ADMIN, WAYMARK_LOG_LEVEL: 'silent' })
  collector = await startCollector({ ...config, database: { kind: 'sqlite', file: join(dir, 'waymark.db') } })
  // Four people: an anonymous visitor from the ad; a lead from the ad who came back from the
  // newsletter and ordered twice; a newsletter lead; a direct customer.
  const batch = [
    pageView('ja-a', at(0, 10), '/', G),
    pageView('ja-a', at(0, 10, 5), '/pricing', G),
    pageView('ja-b', at(1, 9), '/', G),
    track('ja-b', at(1, 9, 10), 'Signup Clicked', {}, G),
    identify('ja-b', at(1, 10), 'b@shop.example', G),
    pageView('ja-b', at(3, 12), '/pricing', N),
    track('ja-b', at(3, 12, 10), 'Order Completed', { order_id: 'o-1', revenue: 120, currency: 'EUR' }, N),
    track('ja-b', at(5, 8), 'Order Completed', { order_id: 'o-2', revenue: 80, currency: 'EUR' }, N),
    pageView('ja-c', at(2, 8), '/blog', N),
    identify('ja-c', at(2, 8, 30), 'c@shop.example', N),
    pageView('ja-d', at(4, 15), '/'),
    identify('ja-d', at(4, 15, 5), 'd@shop.example'),
    track('ja-d', at(4, 16), 'Order Completed', { order_id: 'o-3', total: 40, currency: 'EUR' }),
  ]
  const r = await fetch(`${collector.url}/v1/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('wk_demo:').toString('base64')}` },
    body: JSON.stringify({ batch }),
  })
  if (r.status !== 200) throw new Error(`seed: ${r.status} ${await r.text()}`)
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
  await collector?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

async function journey(width = 1200): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height: 900 }, acceptDownloads: true })
  await context.addInitScript((token) => sessionStorage.setItem('waymark.adminToken', token), ADMIN)
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
  ;(page as any).errors = errors
  await page.goto(`${collector.url}/ui#/journey`)
  await page.waitForSelector('h2#journey-title')
  await loaded(page)
  return page
}

/** Every section has its answer. */
const loaded = (page: Page) => page.waitForFunction(() => document.querySelectorAll('.section-body').length >= 5 && ![...document.querySelectorAll('.section-body')].some((b) => b.getAttribute('aria-busy') !== 'false'))

const cells = (page: Page, selector: string) => page.locator(selector).evaluateAll((rows) => rows.map((r) => [...r.children].map((c) => (c.textContent ?? '').trim())))

describe('Journey page analytics in Chromium', () => {
  it('shows campaigns by first and last touch, revenue, score drivers, a segment’s CTAs, and charts with their tables', async () => {
    const page = await journey()
    // Campaigns, first touch: A and B from the ad, C from the newsletter, D direct.
    const campaigns = 'section[aria-labelledby=campaigns-title] tbody tr'
    const first = await cells(page, campaigns)
    expect(first.map((r) => r.slice(0, 10))).toEqual([
      ['google', 'cpc', 'brand', '2', '1', '1', '50 %', '100 %', '€200.00', '2'],
      ['no campaign', '—', '—', '1', '1', '1', '100 %', '100 %', '€40.00', '1'],
      ['newsletter', 'email', 'may', '1', '1', '0', '100 %', '0 %', '—', '0'],
    ])
    // B: identified an hour after the first visit, a customer 2 d 3 h 10 min after it.
    expect(first[0]!.slice(10)).toEqual(['1 h', '2 d 3 h'])
    // Last touch: B's newsletter visit came before the first order.
    await page.selectOption('select[name=touch]', 'last')
    await page.waitForFunction(() => document.querySelector('section[aria-labelledby=campaigns-title] caption')?.textContent === 'Campaigns by last touch')
    const last = await cells(page, campaigns)
    expect(last.map((r) => r.slice(0, 6))).toEqual([
      ['newsletter', 'email', 'may', '2', '2', '1'],
      // D's order, placed before any campaign, ranks it before the ad's one visitor.
      ['no campaign', '—', '—', '1', '1', '1'],
      ['google', 'cpc', 'brand', '1', '0', '0'],
    ])
    expect(page.url()).toContain('touch=last')
    // CSV of the table on screen.
    const [csv] = await Promise.all([page.waitForEvent('download'), page.click('text=Download CSV (waymark-campaigns-last-touch.csv)')])
    const lines = readFileSync((await csv.path())!, 'utf8').trim().split('\r\n')
    expect(lines[0]).toBe('source,medium,campaign,visitors,leads,customers,leadRate,closeRate,customerRate,revenue,orders,medianToLeadMs,medianToCustomerMs')
    // C identified after 30 min, B after an hour; B bought 2 d 3 h 10 min after the first visit.
    expect(lines[1]).toBe('newsletter,email,may,2,2,1,1,0.5,0.5,200 EUR,2,2700000,184200000')

    // Revenue: three orders, B's second from a customer.
    expect(await cells(page, 'section[aria-labelledby=revenue-title] tbody tr')).toEqual([['EUR', '€240.00', '3', '€80.00', '€80.00 (33.3 %)']])
    await expect(page.locator('section[aria-labelledby=revenue-title] dl').textContent()).resolves.toBe('New customers2First orders2Became repeat customers (second order)1')

    // Score drivers of the three leads (default rules, points halving every 30 days): the signup
    // click (8 × 0.89), B's pricing view (5 × 0.93), four page views (≈ 3.7).
    const score = await cells(page, 'section[aria-labelledby=score-title] tbody tr')
    expect(score.map((r) => [r[0], r[3], r[4]])).toEqual([
      ['Chose a plan / signup CTA', '1', '1'],
      ['Viewed pricing', '1', '1'],
      ['Viewed a page', '4', '3'],
    ])

    // Calls to action of one segment.
    await page.selectOption('select[name=cta]', 'anonymous')
    await page.waitForFunction(() => document.querySelector('section[aria-labelledby=ctas-title] .section-body')?.textContent?.includes('No calls to action clicked'))
    await page.selectOption('select[name=cta]', 'known')
    await page.waitForFunction(() => document.querySelector('section[aria-labelledby=ctas-title] caption')?.textContent?.startsWith('Calls to action of “Identified people” (3 members)'))
    expect(await cells(page, 'section[aria-labelledby=ctas-title] tbody tr')).toEqual([
      ['Order Completed', 'track', '3', '2', '66.7 %', '0 (0 %)'],
      ['Signup Clicked', 'track', '1', '1', '33.3 %', '1 (100 %)'],
    ])

    // Charts: uPlot canvases at the figure's width (set when the ResizeObserver first reports,
    // after layout); the funnel's table is open, the trends' behind a disclosure.
    await page.waitForFunction(() =>
      [...document.querySelectorAll('figure.figure')].every((f) => (f.querySelector('canvas')?.getBoundingClientRect().width ?? 0) > f.getBoundingClientRect().width * 0.8),
    )
    const figures = await page.locator('figure.figure').evaluateAll((fs) => fs.map((f) => ({ caption: f.querySelector('figcaption')?.textContent, canvas: (f.querySelector('canvas') as HTMLCanvasElement | null)?.getBoundingClientRect().width ?? 0, width: f.getBoundingClientRect().width })))
    expect(figures.map((f) => f.caption)).toEqual([
      'Funnel: people who reached each stage',
      'New visitors, leads and customers per day',
      'Revenue per day',
      'Leads per day of identification, by the stage they are in now',
    ])
    for (const f of figures) expect(f.canvas).toBeGreaterThan(f.width * 0.8)
    expect(await cells(page, 'figure.funnel .chart-table tbody tr')).toEqual([
      ['Anonymous visitor', '4', '1', '—'],
      ['Known lead', '3', '1', '75 %'],
      ['Engaged lead', '2', '0', '66.7 %'],
      ['Customer', '2', '2', '100 %'],
      ['Advocate', '0', '0', '0 %'],
    ])
    // Keyboard only: tab to the trends table's summary, open it, read the figures.
    const summary = page.locator('figure:has(figcaption:text("New visitors, leads and customers per day")) summary')
    await page.locator('select[name=interval]').focus()
    let reached = false
    for (let i = 0; i < 10 && !reached; i++) {
      await page.keyboard.press('Tab')
      reached = await summary.evaluate((s) => s === document.activeElement)
    }
    expect(reached).toBe(true)
    await page.keyboard.press('Enter')
    const trendRows = await cells(page, 'figure:has(figcaption:text("New visitors, leads and customers per day")) .chart-table tbody tr')
    expect(trendRows.map((r) => r.slice(1))).toEqual([
      ['1', '0', '0'],
      ['1', '1', '0'],
      ['1', '1', '0'],
      ['0', '0', '1'],
      ['1', '1', '1'],
      ['0', '0', '0'],
      ['0', '0', '0'],
    ])
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-journey-analytics.png'), fullPage: true })

    // Per week, kept in the address across a reload.
    await page.selectOption('select[name=interval]', 'week')
    await page.waitForFunction(() => document.querySelector('figure figcaption')?.parentElement && [...document.querySelectorAll('figcaption')].some((c) => c.textContent === 'New visitors, leads and customers per week'))
    await page.reload()
    await page.waitForSelector('h2#journey-title')
    await loaded(page)
    await expect(page.locator('select[name=interval]').inputValue()).resolves.toBe('week')
    await expect(page.locator('select[name=touch]').inputValue()).resolves.toBe('last')
    expect((page as any).errors).toEqual([])
    await page.context().close()
  })

  it('shows campaign names, currencies and CTA labels sent by anyone as text', async () => {
    const evil = '<img src=x onerror="window.__xss = 1">'
    const batch = [
      pageView('ja-x', at(6, 0, 1), '/', { source: evil, medium: '<b>m</b>', name: '<script>window.__xss = 2</script>' }),
      identify('ja-x', at(6, 0, 2), 'x@shop.example'),
      track('ja-x', at(6, 0, 3), 'Order Completed', { order_id: 'o-x', revenue: 5, currency: '<i>x</i>' }),
      track('ja-x', at(6, 0, 4), `${evil} Clicked`, {}),
    ]
    const r = await fetch(`${collector.url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('wk_demo:').toString('base64')}` },
      body: JSON.stringify({ batch }),
    })
    expect(r.status).toBe(200)
    const page = await journey()
    await page.selectOption('select[name=cta]', 'known')
    await page.waitForFunction(() => document.querySelector('section[aria-labelledby=ctas-title] caption')?.textContent?.includes('(4 members)'))
    const seen = await page.evaluate(() => ({ xss: (window as any).__xss, tags: document.querySelectorAll('#app img, #app b, #app i, #app script').length, text: document.getElementById('app')!.textContent }))
    expect(seen).toMatchObject({ xss: undefined, tags: 0 })
    for (const t of [evil, '<b>m</b>', '<script>window.__xss = 2</script>', '<I>X</I>', `${evil} Clicked`]) expect(seen.text).toContain(t)
    await page.context().close()
  })

  it('fits a phone’s width: tables scroll in their boxes, charts shrink', async () => {
    const page = await journey(390)
    // Drawn at 600 px first, then at the figure's width when the ResizeObserver reports.
    await page.waitForFunction(() => [...document.querySelectorAll('figure.figure canvas')].every((c) => c.getBoundingClientRect().width <= 390))
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    expect(overflow).toBeLessThanOrEqual(0)
    const widths = await page.locator('figure.figure canvas').evaluateAll((cs) => cs.map((c) => c.getBoundingClientRect().width))
    for (const w of widths) expect(w).toBeLessThanOrEqual(390)
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-journey-analytics-narrow.png'), fullPage: true })
    await page.context().close()
  })
})
