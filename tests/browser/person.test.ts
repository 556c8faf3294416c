// A marketer's two-device person in real Chromium, against a real collector serving the example
// site: a phone arrives from an ad, reads an article, later comes back through a newsletter's
// e-mail link and shares the article; a desktop visits directly and subscribes. A friend opens
// the shared link and subscribes too. Then the Person page (identity card, markers and their
// counts, the kind filter, folded scroll and engaged time) and the Journey page's share table.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { BrowserContext, Page } from 'playwright-core'
import { waitFor } from './harness.mjs'
import { ARTIFACTS, sdkLoaded, viewerSuite } from './viewer-harness.js'

const PHONE_UA = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36'
const suite = viewerSuite('adm_person_test_token')
const { api, visit, subscribe, viewer } = suite

/** A browser of its own; what leaves for LinkedIn is answered here (and its address kept). */
async function device(options: { phone?: boolean } = {}): Promise<{ context: BrowserContext; page: Page; shared: string[] }> {
  const context = await suite.browser.newContext(
    options.phone ? { userAgent: PHONE_UA, viewport: { width: 390, height: 800 }, isMobile: true, hasTouch: true } : { viewport: { width: 1100, height: 800 } },
  )
  const shared: string[] = []
  await context.route('https://www.linkedin.com/**', (route) => {
    shared.push(route.request().url())
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<p>shared</p>' })
  })
  return { context, page: await context.newPage(), shared }
}

/** Waits until the person's event count stops moving (pages closed send their last events). */
async function settled(email: string): Promise<any> {
  // Settled when the count holds for three polls in a row: a closing page's last batch can
  // arrive a second after the others on a loaded machine.
  let last = -1
  let same = 0
  return waitFor(
    async () => {
      const p = (await api(`/api/lookup?email=${encodeURIComponent(email)}`))?.profile
      same = p && p.eventCount === last ? same + 1 : 0
      last = p?.eventCount ?? -1
      return same >= 2 && p
    },
    { timeout: 20_000, interval: 750, message: `the events of ${email}` },
  )
}

describe('the Person page of a two-device person, and the share table', () => {
  const run = Date.now().toString(36)
  const ada = `ada-${run}@example.com`
  const friend = `friend-${run}@example.com`

  it('tells the truth about both devices and counts the share', async () => {
    const phone = await device({ phone: true })
    const desktop = await device()
    // 1. The phone arrives from an ad and reads the article to its end, for a while.
    await visit(phone.page, '/examples/pricing.html?utm_source=google&utm_medium=cpc&utm_campaign=spring')
    await visit(phone.page, '/examples/article.html')
    await phone.page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight))
    await phone.page.waitForTimeout(1500)
    await phone.page.mouse.move(10, 10)
    // 2. The desktop: a direct visit, then the newsletter form.
    await visit(desktop.page, '/examples/index.html')
    await subscribe(desktop.page, ada)
    // the phone, still anonymous, looks at pricing again
    await visit(phone.page, '/examples/pricing.html')
    // 3. The phone, later, through the newsletter's e-mail link: identified there, the address cleaned.
    await visit(phone.page, `/examples/article.html?utm_source=newsletter&utm_medium=email&utm_campaign=weekly&wm_email=${encodeURIComponent(ada)}`)
    expect(new URL(phone.page.url()).searchParams.has('wm_email')).toBe(false)
    // 4. It shares the article on LinkedIn: the shared address carries a share token.
    await Promise.all([phone.page.waitForURL(/linkedin\.com/), phone.page.click('#share-linkedin')])
    expect(phone.shared).toHaveLength(1)
    const sharedUrl = new URL(new URL(phone.shared[0]!).searchParams.get('url')!)
    const token = sharedUrl.searchParams.get('wm_share')!
    expect(token).toMatch(/^[0-9a-z]+$/)
    expect(sharedUrl.pathname).toBe('/examples/article.html')
    // 5. A friend opens it (the token leaves the address bar) and subscribes.
    const other = await device()
    await other.page.goto(sharedUrl.href)
    await sdkLoaded(other.page)
    expect(new URL(other.page.url()).searchParams.has('wm_share')).toBe(false)
    await other.page.evaluate(() => (window as any).waymark.flush())
    await subscribe(other.page, friend)
    for (const d of [phone, desktop, other]) await d.context.close()

    const person = await settled(ada)
    await settled(friend)
    const { journey } = person
    const timeline = (await api(`/api/profiles/${person.id}/timeline?limit=500&order=asc`)).events
    const phoneId = timeline.find((e: any) => e.properties?.path === '/examples/pricing.html').anonymousId
    // The API first: the ad on the phone is the first touch; the phone joined after the desktop.
    expect(person.firstTouch).toMatchObject({ channel: 'paid search', source: 'google', medium: 'cpc', campaign: 'spring', landingPage: '/examples/pricing.html' })
    expect(journey.identification.devices).toBe(1)
    expect(journey.linkedDevices).toMatchObject([{ anonymousId: phoneId, os: 'Android 14', device: 'mobile' }])
    const marked = timeline.filter((e: any) => e.beforeIdentified)
    expect(marked).toHaveLength(journey.identification.earlierEvents + journey.linkedDevices[0].earlierEvents)
    // every phone event before its own identify is marked, also those after the desktop's
    const phoneLink = journey.linkedDevices[0].at
    const phoneBefore = timeline.filter((e: any) => e.anonymousId === phoneId && e.timestamp < phoneLink && !e.userId && !e.email)
    expect(phoneBefore.length).toBeGreaterThanOrEqual(6) // 2 page views, scroll milestones, engaged time
    expect(phoneBefore.every((e: any) => e.beforeIdentified)).toBe(true)
    expect(phoneBefore.some((e: any) => e.timestamp > journey.identification.at)).toBe(true)

    const ui = await viewer()
    await ui.fill('input[name=q]', ada)
    await ui.keyboard.press('Enter')
    await ui.locator('table a', { hasText: ada }).click()
    await ui.waitForSelector('h2#person-title')
    // Identity card: the first touch as fields.
    const facts = await ui.evaluate(() => Object.fromEntries([...document.querySelectorAll('.facts dt')].map((dt) => [dt.textContent, dt.nextElementSibling!.textContent])))
    expect(facts).toMatchObject({
      'First-touch channel': 'paid search',
      'First-touch source': 'google / cpc',
      'First-touch campaign': 'spring',
      'Landing page': '/examples/pricing.html',
    })
    // The first session says the same, and so do the traits (fields, not JSON).
    await expect(ui.locator('.session-head').first().textContent()).resolves.toMatch(/paid search \(google\) · campaign spring · landing \/examples\/pricing\.html · Mobile Chrome/)
    const firstTouchTrait = ui.locator('.table-wrap[aria-label=Traits] tr', { hasText: 'firstTouch' })
    const traitFields = await firstTouchTrait.evaluate((tr) => Object.fromEntries([...tr.querySelectorAll('dl.fields dt')].map((dt) => [dt.textContent, dt.nextElementSibling!.textContent])))
    expect(traitFields).toEqual({ channel: 'paid search', source: 'google', medium: 'cpc', campaign: 'spring', 'landing page': '/examples/pricing.html' })
    await expect(firstTouchTrait.textContent()).resolves.not.toContain('{')
    // Markers, in place, with their counts.
    const { identification, linkedDevices } = journey
    await expect(ui.locator('.marker:not(.device-link)').textContent()).resolves.toMatch(
      new RegExp(`^Identified as ${ada.replace(/[.]/g, '\\.')} — ${identification.earlierEvents} earlier anonymous events from 1 device stitched`),
    )
    await expect(ui.locator('.marker.device-link').textContent()).resolves.toMatch(
      new RegExp(`^Device linked: Mobile Chrome \\d+ · Android 14 — ${linkedDevices[0].earlierEvents} earlier anonymous events`),
    )
    // Every row of the phone before its marker is marked, on both sides of the identification;
    // nothing after the device marker is.
    const rows = await ui.evaluate(() => {
      const items = [...document.querySelectorAll('.timeline .event, .timeline .marker')]
      const at = items.findIndex((el) => el.classList.contains('device-link'))
      const onPhone = (el: Element) => /Android/.test(el.closest('.session')?.querySelector('.session-head')?.textContent ?? '')
      return {
        phoneBefore: items.slice(0, at).filter((el) => el.classList.contains('event') && onPhone(el)).map((el) => el.classList.contains('before')),
        after: items.slice(at + 1).filter((el) => el.classList.contains('before')).length,
        betweenMarkers: items.slice(items.findIndex((el) => el.classList.contains('marker')) + 1, at).filter((el) => el.classList.contains('before')).length,
      }
    })
    expect(rows.phoneBefore.length).toBeGreaterThanOrEqual(2)
    expect(rows.phoneBefore.every(Boolean)).toBe(true)
    expect(rows.after).toBe(0)
    expect(rows.betweenMarkers).toBeGreaterThan(0) // the phone's anonymous rows after the desktop identified
    // Scroll depth and engaged time are folded into the article's page view.
    const article = ui.locator('.event.kind-page', { hasText: 'How we stitch identities' }).first()
    await expect(article.locator('.folded').textContent()).resolves.toMatch(/^scrolled to 100 % · engaged \d+(\.\d)? s$/)
    await expect(ui.locator('.event.kind-measure').count()).resolves.toBe(0)
    await ui.screenshot({ path: join(ARTIFACTS, 'viewer-person-devices.png'), fullPage: true })
    // Newest first: the same folds and markers; a session's header is its start.
    await ui.click('text=Newest first')
    await ui.waitForFunction(() => location.hash.includes('order=desc') && document.querySelector('.timeline .event') !== null)
    await expect(ui.locator('.event.kind-page', { hasText: 'How we stitch identities' }).last().locator('.folded').textContent()).resolves.toMatch(/^scrolled to 100 % · engaged/)
    await expect(ui.locator('.event.kind-measure').count()).resolves.toBe(0)
    await expect(ui.locator('.timeline .marker').count()).resolves.toBe(2)
    await expect(ui.locator('.session-head').last().textContent()).resolves.toMatch(/paid search \(google\) · campaign spring · landing \/examples\/pricing\.html/)
    await ui.click('text=Oldest first')
    await ui.waitForFunction(() => location.hash.includes('order=asc'))
    // The kind filter: forms and identity only, then back to everything.
    for (const kind of ['page', 'content', 'link', 'custom']) await ui.uncheck(`.kinds input[name=${kind}]`)
    await ui.click('.kinds button[type=submit]')
    await ui.waitForFunction(() => /kinds=form(%2C|,)identity/.test(location.hash) && /chosen kinds/.test(document.querySelector('p[aria-live]')?.textContent ?? ''))
    const kinds = await ui.locator('.timeline .event .kind').allTextContents()
    expect(new Set(kinds)).toEqual(new Set(['form', 'identify']))
    expect(kinds.filter((k) => k === 'identify')).toHaveLength(2)
    await expect(ui.locator('p[aria-live]').textContent()).resolves.toMatch(/events of the chosen kinds shown/)
    // the markers stay in place in a filtered timeline
    await expect(ui.locator('.timeline .marker').count()).resolves.toBe(2)
    await ui.screenshot({ path: join(ARTIFACTS, 'viewer-person-filtered.png'), fullPage: true })

    // The share table: one LinkedIn share of the article, one referred visit, one person who became known.
    const shares = await api('/api/journey/shares')
    expect(shares.rows).toEqual([
      { content: 'Waymark demo — How we stitch identities', network: 'linkedin', shares: 1, referredVisits: 1, people: 1, becameKnown: 1 },
    ])
    await ui.click('nav.top a[href="#/journey"]')
    await ui.waitForSelector('h2#journey-title')
    const shareRows = await ui.locator('.shares tbody tr').allTextContents()
    expect(shareRows).toEqual(['Waymark demo — How we stitch identitieslinkedin1111 (100 %)'])
    await ui.screenshot({ path: join(ARTIFACTS, 'viewer-journey-shares.png'), fullPage: true })
    await ui.locator('.shares').screenshot({ path: join(ARTIFACTS, 'viewer-shares.png') })
    await ui.context().close()
  }, 180_000)
})
