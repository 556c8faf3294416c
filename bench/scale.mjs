#!/usr/bin/env node
// Journey analytics at scale. Run after `npm run build`:
//   node bench/scale.mjs                     # SQLite 100k, 1M, 5M; PostgreSQL 100k, 1M, 10M
//   node bench/scale.mjs 100000 1000000      # these sizes on both databases
// Env: WAYMARK_BENCH_ONLY (sqlite|postgres), WAYMARK_BENCH_PG_URL (admin URL, default
// postgres://postgres@127.0.0.1:5432/postgres: a scratch database is created and dropped),
// WAYMARK_BENCH_LIVE_SECONDS (each live phase, default 15), WAYMARK_BENCH_SEED (default 1).
// Writes bench/results/scale.json and prints a table; bench/README.md says how to read it.
//
// For each size (one database grown from size to size): events are sent over HTTP by 8
// connections in batches of 100 (bench/lib/traffic.mjs, seeded); the journey worker is waited
// for; the collector is restarted and the first /api/journey timed; then warm reads (p50/p95 of
// 40 each: the people lists, a person, the funnel and each marketing table), the Journey page's
// render in Chromium (every section filled in), RSS, database size; then live traffic of 2,000 events/s (identifies included) with
// no reads, and the same with the reads running, to see what reads cost ingest and the reverse.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { launchChromium } from '../tests/browser/harness.mjs'
import { journeyRender } from './lib/journey-render.mjs'
import { pgAnswers } from './lib/pg.mjs'
import { benchClient, pct, round, sleep, startCollectorChild } from './lib/run.mjs'
import { batches } from './lib/traffic.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const CLI = join(ROOT, 'collector', 'dist', 'cli.js')
const PG_ADMIN_URL = process.env.WAYMARK_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const LIVE_SECONDS = Number(process.env.WAYMARK_BENCH_LIVE_SECONDS ?? 15)
const SEED = Number(process.env.WAYMARK_BENCH_SEED ?? 1)
const LIVE_RATE = 2_000
const CONNECTIONS = 8
const BATCH = 100
const READS_EACH = 40
const WRITE_KEY = 'wk_scale'
const ADMIN = 'adm_scale'
const argSizes = process.argv.slice(2).map(Number).filter((n) => n > 0)
const SIZES = { sqlite: argSizes.length ? argSizes : [100_000, 1_000_000, 5_000_000], postgres: argSizes.length ? argSizes : [100_000, 1_000_000, 10_000_000] }

const startCollector = (database) => startCollectorChild(CLI, { WAYMARK_DATABASE_URL: database, WAYMARK_WRITE_KEYS: WRITE_KEY, WAYMARK_ADMIN_TOKEN: ADMIN })

/** Resident and peak memory of the collector process (MB), from /proc. */
function memoryMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
  return { rss: round(kb('VmRSS') / 1024), peak: round(kb('VmHWM') / 1024) }
}

/** Answers other than 200, by status: the SDK retries a 503 or 429 later, so the bench does too and counts them. */
const refused = new Map()
const { send, api } = benchClient({ writeKey: WRITE_KEY, admin: ADMIN, refused })

/** Sends `count` events from browser `from` on, as fast as CONNECTIONS connections go. */
async function load(url, from, count) {
  const gen = batches(SEED, from, count, BATCH, Date.now())
  let next = from
  let sent = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      for (let item = gen.next(); !item.done; item = gen.next()) {
        next = item.value.nextBrowser
        await send(url, item.value.batch)
        sent += item.value.batch.length
      }
    }),
  )
  return { nextBrowser: next, eventsPerSecond: sent / ((performance.now() - t0) / 1000) }
}

/** Waits until the journey worker has read every stored event; returns the seconds it took. */
async function caughtUp(url) {
  const t0 = performance.now()
  for (;;) {
    const { status } = await api(url, '/api/journey')
    if (status.readTo >= status.lastEventId && status.backfills.length === 0 && status.stale === 0) return (performance.now() - t0) / 1000
    await sleep(1_000)
  }
}

/** The reads a marketer's pages make, with ids taken from the data. */
async function readSet(url) {
  const list = await api(url, '/api/profiles?limit=25&identified=true')
  const known = list.profiles[0] ?? (await api(url, '/api/profiles?limit=1')).profiles[0]
  const person = known.id
  // A marketer searches for someone they know: a whole email (or its start), not a common prefix.
  const term = known.email ?? person
  // As the viewer asks for "last 30 days": whole UTC days.
  const last30 = new Date((Math.floor(Date.now() / 86_400_000) - 29) * 86_400_000).toISOString()
  return {
    journey: () => api(url, '/api/journey'),
    profiles: () => api(url, '/api/profiles?limit=25'),
    'profiles?stage=known': () => api(url, '/api/profiles?limit=25&stage=known'),
    'profiles?segment=pricing-twice-7d': () => api(url, '/api/profiles?limit=25&segment=pricing-twice-7d'),
    'profiles/search': () => api(url, '/api/profiles/search', { method: 'POST', body: JSON.stringify({ q: term, limit: 25 }) }),
    profile: () => api(url, `/api/profiles/${encodeURIComponent(person)}`),
    timeline: () => api(url, `/api/profiles/${encodeURIComponent(person)}/timeline?limit=50`),
    'timeline?kinds=form,identity': () => api(url, `/api/profiles/${encodeURIComponent(person)}/timeline?limit=50&kinds=form,identity`),
    'journey/shares': () => api(url, '/api/journey/shares'),
    'segments/known/profiles': () => api(url, '/api/segments/known/profiles?limit=25'),
    // The Journey page's marketing tables: all time, and the last 30 days (a range of daily sums).
    'journey/campaigns': () => api(url, '/api/journey/campaigns'),
    'journey/campaigns?touch=last&30d': () => api(url, `/api/journey/campaigns?touch=last&from=${last30}`),
    'journey/ctas?segment=known': () => api(url, '/api/journey/ctas?segment=known'),
    'journey/score': () => api(url, '/api/journey/score'),
    'journey/revenue': () => api(url, '/api/journey/revenue'),
    'journey/revenue?30d': () => api(url, `/api/journey/revenue?from=${last30}`),
    'journey/trends': () => api(url, '/api/journey/trends'),
    'journey/trends?30d&week': () => api(url, `/api/journey/trends?interval=week&from=${last30}`),
  }
}

async function timeReads(reads, rounds = READS_EACH, until = null) {
  const times = Object.fromEntries(Object.keys(reads).map((k) => [k, []]))
  for (let i = 0; i < rounds || (until && performance.now() < until); i++) {
    if (until && performance.now() >= until) break
    for (const [name, read] of Object.entries(reads)) {
      const t0 = performance.now()
      await read()
      times[name].push(performance.now() - t0)
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, xs]) => [k, { p50: round(pct(xs, 50)), p95: round(pct(xs, 95)), n: xs.length }]))
}

/** LIVE_RATE events/s for `seconds` (batches of 100 every 50 ms); returns the rate reached. */
async function live(url, from, seconds) {
  const gen = batches(SEED + 1_000, from, LIVE_RATE * seconds, BATCH, Date.now())
  const t0 = performance.now()
  let sent = 0
  let next = from
  const inflight = new Set()
  for (let item = gen.next(); !item.done; item = gen.next()) {
    const due = t0 + (sent / LIVE_RATE) * 1000
    if (due > performance.now()) await sleep(due - performance.now())
    next = item.value.nextBrowser
    const n = item.value.batch.length
    const p = send(url, item.value.batch).then(() => (inflight.delete(p), n))
    inflight.add(p)
    sent += n
    if (inflight.size >= 16) await Promise.race(inflight)
  }
  await Promise.all(inflight)
  return { nextBrowser: next, eventsPerSecond: round(sent / ((performance.now() - t0) / 1000), 0) }
}

async function scratchDatabase(kind) {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'waymark-scale-'))
    const file = join(dir, 'scale.db')
    const size = () => ['', '-wal'].reduce((n, s) => n + (statSync(file + s, { throwIfNoEntry: false })?.size ?? 0), 0)
    return { url: file, size: async () => size(), drop: async () => rmSync(dir, { recursive: true, force: true }) }
  }
  const name = `waymark_scale_${process.pid}`
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
  await admin.connect()
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  await admin.query(`CREATE DATABASE ${name}`)
  const url = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`)
  return {
    url,
    size: async () => Number((await admin.query('SELECT pg_database_size($1) AS n', [name])).rows[0].n),
    drop: async () => (await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`), admin.end()),
  }
}

async function benchBackend(kind) {
  const db = await scratchDatabase(kind)
  const rows = []
  let nextBrowser = 0
  let stored = 0
  let liveBrowser = 0
  try {
    for (const size of SIZES[kind]) {
      let c = await startCollector(db.url)
      const t0 = performance.now()
      const loaded = await load(c.url, nextBrowser, size - stored)
      nextBrowser = loaded.nextBrowser
      stored = size
      const catchUp = await caughtUp(c.url)
      const loadSeconds = (performance.now() - t0) / 1000
      await c.stop()

      c = await startCollector(db.url)
      const f0 = performance.now()
      const first = await api(c.url, '/api/journey')
      const firstRead = performance.now() - f0
      const reads = await readSet(c.url)
      await timeReads(reads, 3)
      const warm = await timeReads(reads)
      const render = await journeyRender(launchChromium, c.url, ADMIN)
      const memory = memoryMb(c.pid)

      const quiet = await live(c.url, liveBrowser, LIVE_SECONDS)
      liveBrowser = quiet.nextBrowser
      const until = performance.now() + LIVE_SECONDS * 1000
      const [busy, underLoad] = await Promise.all([live(c.url, liveBrowser, LIVE_SECONDS), timeReads(reads, 0, until)])
      liveBrowser = busy.nextBrowser
      const memoryAfter = memoryMb(c.pid)
      await c.stop()

      const row = {
        size,
        people: first.people,
        ingestEventsPerSecond: round(loaded.eventsPerSecond, 0),
        journeyCatchUpSeconds: round(catchUp),
        loadSeconds: round(loadSeconds),
        databaseMb: round((await db.size()) / 1e6),
        startMs: round(c.startMs),
        firstJourneyMs: round(firstRead),
        journeyPage: render,
        rssMb: memory.rss,
        peakRssMb: Math.max(memory.peak, memoryAfter.peak),
        warm,
        live: { quietEventsPerSecond: quiet.eventsPerSecond, withReadsEventsPerSecond: busy.eventsPerSecond, ratio: round(busy.eventsPerSecond / quiet.eventsPerSecond, 2), reads: underLoad },
        load1: round(loadavg()[0], 2),
        refused: Object.fromEntries(refused),
      }
      refused.clear()
      rows.push(row)
      print(kind, row)
    }
  } finally {
    await db.drop()
  }
  return { backend: kind, sizes: rows, growth: growth(rows) }
}

/** Each figure's factor from one size to the next (1.0: cost does not grow with data). */
function growth(rows) {
  const out = []
  for (let i = 1; i < rows.length; i++) {
    const [a, b] = [rows[i - 1], rows[i]]
    const f = (x, y) => (x > 0 ? round(y / x, 2) : null)
    out.push({
      from: a.size,
      to: b.size,
      firstJourneyMs: f(a.firstJourneyMs, b.firstJourneyMs),
      journeyPageP95: f(a.journeyPage.complete.p95, b.journeyPage.complete.p95),
      rssMb: f(a.rssMb, b.rssMb),
      warmP95: Object.fromEntries(Object.keys(b.warm).map((k) => [k, f(a.warm[k].p95, b.warm[k].p95)])),
    })
  }
  return out
}

function print(kind, r) {
  console.log(`\n${kind} ${r.size.toLocaleString('en')} events (${r.people.toLocaleString('en')} people), load1 ${r.load1}`)
  console.log(
    `  ingest ${r.ingestEventsPerSecond} ev/s, journey caught up ${r.journeyCatchUpSeconds} s after the load, database ${r.databaseMb} MB; restart: listening ${r.startMs} ms, first /api/journey ${r.firstJourneyMs} ms; RSS ${r.rssMb} MB (peak ${r.peakRssMb})`,
  )
  const jp = r.journeyPage
  console.log(`  Journey page in Chromium (${jp.runs} runs): funnel shown p50 ${jp.funnel.p50} p95 ${jp.funnel.p95} ms; every section filled p50 ${jp.complete.p50} p95 ${jp.complete.p95} max ${jp.complete.max} ms (first ${jp.firstMs} ms)`)
  for (const [name, w] of Object.entries(r.warm)) {
    const l = r.live.reads[name]
    console.log(`  ${name.padEnd(36)} warm p50 ${String(w.p50).padStart(6)} p95 ${String(w.p95).padStart(6)} ms   live p50 ${String(l?.p50).padStart(6)} p95 ${String(l?.p95).padStart(6)} ms`)
  }
  if (Object.keys(r.refused).length) console.log(`  answers other than 200 (retried): ${JSON.stringify(r.refused)}`)
  console.log(`  live ${LIVE_RATE}/s asked: ${r.live.quietEventsPerSecond} ev/s without reads, ${r.live.withReadsEventsPerSecond} with (${r.live.ratio}×)`)
}


const results = { date: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model, seed: SEED, backends: [] }
const ONLY = process.env.WAYMARK_BENCH_ONLY
if (ONLY !== 'postgres') results.backends.push(await benchBackend('sqlite'))
if (ONLY !== 'sqlite') {
  if (await pgAnswers(PG_ADMIN_URL)) results.backends.push(await benchBackend('postgres'))
  else console.log('PostgreSQL does not answer: skipped')
}
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true })
writeFileSync(join(ROOT, 'bench', 'results', 'scale.json'), `${JSON.stringify(results, null, 2)}\n`)
