// What the viewer's real-Chromium suites share: a collector on a fresh SQLite file that serves
// the example site and the viewer, one Chromium, and the steps a visitor and a marketer take.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { launchChromium, ROOT } from './harness.mjs'
import { loadConfig } from '../../collector/src/config.js'
import { startCollector, type RunningCollector } from '../../collector/src/server.js'

export const ARTIFACTS = join(ROOT, 'test-artifacts')

/** Resolves once the page's SDK replaced the loader stub. */
export const sdkLoaded = (page: Page) => page.waitForFunction(() => typeof (window as any).waymark?.user === 'function' && !(window as any).waymark.q)

export interface ViewerSuite {
  browser: Browser
  collector: RunningCollector
  /** A read API answer with the admin token (null unless 200). */
  api(path: string): Promise<any>
  /** Opens an example page and sends what it recorded. */
  visit(page: Page, path: string): Promise<void>
  /** Subscribes to the example newsletter with `email` (the form identifies). */
  subscribe(page: Page, email: string): Promise<void>
  /** A signed-in viewer on the People page. */
  viewer(width?: number): Promise<Page>
}

/** Started before the suite's tests, stopped after; the handle is filled in place. */
export function viewerSuite(admin: string): ViewerSuite {
  let dir = ''
  const suite = {
    async api(path: string) {
      const r = await fetch(suite.collector.url + path, { headers: { authorization: `Bearer ${admin}` } })
      return r.status === 200 ? r.json() : null
    },
    async visit(page: Page, path: string) {
      await page.goto(suite.collector.url + path)
      await sdkLoaded(page)
      await page.evaluate(() => (window as any).waymark.flush())
    },
    async subscribe(page: Page, email: string) {
      await suite.visit(page, '/examples/index.html')
      await page.fill('#newsletter input[name=email]', email)
      await Promise.all([page.waitForURL(/thanks\.html/), page.click('#newsletter button[type=submit]')])
      await sdkLoaded(page)
      await page.evaluate(() => (window as any).waymark.flush())
    },
    async viewer(width = 1100) {
      const context = await suite.browser.newContext({ viewport: { width, height: 900 } })
      const page = await context.newPage()
      page.on('dialog', (d) => {
        throw new Error(`a dialog opened: ${d.message()}`)
      })
      await page.goto(`${suite.collector.url}/ui`)
      await page.fill('#token', admin)
      await page.keyboard.press('Enter')
      await page.waitForSelector('h2#people-title')
      return page
    },
  } as ViewerSuite
  beforeAll(async () => {
    for (const f of ['dist/waymark.min.js', 'collector/dist/ui/viewer.js']) {
      if (!existsSync(join(ROOT, f))) throw new Error(`missing ${f}: run \`npm run build\` first`)
    }
    mkdirSync(ARTIFACTS, { recursive: true })
    dir = mkdtempSync(join(tmpdir(), 'waymark-viewer-'))
    // Webhooks go to a receiver on 127.0.0.1 here.
    const config = loadConfig(['--port', '0'], { WAYMARK_ADMIN_TOKEN: admin, WAYMARK_LOG_LEVEL: 'silent', WAYMARK_WEBHOOK_ALLOW_PRIVATE: '1' })
    suite.collector = await startCollector({ ...config, database: { kind: 'sqlite', file: join(dir, 'waymark.db') } })
    suite.browser = await launchChromium()
  })
  afterAll(async () => {
    await suite.browser?.close()
    await suite.collector?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })
  return suite
}
