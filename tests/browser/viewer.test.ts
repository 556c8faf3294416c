// The timeline viewer (/ui) in real Chromium, against a real collector that serves the example
// site: two "devices" browse anonymously, both subscribe with the same email, then a marketer
// signs in and reads the stitched journey. Plus: attacker-controlled data is shown as text.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { BrowserContext, Page } from 'playwright-core'
import { waitFor } from './harness.mjs'
import { startReceiver, verified } from '../../collector/test/webhook-receiver.js'
import { ARTIFACTS, viewerSuite } from './viewer-harness.js'

const ADMIN = 'adm_viewer_test_token'
const suite = viewerSuite(ADMIN)
const { api, visit, subscribe, viewer } = suite

async function device(): Promise<BrowserContext> {
  const context = await suite.browser.newContext({ viewport: { width: 1000, height: 700 } })
  // The example's outbound link, answered here: nothing leaves 127.0.0.1.
  await context.route('https://example.org/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<p>partner</p>' }))
  return context
}

async function openPerson(page: Page, search: string): Promise<void> {
  await page.fill('input[name=q]', search)
  await page.keyboard.press('Enter')
  const link = page.locator('table a', { hasText: search })
  await link.waitFor()
  // Keyboard only: focus the link and press Enter.
  await link.focus()
  await page.keyboard.press('Enter')
  await page.waitForSelector('h2#person-title')
}

describe('timeline viewer in Chromium', () => {
  const email = `ada-${Date.now().toString(36)}@example.com`

  it('stitches two devices: the laptop at the identification, the phone where it joined later; anonymous pages of both marked; funnel and segment agree', async () => {
    const laptop = await device()
    const phone = await device()
    const a = await laptop.newPage()
    const b = await phone.newPage()
    // Anonymous browsing on both devices.
    await visit(a, '/examples/index.html?utm_source=newsletter&utm_medium=email&utm_campaign=autumn')
    await visit(a, '/examples/pricing.html')
    await visit(b, '/examples/article.html')
    await visit(b, '/examples/pricing.html')
    const anonA = await a.evaluate(() => (window as any).waymark.user().anonymousId)
    const anonB = await b.evaluate(() => (window as any).waymark.user().anonymousId)
    expect(anonA).not.toBe(anonB)
    // Then both subscribe with the same email.
    await subscribe(a, email)
    await subscribe(b, email.toUpperCase())
    await waitFor(
      async () => {
        const p = (await api(`/api/lookup?email=${encodeURIComponent(email)}`))?.profile
        const anon = p?.identifiers.filter((i: any) => i.kind === 'anonymousId').map((i: any) => i.value) ?? []
        return anon.includes(anonA) && anon.includes(anonB) && p.journey.linkedDevices?.length === 1 && p
      },
      { timeout: 20_000, message: 'both devices stitched to one person' },
    )
    // Closing the pages sends their last events (engaged time on pagehide); wait until the
    // person's event count stops moving so the checks below compare against settled data.
    await laptop.close()
    await phone.close()
    let last = -1
    const profile = await waitFor(
      async () => {
        const p = (await api(`/api/lookup?email=${encodeURIComponent(email)}`)).profile
        const settled = p.eventCount === last
        last = p.eventCount
        return settled && p
      },
      { timeout: 20_000, interval: 750, message: 'the last events of the closed pages' },
    )

    const ui = await viewer()
    await ui.screenshot({ path: join(ARTIFACTS, 'viewer-people.png'), fullPage: true })
    await openPerson(ui, email)
    // The laptop identified first; the phone joined when it subscribed too, with its own marker.
    const { identification, linkedDevices } = profile.journey
    expect(linkedDevices).toMatchObject([{ anonymousId: anonB }])
    await expect(ui.locator('.marker:not(.device-link)').textContent()).resolves.toMatch(
      new RegExp(`Identified as ${email.replace(/[.]/g, '\\.')} — ${identification.earlierEvents} earlier anonymous events from 1 device stitched`),
    )
    await expect(ui.locator('.marker.device-link').textContent()).resolves.toMatch(new RegExp(`^Device linked: .+ — ${linkedDevices[0].earlierEvents} earlier anonymous events`))
    const badges = (await api(`/api/profiles/${profile.id}/timeline?limit=500`)).events.filter((e: any) => e.beforeIdentified)
    expect(badges).toHaveLength(identification.earlierEvents + linkedDevices[0].earlierEvents)
    // Document order: everything before the first marker is marked as anonymous, nothing after the last is.
    const order = await ui.evaluate(() => {
      const items = [...document.querySelectorAll('.timeline .event, .timeline .marker')]
      const markers = items.map((el, i) => (el.classList.contains('marker') ? i : -1)).filter((i) => i >= 0)
      const text = (el: Element) => (el.querySelector('.what')?.textContent ?? '').trim()
      const row = (el: Element) => ({ text: text(el), before: el.classList.contains('before'), kind: el.className })
      return {
        before: items.slice(0, markers[0]).map(row),
        after: items.slice(markers[markers.length - 1]! + 1).map(row),
        marked: items.filter((el) => el.classList.contains('before')).map(row),
      }
    })
    expect(order.before.filter((e) => !e.before)).toEqual([])
    expect(order.after.filter((e) => e.before)).toEqual([])
    const pagesBefore = order.marked.filter((e) => e.kind.includes('kind-page')).map((e) => e.text)
    // Laptop: home and pricing; phone: the article, pricing and home — all anonymous.
    expect(pagesBefore.some((t) => t.includes('Waymark demo — Home'))).toBe(true)
    expect(pagesBefore.some((t) => t.includes('How we stitch identities'))).toBe(true)
    expect(pagesBefore.filter((t) => t.includes('Pricing'))).toHaveLength(2)
    // Sessions carry their source: the laptop arrived from the email campaign.
    await expect(ui.locator('.session-head', { hasText: 'email (newsletter)' }).first().isVisible()).resolves.toBe(true)
    await expect(ui.locator('dd', { hasText: anonA }).count()).resolves.toBe(0) // ids are in the devices table, not as facts
    await expect(ui.locator('table code', { hasText: anonB }).count()).resolves.toBe(1)
    await ui.screenshot({ path: join(ARTIFACTS, 'viewer-person.png'), fullPage: true })
    // CSV of the whole timeline: one line per event, oldest first.
    const [timelineCsv] = await Promise.all([ui.waitForEvent('download'), ui.click('text=Export timeline CSV')])
    const timelineLines = readFileSync((await timelineCsv.path())!, 'utf8').trim().split('\r\n')
    expect(timelineLines).toHaveLength(1 + profile.eventCount)
    expect(timelineLines.filter((l) => l.includes(',identify,'))).toHaveLength(2)

    // Funnel: the data has exactly one person, identified, with two pricing views and two forms
    // (score ≥ 30): an engaged lead.
    const journey = await api('/api/journey')
    expect(journey.stages.map((s: any) => [s.stage, s.count])).toEqual([
      ['anonymous', 0],
      ['known', 0],
      ['engaged', 1],
      ['customer', 0],
      ['advocate', 0],
    ])
    await ui.click('nav.top a[href="#/journey"]')
    await ui.waitForSelector('h2#journey-title')
    // The funnel's table (behind its chart): stage, reached, here now, from the previous stage.
    const funnelRows = () => ui.locator('figure.funnel .chart-table tbody tr').evaluateAll((rows) => rows.map((r) => [...r.children].map((c) => c.textContent)))
    const funnel = await funnelRows()
    expect(funnel).toHaveLength(5)
    expect(funnel[0]).toEqual(['Anonymous visitor', '1', '0', '—'])
    expect(funnel[2]).toEqual(['Engaged lead', '1', '1', '100 %'])
    expect(funnel[3]).toEqual(['Customer', '0', '0', '0 %'])
    const newsletterRow = await ui.locator('table', { hasText: 'Content consumers who became known' }).locator('tr', { hasText: 'Newsletter' }).allTextContents()
    expect(newsletterRow).toHaveLength(1)
    await ui.screenshot({ path: join(ARTIFACTS, 'viewer-journey.png'), fullPage: true })
    // A chosen period: the cohort first seen in it.
    await ui.selectOption('select[name=days]', '7')
    await ui.click('form[aria-label=Period] button[type=submit]')
    await ui.waitForFunction(() => document.querySelector('p.count')?.textContent === '1 person first seen in the last 7 days')
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)
    await ui.selectOption('select[name=days]', 'custom')
    await ui.fill('input[name=from]', tomorrow)
    await ui.click('form[aria-label=Period] button[type=submit]')
    await ui.waitForFunction((d) => document.querySelector('p.count')?.textContent === `0 people first seen from ${d}`, tomorrow)
    await expect(funnelRows()).resolves.toContainEqual(['Anonymous visitor', '0', '0', '—'])
    await ui.click('nav.top a[href="#/journey"]')
    await ui.waitForFunction(() => document.querySelector('p.count')?.textContent === '1 person in total')

    // One segment's members: two pricing views within 7 days (one per device).
    await ui.click('a[href="#/people?segment=pricing-twice-7d"]')
    await ui.waitForSelector('h2#people-title')
    await expect(ui.locator('p.count').textContent()).resolves.toBe('1 person')
    await expect(ui.locator('table tbody a').allTextContents()).resolves.toEqual([email])
    // CSV of this list.
    const [peopleCsv] = await Promise.all([ui.waitForEvent('download'), ui.click('text=Export CSV')])
    const peopleLines = readFileSync((await peopleCsv.path())!, 'utf8').trim().split('\r\n')
    expect(peopleLines[0]).toBe('id,email,userId,anonymousIds,stage,score,channel,segments,firstSeen,lastSeen,identifiedAt,events')
    expect(peopleLines).toHaveLength(2)
    expect(peopleLines[1]).toContain(`,${email},`)
    expect(peopleLines[1]).toContain(',engaged,')
    await ui.selectOption('select[name=segment]', 'whitepaper')
    await ui.click('form.filters button[type=submit]')
    await ui.waitForFunction(() => document.querySelector('p.count')?.textContent === '0 people')

    // Narrow screen: the person page fits a phone's width (no horizontal scroll of the page).
    const narrow = await viewer(390)
    await openPerson(narrow, email)
    const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    expect(overflow).toBeLessThanOrEqual(0)
    await narrow.locator('.marker.device-link').scrollIntoViewIfNeeded()
    await narrow.screenshot({ path: join(ARTIFACTS, 'viewer-person-narrow.png'), fullPage: false })
    await narrow.context().close()
    await ui.context().close()
  })

  it('shows attacker-controlled properties, titles and URLs as text; nothing executes', async () => {
    const anon = `xss-${Date.now().toString(36)}`
    const evilTitle = '<script>window.__xss = "title"</script>Evil title'
    const evilImg = '<img src=x onerror="window.__xss = \'img\'">'
    const now = Date.now()
    const at = (i: number) => new Date(now - 60_000 + i * 1000).toISOString()
    const r = await fetch(`${suite.collector.url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('wk_demo:').toString('base64')}` },
      body: JSON.stringify({
        sentAt: new Date().toISOString(),
        batch: [
          { type: 'page', messageId: `${anon}-1`, anonymousId: anon, name: evilTitle, timestamp: at(0),
            properties: { title: evilTitle, path: '/x"><script>window.__xss="path"</script>', url: 'javascript:window.__xss="href"' },
            context: { sessionId: 's-xss', campaign: { channel: '<b>bold</b>', source: evilImg }, page: { path: evilImg } } },
          { type: 'track', messageId: `${anon}-2`, anonymousId: anon, event: 'Content Clicked', timestamp: at(1), properties: { name: evilImg, piece: evilTitle } },
          { type: 'track', messageId: `${anon}-3`, anonymousId: anon, event: 'File Downloaded', timestamp: at(2), properties: { url: 'javascript:window.__xss="link"', text: evilImg } },
          { type: 'identify', messageId: `${anon}-4`, anonymousId: anon, timestamp: at(3), traits: { email: `${anon}@example.com`, name: evilImg, company: evilTitle } },
        ],
      }),
    })
    expect(r.status).toBe(200)
    const ui = await viewer()
    await openPerson(ui, `${anon}@example.com`)
    await ui.waitForSelector('.timeline .event')
    // Open every properties box so their text is rendered too.
    await ui.evaluate(() => document.querySelectorAll('details').forEach((d) => ((d as HTMLDetailsElement).open = true)))
    await ui.waitForFunction(() => document.querySelectorAll('details pre').length === document.querySelectorAll('details').length)
    const seen = await ui.evaluate(() => ({
      xss: (window as any).__xss,
      imgs: document.querySelectorAll('#app img').length,
      scripts: document.querySelectorAll('#app script, #app b').length,
      jsLinks: [...document.querySelectorAll('a')].filter((a) => a.getAttribute('href')?.trim().toLowerCase().startsWith('javascript')).length,
      text: document.getElementById('app')!.textContent,
    }))
    expect(seen.xss).toBeUndefined()
    expect(seen.imgs).toBe(0)
    expect(seen.scripts).toBe(0)
    expect(seen.jsLinks).toBe(0)
    expect(seen.text).toContain(evilTitle)
    expect(seen.text).toContain(evilImg)
    expect(seen.text).toContain('<b>bold</b>')
    await ui.screenshot({ path: join(ARTIFACTS, 'viewer-xss.png'), fullPage: true })
    // The journey page renders the same strings (content table, channel table) as text too.
    await ui.click('nav.top a[href="#/journey"]')
    await ui.waitForSelector('h2#journey-title')
    const journey = await ui.evaluate(() => ({ xss: (window as any).__xss, imgs: document.querySelectorAll('#app img, #app b').length, text: document.getElementById('app')!.textContent }))
    expect(journey).toMatchObject({ xss: undefined, imgs: 0 })
    expect(journey.text).toContain(evilImg)
    await ui.context().close()
  })

  it('a person with many devices shows the most recent ones, then every one on request', async () => {
    const run = Date.now().toString(36)
    const email = `many-${run}@example.com`
    const now = Date.now()
    const at = (i: number) => new Date(now - 60_000 + i * 1000).toISOString()
    const batch = Array.from({ length: 25 }, (_, i) => [
      { type: 'page', messageId: `many-${run}-p${i}`, anonymousId: `many-${run}-${i}`, timestamp: at(i), properties: { path: '/pricing' } },
      { type: 'identify', messageId: `many-${run}-i${i}`, anonymousId: `many-${run}-${i}`, timestamp: at(i), traits: { email } },
    ]).flat()
    const r = await fetch(`${suite.collector.url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('wk_demo:').toString('base64')}` },
      body: JSON.stringify({ sentAt: new Date().toISOString(), batch }),
    })
    expect(r.status).toBe(200)
    await waitFor(async () => (await api(`/api/lookup?email=${encodeURIComponent(email)}`))?.profile.journey.deviceCount === 25, { timeout: 20_000, message: 'the 25 devices linked' })
    const ui = await viewer()
    await openPerson(ui, email)
    const rows = ui.locator('table', { hasText: 'Linked anonymous ids and devices' }).locator('tbody tr')
    await expect(rows.count()).resolves.toBe(20)
    // Most recent first: the last browser to identify heads the table.
    await expect(rows.first().textContent()).resolves.toContain(`many-${run}-24`)
    await ui.click('text=Show all 25 devices')
    await ui.waitForFunction(() => document.querySelectorAll('.devices tbody tr').length === 25)
    await expect(ui.locator('.devices button.more').isHidden()).resolves.toBe(true)
    await ui.context().close()
  })

  it('the Webhooks page shows a delivery from a visit to the example site, and resends it', async () => {
    const rx = await startReceiver()
    try {
      const made = await fetch(`${suite.collector.url}/api/webhooks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: `${rx.url}/crm`, triggers: { 'person.identified': true } }),
      })
      expect(made.status).toBe(201)
      const { webhook } = await made.json()
      const email = `grace-${Date.now().toString(36)}@example.com`
      const visitor = await device()
      await subscribe(await visitor.newPage(), email)
      const got = await waitFor(() => rx.received.find((r) => r.json?.data.person.email === email), { timeout: 20_000, message: 'the delivery' })
      expect(verified(webhook.secret, got)).toMatchObject({ type: 'person.identified', data: { person: { email, stage: 'known' } } })
      await visitor.close()

      const ui = await viewer()
      await ui.click('nav.top a[href="#/webhooks"]')
      await ui.waitForSelector('h2#webhooks-title')
      const card = ui.locator('section.webhook', { hasText: webhook.id })
      await expect(card.locator('dd', { hasText: 'person identified' }).count()).resolves.toBe(1)
      const row = card.locator('tbody tr', { hasText: got.id })
      await row.waitFor()
      const cells = await row.locator('td').allTextContents()
      expect(cells.slice(1, 5)).toEqual(['person.identified', email, 'delivered', '1'])
      // The receiver's answer is there, as text.
      await expect(row.locator('summary').textContent()).resolves.toBe('HTTP 200')
      await row.locator('summary').click()
      await expect(row.locator('pre').textContent()).resolves.toBe('ok')
      await ui.screenshot({ path: join(ARTIFACTS, 'viewer-webhooks.png'), fullPage: true })
      await row.locator('button.resend').click()
      await ui.waitForFunction((id) => document.querySelector('.deliveries p[role=status]')?.textContent === `${id} is queued to be sent again.`, got.id)
      await waitFor(() => rx.received.filter((r) => r.id === got.id).length === 2, { message: 'the resent delivery' })
      // Same id, same body, signed afresh.
      const again = rx.received.filter((r) => r.id === got.id)[1]!
      expect(again.body).toBe(got.body)
      expect(verified(webhook.secret, again)).toEqual(verified(webhook.secret, got))
      await ui.reload()
      await ui.waitForSelector('h2#webhooks-title')
      await waitFor(async () => (await ui.locator('section.webhook tbody tr', { hasText: got.id }).locator('td').allTextContents())[4] === '2', { message: 'two attempts shown' })
      await ui.context().close()
    } finally {
      await rx.close()
    }
  })
})
