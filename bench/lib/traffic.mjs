// Seeded, realistic site traffic, as the Waymark script tag sends it: sessions of page views
// with content impressions and clicks, scroll depth and engaged time, forms, identifies on one or
// two devices, orders with revenue, utm parameters on a share of sessions, shares of content and
// the visits they bring. The same seed gives
// the same browsers, events and messageIds, so runs compare like with like.
//
// About 10 events a browser; 20% of browsers identify; a quarter of those share their email with
// an earlier browser (a second device: the collector merges them).

const DAY = 86_400_000
const UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
const UA_PHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'
const PAGES = ['/', '/pricing', '/blog', '/blog/launch', '/blog/guide-to-tracking', '/features', '/customers', '/docs', '/docs/start', '/about', '/contact', '/blog/identity']
const CONTENT = ['Hero: Start free', 'Guide: Tracking 101', 'Case study: Acme', 'Webinar: Journeys', 'Whitepaper: Identity', 'Pricing table', 'Newsletter box', 'Demo video']
const CAMPAIGNS = [
  { source: 'google', medium: 'cpc', name: 'brand' },
  { source: 'newsletter', medium: 'email', name: 'december' },
  { source: 'linkedin', medium: 'social', name: 'launch' },
  { source: 'partner', medium: 'affiliate', name: 'partner-q4' },
  { source: 'bing', medium: 'ppc', name: 'generic' },
]
const REFERRERS = ['https://www.google.com/', 'https://duckduckgo.com/', 'https://news.ycombinator.com/', '', '', '']

/** mulberry32: small, fast, and good enough to draw traffic. */
export function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const pick = (r, list) => list[Math.floor(r() * list.length)]

// Shares: 5 % of browsers share a piece of content on their first page; 5 % arrive through the
// share of one of the 200 browsers before them. Drawn from generators of their own, so the rest
// of the traffic is what it was without them.
const NETWORKS = ['linkedin', 'x', 'email', 'copy']
const sharer = (seed, b) => rng(seed * 7_919 + b * 2 + 1)() < 0.05
function sharedBy(seed, b) {
  if (rng(seed * 7_919 + b * 2)() >= 0.05) return null
  for (let k = b - 1; k >= Math.max(0, b - 200); k--) if (sharer(seed, k)) return k
  return null
}

/**
 * The events of browser `b` (0-based), oldest first, with timestamps within `days` days before
 * `now`. Every value is drawn from `seed` and `b` alone.
 */
export function browserEvents(seed, b, now, days = 60) {
  const r = rng(seed * 1_000_003 + b)
  const anonymousId = `anon-${seed}-${b}`
  const phone = r() < 0.4
  const events = []
  let n = 0
  const id = () => `s${seed}-${b}-${n++}`
  let t = now - Math.floor(r() * days * DAY)
  const identifies = r() < 0.2
  // A second device of an earlier browser's person, or a person of its own.
  const person = identifies && b > 50 && r() < 0.25 ? b - 1 - Math.floor(r() * 50) : b
  const sessions = 1 + (r() < 0.3 ? 1 : 0) + (r() < 0.1 ? 1 : 0)
  const identifyAt = identifies ? Math.floor(r() * sessions) : -1
  let userId = null
  for (let s = 0; s < sessions; s++) {
    const sessionId = `${anonymousId}-s${s}`
    const campaign = r() < 0.3 ? pick(r, CAMPAIGNS) : null
    const referrer = campaign ? '' : pick(r, REFERRERS)
    const landing = pick(r, PAGES)
    const search = campaign ? `?utm_source=${campaign.source}&utm_medium=${campaign.medium}&utm_campaign=${campaign.name}` : ''
    const touch = campaign ? { ...campaign, landing } : referrer ? { referrer, landing } : undefined
    const pages = 1 + Math.floor(r() * 3)
    for (let p = 0; p < pages; p++) {
      const path = p === 0 ? landing : pick(r, PAGES)
      const url = `https://site.example${path}${p === 0 ? search : ''}`
      const context = {
        library: { name: 'waymark', version: '0.1.0' },
        page: { url, path, title: `Page ${path}`, referrer: p === 0 ? referrer : `https://site.example${landing}` },
        ...(touch && { campaign: touch }),
        sessionId,
        userAgent: phone ? UA_PHONE : UA,
        locale: 'en-GB',
        timezone: 'Europe/London',
        screen: phone ? { width: 390, height: 844 } : { width: 1440, height: 900 },
      }
      const base = () => ({ messageId: id(), anonymousId, ...(userId && { userId }), timestamp: new Date((t += 1_000 + Math.floor(r() * 20_000))).toISOString(), context })
      events.push({ type: 'page', name: `Page ${path}`, properties: { path, url, title: `Page ${path}`, referrer: context.page.referrer, search: p === 0 ? search : '' }, ...base() })
      if (s === 0 && p === 0) {
        const from = sharedBy(seed, b)
        if (from !== null) events[events.length - 1].context = { ...context, referrer: { type: 'share', id: `t${seed}x${from}` } }
        if (sharer(seed, b)) events.push({ type: 'track', event: 'Content Shared', properties: { name: CONTENT[b % CONTENT.length], network: NETWORKS[b % NETWORKS.length], token: `t${seed}x${b}` }, ...base0() })
      }
      if (r() < 0.5) {
        const name = pick(r, CONTENT)
        events.push({ type: 'track', event: 'Content Impression', properties: { name, piece: 'card', target: '/blog' }, ...base() })
        if (r() < 0.3) events.push({ type: 'track', event: 'Content Clicked', properties: { name, piece: 'card', target: '/blog' }, ...base() })
      }
      if (r() < 0.4) events.push({ type: 'track', event: 'Scroll Depth', properties: { percent: pick(r, [25, 50, 75, 90]), url }, ...base() })
      if (r() < 0.5) events.push({ type: 'track', event: 'Page Engaged', properties: { engagedSeconds: 5 + Math.floor(r() * 120), url }, ...base() })
      if (r() < 0.05) events.push({ type: 'track', event: 'File Downloaded', properties: { url: 'https://site.example/files/whitepaper-identity.pdf' }, ...base() })
    }
    if (s === identifyAt) {
      const email = `person-${seed}-${person}@example.com`
      events.push({ type: 'track', event: 'Form Submitted', properties: { name: 'newsletter', id: 'newsletter', fields: ['email'] }, ...base0() })
      events.push({ type: 'identify', traits: { email, plan: r() < 0.5 ? 'free' : 'trial' }, ...base0() })
      userId = r() < 0.5 ? `user-${seed}-${person}` : null
      if (userId) events.push({ type: 'identify', userId, traits: { email }, ...base0() })
      const orders = r() < 0.15 ? (r() < 0.2 ? 2 : 1) : 0
      for (let o = 0; o < orders; o++) {
        events.push({ type: 'track', event: 'Order Completed', properties: { orderId: `o-${seed}-${b}-${o}`, revenue: 20 + Math.floor(r() * 400), currency: 'EUR' }, ...base0() })
      }
    }
    t += DAY * Math.floor(1 + r() * 10)
    if (t > now) t = now - 60_000
  }
  return events

  function base0() {
    const last = events[events.length - 1]
    return { messageId: id(), anonymousId, ...(userId && { userId }), timestamp: new Date((t += 2_000)).toISOString(), context: last.context }
  }
}

/**
 * Batches of at most `size` events, browser after browser from `from`, until `count` events are
 * made (the last browser is cut there): what a site's many browsers send, in order per browser.
 */
export function* batches(seed, from, count, size, now) {
  let made = 0
  let b = from
  let batch = []
  while (made < count) {
    for (const e of browserEvents(seed, b++, now)) {
      batch.push(e)
      if (++made === count) break
      if (batch.length === size) (yield { batch, nextBrowser: b }), (batch = [])
    }
  }
  if (batch.length) yield { batch, nextBrowser: b }
}
