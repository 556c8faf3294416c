// The Journey page's render in Chromium, as a marketer opens it: from the route change to the
// funnel shown, and to every section filled in (each table and chart has its answer), API calls
// included. The People page is shown in between, so each run builds the page afresh.

const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}
const r1 = (x) => Math.round(x * 10) / 10

export async function journeyRender(launchChromium, url, adminToken, runs = 15) {
  const browser = await launchChromium()
  try {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } })
    await context.addInitScript((token) => sessionStorage.setItem('waymark.adminToken', token), adminToken)
    const page = await context.newPage()
    await page.goto(`${url}/ui#/people`)
    await page.waitForSelector('h2#people-title')
    const funnel = []
    const complete = []
    for (let i = 0; i < runs; i++) {
      const t = await page.evaluate(
        () =>
          new Promise((resolve, reject) => {
            const t0 = performance.now()
            let shown = null
            location.hash = `#/journey?run=${Math.random()}`
            const check = () => {
              if (shown === null && document.querySelector('h2#journey-title') && document.querySelector('figure.funnel canvas')) shown = performance.now() - t0
              const bodies = [...document.querySelectorAll('.section-body')]
              if (shown !== null && bodies.length >= 5 && bodies.every((b) => b.getAttribute('aria-busy') === 'false')) {
                // Next frame: laid out and painted.
                requestAnimationFrame(() => setTimeout(() => resolve({ shown, done: performance.now() - t0 }), 0))
              } else if (performance.now() - t0 > 30_000) reject(new Error('the Journey page did not render'))
              else requestAnimationFrame(check)
            }
            check()
          }),
      )
      funnel.push(t.shown)
      complete.push(t.done)
      await page.evaluate(() => (location.hash = '#/people'))
      await page.waitForSelector('h2#people-title')
    }
    const stats = (xs) => ({ p50: r1(q(xs, 50)), p95: r1(q(xs, 95)), max: r1(Math.max(...xs)) })
    return { runs, firstMs: r1(complete[0]), funnel: stats(funnel), complete: stats(complete) }
  } finally {
    await browser.close()
  }
}
