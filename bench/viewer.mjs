#!/usr/bin/env node
// Viewer and journey benchmark. Run after `npm run build`:
//   node --expose-gc bench/viewer.mjs  # SQLite, and PostgreSQL when it answers
// Env: WAYMARK_BENCH_ONLY (sqlite|postgres), WAYMARK_BENCH_PG_URL (default
// postgres://postgres@127.0.0.1:5432/postgres, used to create and drop a scratch database),
// WAYMARK_BENCH_PEOPLE (default 10000).
// Writes bench/results/viewer.json and prints a table.
//
// What is measured, on 127.0.0.1, against the built collector (in this process):
// - journey/segment queries over 10,000 people (~110,000 events): GET /api/journey,
//   /api/segments, /api/profiles?segment=…, /api/profiles?stage=…&sort=lastSeen — each 100
//   times "warm" (nothing changed since the last read) and 30 times "after a write" (one new
//   event arrives before each read, so stages, scores and segments are evaluated again);
// - the first read after start (the index folds every stored event once);
// - the Person page's first render in Chromium for a person with 10,000 events: from the
//   route change to the identity, journey facts and the first timeline page (200 events)
//   painted, API calls included; 30 runs;
// - the Journey page's render in Chromium: to the funnel shown and to every table and chart
//   filled in (bench/lib/journey-render.mjs); 15 runs.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, cpus } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { launchChromium } from '../tests/browser/harness.mjs'
import { journeyRender } from './lib/journey-render.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
for (const f of ['collector/dist/server.js', 'collector/dist/ui/viewer.js']) {
  if (!existsSync(join(ROOT, f))) throw new Error(`missing ${f}: run \`npm run build\` first`)
}
const { startCollector, loadConfig } = await import(join(ROOT, 'collector', 'dist', 'server.js'))
const PG_ADMIN_URL = process.env.WAYMARK_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const PEOPLE = Number(process.env.WAYMARK_BENCH_PEOPLE ?? 10_000)
const WRITE_KEY = 'wk_bench'
const ADMIN = 'adm_bench_viewer'
const AUTH = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`
const DAY = 86_400_000
const NOW = Date.now()

// Deterministic pseudo-random numbers, so every run seeds the same shapes.
let rnd = 42
const rand = () => ((rnd = (rnd * 1103515245 + 12345) % 2147483648) / 2147483648)
const pick = (list) => list[Math.floor(rand() * list.length)]
let seq = 0
const messageId = () => `${randomBytes(5).toString('hex')}-${(seq++).toString(36)}`

const CHANNELS = [
  { channel: 'direct' },
  { channel: 'email', source: 'newsletter', medium: 'email' },
  { channel: 'paid search', source: 'google', medium: 'cpc' },
  { channel: 'organic search', source: 'google' },
  { channel: 'social', source: 'linkedin' },
]
const PATHS = ['/', '/pricing', '/blog/stitching', '/blog/sessions', '/docs', '/features', '/about']
const CONTENT = ['Home hero', 'Feature grid', 'Whitepaper', 'Related post', 'Newsletter']

function personEvents(i, count, { identify = rand() < 0.4, devices = 1 } = {}) {
  const events = []
  const campaign = pick(CHANNELS)
  const start = NOW - Math.floor(rand() * 30 * DAY)
  const email = `person-${i}@bench.example`
  const anon = (d) => `bench-${i}-${d}`
  const idAt = Math.floor(count * 0.6)
  for (let k = 0; k < count; k++) {
    const t = new Date(start + k * 20_000).toISOString()
    const anonymousId = anon(k % devices)
    const path = pick(PATHS)
    const context = { sessionId: `s-${i}-${Math.floor(k / 25)}`, campaign, page: { path, url: `https://shop.example${path}`, title: `Page ${path}` } }
    const r = rand()
    let e
    if (identify && (k === idAt || (devices > 1 && k === idAt + 1))) e = { type: 'identify', traits: { email, name: `Person ${i}` } }
    else if (r < 0.5) e = { type: 'page', name: `Page ${path}`, properties: { path, url: context.page.url, title: context.page.title } }
    else if (r < 0.7) e = { type: 'track', event: 'Content Impression', properties: { name: pick(CONTENT) } }
    else if (r < 0.8) e = { type: 'track', event: 'Content Clicked', properties: { name: pick(CONTENT) } }
    else if (r < 0.9) e = { type: 'track', event: 'Page Engaged', properties: { engagedSeconds: 12 } }
    else if (r < 0.95) e = { type: 'track', event: 'File Downloaded', properties: { url: 'https://shop.example/files/whitepaper.pdf' } }
    else e = { type: 'track', event: 'Form Submitted', properties: { name: 'newsletter', fields: ['email'] } }
    events.push({ ...e, messageId: messageId(), anonymousId, timestamp: t, context })
  }
  if (identify && rand() < 0.15) events.push({ type: 'track', event: rand() < 0.1 ? 'Referral Sent' : 'Order Completed', messageId: messageId(), anonymousId: anon(0), timestamp: new Date(start + count * 20_000).toISOString(), context: { campaign } })
  return events
}

async function send(url, batch) {
  for (let i = 0; i < batch.length; i += 1000) {
    const res = await fetch(`${url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: AUTH },
      body: JSON.stringify({ batch: batch.slice(i, i + 1000), sentAt: new Date().toISOString() }),
    })
    if (res.status !== 200) throw new Error(`seed: HTTP ${res.status} ${await res.text()}`)
  }
}

async function get(url, path) {
  const t = performance.now()
  const res = await fetch(url + path, { headers: { authorization: `Bearer ${ADMIN}` } })
  const body = await res.json()
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${JSON.stringify(body)}`)
  return { ms: performance.now() - t, body }
}

const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}
const r1 = (x) => Math.round(x * 10) / 10

async function backend(name) {
  let database
  let cleanup = async () => {}
  if (name === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'waymark-bench-viewer-'))
    database = { kind: 'sqlite', file: join(dir, 'waymark.db') }
    cleanup = async () => rmSync(dir, { recursive: true, force: true })
  } else {
    const db = `waymark_bench_viewer_${randomBytes(4).toString('hex')}`
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${db}`)
    await admin.end()
    const u = new URL(PG_ADMIN_URL)
    u.pathname = `/${db}`
    database = { kind: 'postgres', url: u.toString(), poolSize: 10 }
    cleanup = async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL })
      await c.connect()
      await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)
      await c.end()
    }
  }
  const config = { ...loadConfig(['--port', '0'], { WAYMARK_WRITE_KEYS: WRITE_KEY, WAYMARK_ADMIN_TOKEN: ADMIN, WAYMARK_LOG_LEVEL: 'silent', WAYMARK_RATE_LIMIT: '1000000', WAYMARK_RATE_LIMIT_CLIENT: '1000000' }), database }
  let collector = await startCollector(config)
  const result = { backend: name, people: PEOPLE }
  try {
    // Seed: PEOPLE people, 3–17 events each, 40 % identified; one heavy person with 10,000 events on 2 devices.
    let events = 0
    let chunk = []
    for (let i = 0; i < PEOPLE; i++) {
      chunk.push(...personEvents(i, 3 + Math.floor(rand() * 15)))
      if (chunk.length >= 5000) {
        events += chunk.length
        await send(collector.url, chunk)
        chunk = []
      }
    }
    const heavy = personEvents('heavy', 10_000, { identify: true, devices: 2 })
    chunk.push(...heavy)
    events += chunk.length
    await send(collector.url, chunk)
    result.events = events
    console.log(`${name}: seeded ${PEOPLE.toLocaleString()} people + 1 heavy person, ${events.toLocaleString()} events`)

    // Restart so the first read pays the full fold, as after a deploy.
    await collector.close()
    collector = await startCollector(config)
    // Heap held by the journey index: measured around the first read (exact with --expose-gc).
    globalThis.gc?.()
    const heapBefore = process.memoryUsage().heapUsed
    result.firstReadMs = r1((await get(collector.url, '/api/journey')).ms)
    globalThis.gc?.()
    result.indexHeapMB = r1((process.memoryUsage().heapUsed - heapBefore) / 1e6)
    result.heapMeasuredAfterGc = typeof globalThis.gc === 'function'

    const queries = {
      journey: '/api/journey',
      segments: '/api/segments',
      segmentMembers: '/api/profiles?segment=pricing-twice-7d&limit=50',
      stageByLastSeen: '/api/profiles?stage=engaged&sort=lastSeen&limit=50',
      campaigns: '/api/journey/campaigns?touch=last',
      trends: '/api/journey/trends',
    }
    result.queries = {}
    for (const [label, path] of Object.entries(queries)) {
      const warm = []
      for (let i = 0; i < 100; i++) warm.push((await get(collector.url, path)).ms)
      const afterWrite = []
      for (let i = 0; i < 30; i++) {
        await send(collector.url, [{ type: 'page', messageId: messageId(), anonymousId: `bench-${i % PEOPLE}-0`, timestamp: new Date().toISOString(), properties: { path: '/pricing' } }])
        afterWrite.push((await get(collector.url, path)).ms)
      }
      result.queries[label] = { warmP50: r1(q(warm, 50)), warmP95: r1(q(warm, 95)), afterWriteP50: r1(q(afterWrite, 50)), afterWriteP95: r1(q(afterWrite, 95)) }
    }

    // Person page first render in Chromium.
    const person = (await get(collector.url, '/api/lookup?email=person-heavy@bench.example')).body.profile
    result.heavyPersonEvents = person.eventCount
    // The two API calls the Person page makes first, for the same person.
    const api = { detail: [], timeline: [] }
    for (let i = 0; i < 30; i++) {
      api.detail.push((await get(collector.url, `/api/profiles/${person.id}`)).ms)
      api.timeline.push((await get(collector.url, `/api/profiles/${person.id}/timeline?limit=200&order=asc`)).ms)
    }
    result.personApi = { detailP50: r1(q(api.detail, 50)), detailP95: r1(q(api.detail, 95)), timelineP50: r1(q(api.timeline, 50)), timelineP95: r1(q(api.timeline, 95)) }
    const browser = await launchChromium()
    try {
      const context = await browser.newContext({ viewport: { width: 1100, height: 900 } })
      await context.addInitScript((token) => sessionStorage.setItem('waymark.adminToken', token), ADMIN)
      const page = await context.newPage()
      await page.goto(`${collector.url}/ui#/people`)
      await page.waitForSelector('h2#people-title')
      const runs = []
      for (let i = 0; i < 30; i++) {
        const ms = await page.evaluate(
          (id) =>
            new Promise((resolve, reject) => {
              const t0 = performance.now()
              location.hash = `#/person/${encodeURIComponent(id)}?run=${Math.random()}`
              const check = () => {
                // the first 200 events shown (scroll depth and engaged time fold into their page view's row)
                if (document.querySelector('h2#person-title') && /^200 of /.test(document.querySelector('.person p[aria-live]')?.textContent ?? '')) {
                  // Next frame: the DOM is laid out and painted.
                  requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0), 0))
                } else if (performance.now() - t0 > 10_000) reject(new Error('person page did not render'))
                else requestAnimationFrame(check)
              }
              check()
            }),
          person.id,
        )
        runs.push(ms)
        await page.evaluate(() => (location.hash = '#/journey'))
        await page.waitForSelector('h2#journey-title')
      }
      result.personFirstRender = { runs: runs.length, p50: r1(q(runs, 50)), p95: r1(q(runs, 95)), max: r1(Math.max(...runs)) }
    } finally {
      await browser.close()
    }
    result.journeyPage = await journeyRender(launchChromium, collector.url, ADMIN)
  } finally {
    await collector.close()
    await cleanup()
  }
  return result
}

async function pgAnswers() {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 })
  try {
    await c.connect()
    return true
  } catch {
    return false
  } finally {
    await c.end().catch(() => {})
  }
}

const only = process.env.WAYMARK_BENCH_ONLY
const backends = []
if (!only || only === 'sqlite') backends.push('sqlite')
if ((!only || only === 'postgres') && (await pgAnswers())) backends.push('postgres')
else if (only === 'postgres') throw new Error(`PostgreSQL does not answer at ${PG_ADMIN_URL}`)

const results = []
for (const b of backends) results.push(await backend(b))

console.log(`\nViewer/journey bench — ${cpus().length} CPUs, Node ${process.version}, ${new Date().toISOString()}`)
console.log('| backend | query | warm p50 / p95 (ms) | after a write p50 / p95 (ms) |')
console.log('|---|---|---|---|')
for (const r of results) {
  for (const [label, m] of Object.entries(r.queries)) console.log(`| ${r.backend} | ${label} | ${m.warmP50} / ${m.warmP95} | ${m.afterWriteP50} / ${m.afterWriteP95} |`)
}
console.log('\n| backend | people | events | first read after start (ms) | index heap (MB) | Person page first render, 10,000 events: p50 / p95 / max (ms) |')
console.log('|---|---|---|---|---|---|')
for (const r of results) console.log(`| ${r.backend} | ${r.people} | ${r.events} | ${r.firstReadMs} | ${r.indexHeapMB}${r.heapMeasuredAfterGc ? '' : ' (no --expose-gc: rough)'} | ${r.personFirstRender.p50} / ${r.personFirstRender.p95} / ${r.personFirstRender.max} |`)
console.log('\n| backend | Journey page: funnel shown p50 / p95 (ms) | every section filled p50 / p95 / max (ms) |')
console.log('|---|---|---|')
for (const r of results) console.log(`| ${r.backend} | ${r.journeyPage.funnel.p50} / ${r.journeyPage.funnel.p95} | ${r.journeyPage.complete.p50} / ${r.journeyPage.complete.p95} / ${r.journeyPage.complete.max} |`)
console.log('\n| backend | Person API: /api/profiles/:id p50 / p95 (ms) | timeline, 200 events p50 / p95 (ms) |')
console.log('|---|---|---|')
for (const r of results) console.log(`| ${r.backend} | ${r.personApi.detailP50} / ${r.personApi.detailP95} | ${r.personApi.timelineP50} / ${r.personApi.timelineP95} |`)
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true })
writeFileSync(join(ROOT, 'bench', 'results', 'viewer.json'), JSON.stringify({ at: new Date().toISOString(), cpus: cpus().length, node: process.version, results }, null, 2))
