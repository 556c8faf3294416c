#!/usr/bin/env node
// Collector benchmark. Run after `npm run build -w collector`:
//   node bench/collector.mjs            # SQLite, and PostgreSQL when it answers
// Env: WAYMARK_BENCH_ONLY (sqlite|postgres), WAYMARK_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres, used to
// create and drop a scratch database), WAYMARK_BENCH_SECONDS (per ingest run, default 8),
// WAYMARK_BENCH_CONNECTIONS (concurrent autocannon connections, default 32), WAYMARK_BENCH_DIST
// (the collector build to measure, default collector/dist: A/B runs against a saved copy).
// Writes bench/results/collector.json and prints a table.
//
// What is measured, all on 127.0.0.1:
// - ingest: events/s stored by a collector child process under autocannon, batches of 20 and
//   100 (each request a new batch of unique messageIds from one of 1,000 browsers);
// - floor: the same rows (built by the collector's own normalize code) inserted straight into
//   the same tables of the same database in the same run, in transactions of the batch size,
//   with the plain fast method (one prepared statement on one connection with the collector's
//   settings on SQLite; multi-row INSERT over 4 connections on PostgreSQL). It writes events
//   only: no identity lookup, no statistics. The collector can beat it: it commits the requests
//   in flight together (up to 8 × batch here), and on SQLite it parses on one core while its
//   writer thread inserts on the other;
// - database alone: the floor's rows and method in transactions of 2,000 (the collector's
//   largest commit): the ceiling of any ingest figure, so a target above it is a target for
//   the machine;
// - CPU µs/event: CPU time of the collector process (all threads; Linux /proc) during an ingest
//   run ÷ events stored. On a machine shared with other work it varies far less than events/s.
// - realistic traffic: the scale benchmark's seeded site traffic (bench/lib/traffic.mjs: page
//   context, two user agents, campaigns, sessions, content and form events, 20% of browsers
//   identifying, orders), a fixed count sent in batches of 100 over 8 connections as fast as
//   answered, then the flat `segment` shape the same way: events/s, batch latency
//   p50/p95/p99/max, CPU µs/event, the rate of the last tenth ÷ the first, deadlocks counted by
//   PostgreSQL, and the ratio to "database alone" for the same rows;
// - timeline: first-page latency (50 events) for a person with 10,000 events;
// - merge: identify latency when the anonymous history holds 10 vs 100,000 events.
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import Database from 'better-sqlite3'
import pg from 'pg'
import { pgAnswers } from './lib/pg.mjs'
import { scratchDatabase, startCollectorChild } from './lib/run.mjs'
import { batches } from './lib/traffic.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const DIST = resolve(ROOT, process.env.WAYMARK_BENCH_DIST ?? join('collector', 'dist'))
const CLI = join(DIST, 'cli.js')
const { prepareEvent } = await import(join(DIST, 'ingest', 'normalize.js'))
const { validateEvent } = await import(join(DIST, 'ingest', 'validate.js'))
const { SQLITE_PRAGMAS } = await import(join(DIST, 'db', 'connect.js'))
const PG_ADMIN_URL = process.env.WAYMARK_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const SECONDS = Number(process.env.WAYMARK_BENCH_SECONDS ?? 8)
// Browsers send independently of each other's answers; 32 connections, each with one batch in
// flight, stand for that many browsers sending at once. With 8, throughput is bounded by
// 8 ÷ request latency rather than by the collector (README: both figures).
const CONNECTIONS = Number(process.env.WAYMARK_BENCH_CONNECTIONS ?? 32)
// Realistic runs: events per run (WAYMARK_BENCH_REALISTIC_EVENTS), 8 connections, batches of 100.
const REALISTIC_EVENTS = Number(process.env.WAYMARK_BENCH_REALISTIC_EVENTS ?? 100_000)
const REALISTIC_CONNECTIONS = 8
const SEED = 7
/**
 * The "database alone" figure: the floor's rows and method in transactions this large, the
 * collector's own upper bound per commit (GroupCommit maxEvents). Its writer inserts the same
 * way and commits no more at once, so no ingest figure can stay above this one.
 */
const CEILING_ROWS = 2000
const WRITE_KEY = 'wk_bench'
const ADMIN = 'adm_bench'
const AUTH = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`
const UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
const BROWSERS = Array.from({ length: 1000 }, (_, i) => `bench-anon-${i}`)

let seq = 0
const messageId = () => `${randomBytes(6).toString('hex')}-${(seq++).toString(36)}`

/**
 * Two event shapes: `segment`, a page-context event as Segment's libraries send it; `sdk`, the
 * same with the last touch in `context.campaign`, as the Waymark script tag sends every event
 * (the collector then derives its channel, and stores a larger context).
 */
const SHAPES = ['segment', 'sdk']

function event(anonymousId, i, shape = 'segment') {
  return {
    type: i % 5 === 0 ? 'page' : 'track',
    event: i % 5 === 0 ? undefined : 'Viewed Product',
    name: i % 5 === 0 ? 'Product' : undefined,
    messageId: messageId(),
    anonymousId,
    timestamp: new Date().toISOString(),
    properties: { sku: `sku-${i % 50}`, price: 49.5, currency: 'EUR', position: i },
    context: {
      library: { name: 'waymark', version: '0.1.0' },
      page: { url: 'https://shop.example/products/42?utm_source=newsletter', path: '/products/42', title: 'Product 42', referrer: 'https://www.google.com/' },
      ...(shape === 'sdk' && { campaign: { source: 'newsletter', referrer: 'https://www.google.com/', landing: '/products/42' } }),
      sessionId: 'sess-1',
      userAgent: UA,
      locale: 'en-GB',
      timezone: 'Europe/London',
      screen: { width: 1440, height: 900 },
    },
  }
}

// The load generator shares the 2 CPUs with the collector, so bodies are built from string
// templates (unique messageIds, same JSON as event() produces) rather than JSON.stringify.
const RUN = randomBytes(4).toString('hex')
const templates = Object.fromEntries(
  SHAPES.map((shape) => [shape, Array.from({ length: 100 }, (_, i) => JSON.stringify(event('__ANON__', i, shape)).split(/"messageId":"[^"]*"/))]),
)
function batchArray(size, anonymousId = BROWSERS[Math.floor(Math.random() * BROWSERS.length)], shape = 'segment') {
  const parts = []
  for (let i = 0; i < size; i++) {
    const [head, tail] = templates[shape][i]
    parts.push(`${head}"messageId":"${RUN}-${(seq++).toString(36)}"${tail}`.replace('__ANON__', anonymousId))
  }
  return `[${parts.join(',')}]`
}
const batchBody = (size, anonymousId, shape) => `{"batch":${batchArray(size, anonymousId, shape)},"sentAt":"${new Date().toISOString()}"}`

const startCollector = (db) => startCollectorChild(CLI, { WAYMARK_DATABASE_URL: db, WAYMARK_WRITE_KEYS: WRITE_KEY, WAYMARK_ADMIN_TOKEN: ADMIN })

/**
 * CPU time (user + system, all threads) the collector process has used, in ms; null off Linux.
 * Per stored event it is robust to a machine shared with other work, unlike events/s.
 */
function cpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10 // clock ticks of 10 ms (USER_HZ 100)
  } catch {
    return null
  }
}

/** Batches sent again after a connection closed under them (as the SDK does: messageIds dedupe). */
let resent = 0

async function post(url, path, body) {
  const send = () => fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: AUTH }, body })
  // A kept-alive socket the server closed while idle fails the next request on it ("other side
  // closed"); the first realistic batch after a long idle phase met one at 1M events.
  const r = await send().catch(async (err) => {
    if (resent++ >= 100) throw err
    return send()
  })
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`)
  return r.json()
}

async function api(url, path) {
  const r = await fetch(url + path, { headers: { authorization: `Bearer ${ADMIN}` } })
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`)
  return r.json()
}

/** Database access for counting rows and for the raw-insert floor. */
function openDirect(kind, target) {
  if (kind === 'sqlite') {
    // The very settings of the collector's connections (collector/src/db/connect.ts); the
    // collector's checkpoint worker, running meanwhile, checkpoints this WAL too.
    const db = new Database(target)
    for (const pragma of SQLITE_PRAGMAS) db.pragma(pragma)
    return {
      count: async () => db.prepare('SELECT count(*) AS n FROM events').get().n,
      deadlocks: async () => null, // one writer: SQLite has none to count
      close: async () => db.close(),
      floor: async (rows, size) => {
        const cols = Object.keys(rows[0])
        const stmt = db.prepare(`INSERT INTO events (${cols.join(',')}) VALUES (${cols.map(() => '?').join(',')}) ON CONFLICT (message_id) DO NOTHING`)
        const insert = db.transaction((chunk) => {
          for (const r of chunk) stmt.run(cols.map((c) => r[c]))
        })
        const t0 = performance.now()
        for (let i = 0; i < rows.length; i += size) insert(rows.slice(i, i + size))
        return rows.length / ((performance.now() - t0) / 1000)
      },
    }
  }
  const pool = new pg.Pool({ connectionString: target, max: 4 })
  return {
    count: async () => Number((await pool.query('SELECT count(*) AS n FROM events')).rows[0].n),
    deadlocks: async () => Number((await pool.query('SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()')).rows[0].deadlocks),
    close: () => pool.end(),
    floor: async (rows, size) => {
      const cols = Object.keys(rows[0])
      const chunks = []
      for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size))
      const t0 = performance.now()
      let next = 0
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < chunks.length) {
            const chunk = chunks[next++]
            const params = []
            const tuples = chunk.map((r) => `(${cols.map((c) => (params.push(r[c]), `$${params.length}`)).join(',')})`)
            await pool.query(`INSERT INTO events (${cols.join(',')}) VALUES ${tuples.join(',')} ON CONFLICT (message_id) DO NOTHING`, params)
          }
        }),
      )
      return rows.length / ((performance.now() - t0) / 1000)
    },
  }
}

/** Rows exactly as the collector stores them, built by its own validate + normalize code. */
function rowsOf(events) {
  const info = { receivedAt: Date.now(), sentAt: Date.now(), source: WRITE_KEY, ip: '127.0.0.1', userAgent: UA, ipPolicy: 'truncate', batchContext: null }
  return events.map((e) => prepareEvent(validateEvent(JSON.parse(JSON.stringify(e)), 32768), e.messageId, info).row)
}

function storedRows(n, size, shape) {
  return rowsOf(Array.from({ length: n }, (_, i) => event(`floor-anon-${Math.floor(i / size) % 1000}`, i % size, shape)))
}

/** The seeded site traffic as request bodies of 100, and the events themselves. */
function realisticBodies(seed, count) {
  const bodies = []
  const events = []
  for (const { batch } of batches(seed, 0, count, 100, Date.now())) {
    bodies.push(JSON.stringify(batch))
    events.push(...batch)
  }
  return { bodies, events }
}

/**
 * Sends prepared batch bodies over `connections` connections, each waiting for its answer
 * before the next, and times each batch; sentAt is stamped as each leaves.
 */
async function sendAll(collector, bodies, direct) {
  const before = await direct.count()
  const cpuBefore = cpuMs(collector.pid)
  const latencies = []
  const doneAt = []
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: REALISTIC_CONNECTIONS }, async () => {
      while (next < bodies.length) {
        const body = `{"sentAt":"${new Date().toISOString()}","batch":${bodies[next++]}}`
        const start = performance.now()
        await post(collector.url, '/v1/batch', body)
        const end = performance.now()
        latencies.push(end - start)
        doneAt.push(end - t0)
      }
    }),
  )
  const seconds = (performance.now() - t0) / 1000
  const cpuAfter = cpuMs(collector.pid)
  const stored = (await direct.count()) - before
  latencies.sort((a, b) => a - b)
  // Batches are all 100 events but the last: the rate of a tenth is its batches ÷ its time.
  const tenth = Math.max(1, Math.floor(doneAt.length / 10))
  const rate = (from, to) => (to - from) / ((doneAt[to - 1] - (from ? doneAt[from - 1] : 0)) / 1000)
  const ms = (x) => +x.toFixed(1)
  return {
    batches: bodies.length,
    storedEvents: stored,
    seconds: +seconds.toFixed(2),
    eventsPerSecond: Math.round(stored / seconds),
    batchMs: { p50: ms(pct(latencies, 50)), p95: ms(pct(latencies, 95)), p99: ms(pct(latencies, 99)), max: ms(latencies[latencies.length - 1]) },
    cpuMicrosPerEvent: cpuBefore === null || cpuAfter === null ? null : +(((cpuAfter - cpuBefore) * 1000) / stored).toFixed(1),
    lastTenthOverFirst: +(rate(doneAt.length - tenth, doneAt.length) / rate(0, tenth)).toFixed(2),
  }
}

/** Realistic traffic, then flat events of the same count, each beside its "database alone" ceiling. */
async function realisticRuns(kind, collector, direct) {
  const out = []
  for (const shape of ['realistic', 'flat']) {
    process.stderr.write(`[${kind}] ${shape} traffic, ${REALISTIC_EVENTS} events in batches of 100 over ${REALISTIC_CONNECTIONS} connections…\n`)
    // A seed per run: the flat run's browsers and messageIds are new too.
    const bodies = shape === 'realistic' ? realisticBodies(SEED, REALISTIC_EVENTS).bodies : Array.from({ length: Math.ceil(REALISTIC_EVENTS / 100) }, () => batchArray(100))
    const deadlocksBefore = await direct.deadlocks()
    const run = await sendAll(collector, bodies, direct)
    const deadlocks = deadlocksBefore === null ? null : (await direct.deadlocks()) - deadlocksBefore
    process.stderr.write(`[${kind}] database alone for the same rows, transactions of ${CEILING_ROWS}…\n`)
    const floorEvents = shape === 'realistic' ? realisticBodies(SEED + 1, REALISTIC_EVENTS).events : null
    const rows = floorEvents ? rowsOf(floorEvents) : storedRows(REALISTIC_EVENTS, 100, 'segment')
    const ceiling = await direct.floor(rows, CEILING_ROWS)
    out.push({ shape, ...run, deadlocks, ceilingEventsPerSecond: Math.round(ceiling), ratioToCeiling: +(run.eventsPerSecond / ceiling).toFixed(2) })
  }
  return out
}

async function ingestRun(collector, size, shape, direct) {
  const { url } = collector
  const before = await direct.count()
  const cpuBefore = cpuMs(collector.pid)
  const result = await autocannon({
    url: `${url}/v1/batch`,
    connections: CONNECTIONS,
    duration: SECONDS,
    requests: [{ method: 'POST', headers: { 'content-type': 'application/json', authorization: AUTH }, setupRequest: (req) => ({ ...req, body: batchBody(size, undefined, shape) }) }],
  })
  const cpuAfter = cpuMs(collector.pid)
  const stored = (await direct.count()) - before
  const seconds = (result.finish - result.start) / 1000 || SECONDS
  const non2xx = result.non2xx + result.errors + result.timeouts
  return {
    shape,
    batchSize: size,
    seconds: +seconds.toFixed(2),
    requests: result.requests.total,
    non2xx,
    storedEvents: stored,
    eventsPerSecond: Math.round(stored / seconds),
    cpuMicrosPerEvent: cpuBefore === null || cpuAfter === null ? null : +(((cpuAfter - cpuBefore) * 1000) / stored).toFixed(1),
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
  }
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

async function timelineRun(url) {
  const person = 'bench-timeline-person'
  for (let i = 0; i < 100; i++) await post(url, '/v1/batch', batchBody(100, person))
  await post(url, '/v1/identify', JSON.stringify({ messageId: messageId(), anonymousId: person, traits: { email: 'timeline@bench.example' } }))
  const { profile } = await api(url, '/api/lookup?email=timeline@bench.example')
  const times = []
  for (let i = 0; i < 220; i++) {
    const t0 = performance.now()
    const page = await api(url, `/api/profiles/${profile.id}/timeline?limit=50`)
    const ms = performance.now() - t0
    if (i >= 20) times.push(ms) // first 20 warm up
    if (page.events.length !== 50) throw new Error('timeline page short')
  }
  times.sort((a, b) => a - b)
  return { personEvents: profile.eventCount, pageSize: 50, samples: times.length, p50Ms: +pct(times, 50).toFixed(2), p95Ms: +pct(times, 95).toFixed(2) }
}

async function mergeRun(url) {
  const histories = { small: { events: 10, people: 5 }, large: { events: 100_000, people: 3 } }
  const out = {}
  for (const [label, { events, people }] of Object.entries(histories)) {
    const ms = []
    for (let p = 0; p < people; p++) {
      const anon = `bench-merge-${label}-${p}-${randomBytes(3).toString('hex')}`
      const size = Math.min(events, 100)
      const requests = events / size
      let sent = 0
      await Promise.all(Array.from({ length: 4 }, async () => {
        while (sent < requests) {
          sent++
          await post(url, '/v1/batch', batchBody(size, anon))
        }
      }))
      await new Promise((r) => setTimeout(r, 300)) // let the ingest burst settle
      const t0 = performance.now()
      await post(url, '/v1/identify', JSON.stringify({ messageId: messageId(), anonymousId: anon, traits: { email: `${anon}@bench.example` } }))
      ms.push(performance.now() - t0)
      const { profile } = await api(url, `/api/lookup?email=${anon}@bench.example`)
      if (profile.eventCount !== events + 1) throw new Error(`merged profile has ${profile.eventCount} events, expected ${events + 1}`)
    }
    ms.sort((a, b) => a - b)
    out[label] = { anonymousEvents: events, people, identifyMs: ms.map((x) => +x.toFixed(2)), medianMs: +pct(ms, 50).toFixed(2) }
  }
  return out
}

async function benchBackend(kind) {
  const scratch = await scratchDatabase(kind, PG_ADMIN_URL)
  const target = scratch.url
  const cleanup = scratch.drop
  const collector = await startCollector(target) // also applies the migrations
  const direct = openDirect(kind, target)
  try {
    // Every browser sends once first: the runs then measure steady-state ingest, not the
    // one-off creation of 1,000 anonymous profiles.
    let b = 0
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (b < BROWSERS.length) await post(collector.url, '/v1/batch', batchBody(1, BROWSERS[b++]))
    }))
    const ingest = []
    for (const shape of SHAPES) {
      for (const size of [20, 100]) {
        process.stderr.write(`[${kind}] ingest, ${shape} events, batches of ${size}, ${SECONDS}s…\n`)
        const run = await ingestRun(collector, size, shape, direct)
        process.stderr.write(`[${kind}] raw insert floor, ${shape} events, batches of ${size}…\n`)
        const rows = storedRows(kind === 'sqlite' ? 200_000 : 100_000, size, shape)
        const floor = await direct.floor(rows, size)
        process.stderr.write(`[${kind}] database alone, ${shape} events, transactions of ${CEILING_ROWS}…\n`)
        const ceiling = await direct.floor(rows, CEILING_ROWS)
        ingest.push({
          ...run,
          floorEventsPerSecond: Math.round(floor),
          ratioToFloor: +(run.eventsPerSecond / floor).toFixed(2),
          ceilingEventsPerSecond: Math.round(ceiling),
          ratioToCeiling: +(run.eventsPerSecond / ceiling).toFixed(2),
        })
      }
    }
    const traffic = await realisticRuns(kind, collector, direct)
    process.stderr.write(`[${kind}] timeline latency…\n`)
    const timeline = await timelineRun(collector.url)
    process.stderr.write(`[${kind}] merge time…\n`)
    const merge = await mergeRun(collector.url)
    return { backend: kind, ingest, traffic, timeline, merge }
  } finally {
    await collector.stop()
    await direct.close()
    await cleanup()
  }
}


const started = Date.now()
const results = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, secondsPerIngestRun: SECONDS, connections: CONNECTIONS, backends: [] }
const ONLY = process.env.WAYMARK_BENCH_ONLY // 'sqlite' or 'postgres' to run one backend
if (ONLY !== 'postgres') results.backends.push(await benchBackend('sqlite'))
if (ONLY === 'sqlite') process.stderr.write('WAYMARK_BENCH_ONLY=sqlite: PostgreSQL skipped.\n')
else if (await pgAnswers(PG_ADMIN_URL)) results.backends.push(await benchBackend('postgres'))
else process.stderr.write(`NOTICE: PostgreSQL does not answer at ${PG_ADMIN_URL}; PostgreSQL figures skipped.\n`)
results.totalSeconds = Math.round((Date.now() - started) / 1000)

mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true })
writeFileSync(join(ROOT, 'bench', 'results', 'collector.json'), `${JSON.stringify(results, null, 2)}\n`)

const TARGET = { sqlite: 50_000, postgres: 20_000 }
console.log('\nWaymark collector benchmark (loopback, %d CPUs, Node %s, %d connections)\n', results.cpus, results.node, results.connections)
console.table(
  results.backends.flatMap((b) =>
    b.ingest.map((r) => ({
      backend: b.backend,
      events: r.shape,
      batch: r.batchSize,
      'ingest events/s': r.eventsPerSecond,
      'raw floor events/s': r.floorEventsPerSecond,
      'ratio': r.ratioToFloor,
      [`db alone (${CEILING_ROWS}/tx)`]: r.ceilingEventsPerSecond,
      'CPU µs/event': r.cpuMicrosPerEvent,
      target: `≥ ${TARGET[b.backend]}`,
      'req p50 ms': r.latencyMs.p50,
      'non-2xx': r.non2xx,
    })),
  ),
)
console.log(`Realistic and flat traffic, ${REALISTIC_EVENTS} events each, batches of 100 over ${REALISTIC_CONNECTIONS} connections:`)
console.table(
  results.backends.flatMap((b) =>
    b.traffic.map((r) => ({
      backend: b.backend,
      events: r.shape,
      'events/s': r.eventsPerSecond,
      'batch p50/p95/p99/max ms': `${r.batchMs.p50} / ${r.batchMs.p95} / ${r.batchMs.p99} / ${r.batchMs.max}`,
      'CPU µs/event': r.cpuMicrosPerEvent,
      'last ÷ first tenth': r.lastTenthOverFirst,
      deadlocks: r.deadlocks ?? '—',
      [`db alone (${CEILING_ROWS}/tx)`]: r.ceilingEventsPerSecond,
      'ratio': r.ratioToCeiling,
    })),
  ),
)
console.table(
  results.backends.map((b) => ({
    backend: b.backend,
    'timeline p50 ms': b.timeline.p50Ms,
    'timeline p95 ms': b.timeline.p95Ms,
    'merge 10 events ms': b.merge.small.medianMs,
    'merge 100,000 events ms': b.merge.large.medianMs,
  })),
)
console.log(`results: bench/results/collector.json (${results.totalSeconds}s)${resent ? `; ${resent} batches sent again after a closed connection` : ''}`)
