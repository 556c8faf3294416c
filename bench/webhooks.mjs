#!/usr/bin/env node
// Webhooks benchmark. Run after `npm run build`:
//   node bench/webhooks.mjs            # SQLite, and PostgreSQL when it answers
// Env: WAYMARK_BENCH_ONLY (sqlite|postgres), WAYMARK_BENCH_PG_URL (admin URL, default
// postgres://postgres@127.0.0.1:5432/postgres: scratch databases are created and dropped),
// WAYMARK_BENCH_EVENTS (per run, default 20,000), WAYMARK_BENCH_SEED (default 1).
// Writes bench/results/webhooks.json and prints a table; bench/README.md says how to read it.
//
// For each database, two runs on fresh databases with the same seeded traffic
// (bench/lib/traffic.mjs), one with no webhook and one with 3 subscriptions to a receiver in
// this process (stages and identification; segments entered and left; two track events):
// - ingest: events/s acknowledged, 8 connections, batches of 100, as fast as answered;
// - done: events/s until the journey has read every event and (with webhooks) every delivery
//   has been answered, counted from the load's start;
// - CPU ms of the collector process per 1,000 events over that time (robust on a shared machine);
// - latency from the triggering event's receipt by the collector (the payload's
//   cause.receivedAt) to the receiver, p50/p95, under that load and for a trickle afterwards
//   (one new person identifying every 50 ms).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { cpus, loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pgAnswers } from './lib/pg.mjs'
import { benchClient, pct, round, scratchDatabase, sleep, startCollectorChild } from './lib/run.mjs'
import { batches } from './lib/traffic.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const CLI = join(ROOT, 'collector', 'dist', 'cli.js')
const PG_ADMIN_URL = process.env.WAYMARK_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const ONLY = process.env.WAYMARK_BENCH_ONLY
const EVENTS = Number(process.env.WAYMARK_BENCH_EVENTS ?? 20_000)
const SEED = Number(process.env.WAYMARK_BENCH_SEED ?? 1)
const CONNECTIONS = 8
const BATCH = 100
const TRICKLE = 100
const TRICKLE_EVERY_MS = 50
const WRITE_KEY = 'wk_webhooks'
const ADMIN = 'adm_webhooks'
const SUBSCRIPTIONS = [
  { path: '/crm', triggers: { 'person.identified': true, 'stage.entered': ['known', 'engaged', 'customer'] } },
  { path: '/automation', triggers: { 'segment.entered': ['known', 'hot-leads', 'pricing-twice-7d', 'whitepaper'], 'segment.left': ['anonymous'] } },
  { path: '/orders', triggers: { event: ['Order Completed', 'Form Submitted'] } },
]

/** CPU time (user + system, all threads) of a process, in ms, from /proc. */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

// The receiver is on 127.0.0.1.
const startCollector = (database) =>
  startCollectorChild(CLI, { WAYMARK_DATABASE_URL: database, WAYMARK_WRITE_KEYS: WRITE_KEY, WAYMARK_ADMIN_TOKEN: ADMIN, WAYMARK_WEBHOOK_ALLOW_PRIVATE: '1' })

/** Records each delivery's latency: its arrival here minus the causing event's receipt by the collector. */
async function startReceiver() {
  const rx = { latencies: [], count: 0, url: '' }
  const server = createServer((req, res) => {
    const parts = []
    req.on('data', (c) => parts.push(c))
    req.on('end', () => {
      const now = Date.now()
      const body = JSON.parse(Buffer.concat(parts).toString('utf8'))
      rx.count++
      const cause = body.data.cause
      if (cause) rx.latencies.push(now - Date.parse(cause.receivedAt))
      res.writeHead(204).end()
    })
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  rx.url = `http://127.0.0.1:${server.address().port}`
  rx.close = () => new Promise((r) => server.close(r))
  return rx
}

const { send, api } = benchClient({ writeKey: WRITE_KEY, admin: ADMIN })

/** Whether any subscription has a delivery pending. */
async function pending(url, ids) {
  for (const id of ids) if ((await api(url, `/api/webhooks/${id}/deliveries?status=pending&limit=1`)).deliveries.length) return true
  return false
}

async function run(database, withWebhooks) {
  const rx = await startReceiver()
  const c = await startCollector(database)
  const ids = []
  if (withWebhooks) {
    for (const s of SUBSCRIPTIONS) ids.push((await api(c.url, '/api/webhooks', { method: 'POST', body: JSON.stringify({ url: rx.url + s.path, triggers: s.triggers }) })).webhook.id)
  }
  const cpu0 = cpuMs(c.pid)
  const t0 = performance.now()
  const gen = batches(SEED, 0, EVENTS, BATCH, Date.now())
  let sent = 0
  let nextBrowser = 0
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      for (let item = gen.next(); !item.done; item = gen.next()) {
        nextBrowser = item.value.nextBrowser
        await send(c.url, item.value.batch)
        sent += item.value.batch.length
      }
    }),
  )
  const ingestMs = performance.now() - t0
  // Done: the journey has read everything, and every delivery is answered.
  for (;;) {
    const s = (await api(c.url, '/api/journey')).status
    if (s.readTo >= s.lastEventId && s.backfills.length === 0 && (!withWebhooks || !(await pending(c.url, ids)))) break
    await sleep(50)
  }
  const doneMs = performance.now() - t0
  const cpu = cpuMs(c.pid) - cpu0
  const underLoad = [...rx.latencies]
  const delivered = rx.count
  // A trickle: one new person identifying every 50 ms.
  rx.latencies.length = 0
  if (withWebhooks) {
    for (let i = 0; i < TRICKLE; i++) {
      const anon = `trickle-${SEED}-${nextBrowser}-${i}`
      await send(c.url, [{ type: 'identify', messageId: `${anon}-i`, anonymousId: anon, traits: { email: `${anon}@example.com` }, timestamp: new Date().toISOString() }])
      await sleep(TRICKLE_EVERY_MS)
    }
    const until = Date.now() + 10_000
    while (rx.latencies.length < TRICKLE * 2 && Date.now() < until) await sleep(20)
  }
  const trickle = [...rx.latencies]
  await c.stop()
  await rx.close()
  return {
    webhooks: withWebhooks ? SUBSCRIPTIONS.length : 0,
    events: sent,
    ingestPerSec: Math.round(sent / (ingestMs / 1000)),
    donePerSec: Math.round(sent / (doneMs / 1000)),
    cpuMsPer1k: round(cpu / (sent / 1000)),
    deliveries: delivered,
    latencyMs: { p50: pct(underLoad, 50), p95: pct(underLoad, 95) },
    trickleMs: { p50: pct(trickle, 50), p95: pct(trickle, 95), n: trickle.length },
    load: loadavg().map((x) => round(x, 2)),
  }
}

async function benchBackend(kind) {
  const out = { database: kind, runs: [] }
  for (const withWebhooks of [false, true]) {
    const db = await scratchDatabase(kind, PG_ADMIN_URL, 'waymark_bench_webhooks')
    try {
      out.runs.push(await run(db.url, withWebhooks))
    } finally {
      await db.drop()
    }
  }
  const [none, three] = out.runs
  out.ratio = { ingest: round(three.ingestPerSec / none.ingestPerSec, 2), done: round(three.donePerSec / none.donePerSec, 2), cpu: round(three.cpuMsPer1k / none.cpuMsPer1k, 2) }
  return out
}

const results = { date: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model, seed: SEED, events: EVENTS, loadBefore: loadavg().map((x) => round(x, 2)), backends: [] }
if (ONLY !== 'postgres') results.backends.push(await benchBackend('sqlite'))
if (ONLY !== 'sqlite') {
  if (await pgAnswers(PG_ADMIN_URL)) results.backends.push(await benchBackend('postgres'))
  else console.warn(`PostgreSQL does not answer at ${PG_ADMIN_URL}: skipped`)
}
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true })
writeFileSync(join(ROOT, 'bench', 'results', 'webhooks.json'), JSON.stringify(results, null, 2))

console.log(`\nwebhooks: ${EVENTS} seeded events per run, ${CONNECTIONS} connections, batches of ${BATCH}; load before ${results.loadBefore.join(' ')}`)
for (const b of results.backends) {
  console.log(`\n${b.database}`)
  console.log('webhooks  ingest ev/s  done ev/s  CPU ms/1k ev  deliveries  latency p50/p95 ms (load)  trickle p50/p95 ms  load (1/5/15 min)')
  for (const r of b.runs) {
    const lat = r.webhooks ? `${r.latencyMs.p50} / ${r.latencyMs.p95}` : '—'
    const tr = r.webhooks ? `${r.trickleMs.p50} / ${r.trickleMs.p95}` : '—'
    console.log(`${String(r.webhooks).padEnd(9)} ${String(r.ingestPerSec).padStart(11)} ${String(r.donePerSec).padStart(10)} ${String(r.cpuMsPer1k).padStart(13)} ${String(r.deliveries).padStart(11)}  ${lat.padStart(25)}  ${tr.padStart(18)}  ${r.load.join(' ')}`)
  }
  console.log(`3 webhooks ÷ none: ingest ${b.ratio.ingest}, done ${b.ratio.done}, CPU per event ${b.ratio.cpu}`)
}
