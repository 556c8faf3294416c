#!/usr/bin/env node
// Where the collector's CPU goes for realistic events: a V8 CPU profile of a collector child
// process (every thread) while it ingests the scale benchmark's seeded traffic, summed by part.
// Also per event in the first and the last tenth of the load, side by side: what grows with the data.
//   npm run build && node bench/profile.mjs [events]     # default 50,000 events, SQLite
// Env: WAYMARK_BENCH_PROFILE_SHAPE=flat for the flat Segment shape instead; WAYMARK_BENCH_DIST
// another build of the collector (for A/B runs, as in bench/collector.mjs);
// WAYMARK_BENCH_ONLY=postgres on a scratch PostgreSQL database (WAYMARK_BENCH_PG_URL, as there):
// the collector's own CPU only, the database server's is not in the profile.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { scratchDatabase, startCollectorChild } from './lib/run.mjs'
import { batches } from './lib/traffic.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const CLI = join(resolve(ROOT, process.env.WAYMARK_BENCH_DIST ?? join('collector', 'dist')), 'cli.js')
const EVENTS = Number(process.argv[2] ?? 50_000)
const WRITE_KEY = 'wk_profile'
const AUTH = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`

/** The part of the collector a profile frame belongs to, by its script and function. */
function partOf(url, fn) {
  if (fn === '(garbage collector)') return 'garbage collection'
  if (fn === '(idle)' || fn === '(program)') return fn
  if (/ua-parser-js/.test(url)) return 'user agent parsing (ua-parser-js)'
  if (/isbot/.test(url)) return 'bot check (isbot)'
  if (/better-sqlite3|sqlite-writer/.test(url)) return 'SQLite writer'
  if (/kysely/.test(url)) return 'query building (kysely)'
  if (/fastify|avvio|find-my-way|light-my-request|pino|secure-json-parse/.test(url)) return 'HTTP (fastify, pino)'
  if (/ingest\/(normalize|validate)/.test(url)) return 'validate + normalize'
  if (/identity\//.test(url)) return 'identity'
  if (/journey\//.test(url)) return 'journey worker'
  if (/ingest\//.test(url)) return 'ingest (write, memo)'
  if (/collector\/dist/.test(url)) return 'collector, other'
  if (fn === 'parse' || fn === 'stringify') return 'JSON parse / stringify'
  if (url === '' || url.startsWith('node:')) return 'node internals, native'
  return `other: ${url.replace(/^.*node_modules\//, '').split('/')[0]}`
}

const dir = mkdtempSync(join(tmpdir(), 'waymark-profile-'))
const database = await scratchDatabase(process.env.WAYMARK_BENCH_ONLY === 'postgres' ? 'postgres' : 'sqlite', process.env.WAYMARK_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', 'waymark_profile')
const collector = await startCollectorChild(
  CLI,
  { WAYMARK_DATABASE_URL: database.url, WAYMARK_WRITE_KEYS: WRITE_KEY, WAYMARK_ADMIN_TOKEN: 'adm_profile' },
  ['--cpu-prof', '--cpu-prof-dir', join(dir, 'prof')],
)
const url = collector.url

const flat = process.env.WAYMARK_BENCH_PROFILE_SHAPE === 'flat'
const bodies = []
for (const { batch } of batches(7, 0, EVENTS, 100, Date.now())) {
  // Flat: the same count and messageIds, with neither context nor properties.
  bodies.push(JSON.stringify(flat ? batch.map(({ context, properties, traits, ...e }) => e) : batch))
}
let next = 0
let retried = 0
/** When each batch was answered, on the monotonic clock of V8's profiles (µs). */
const doneAt = []
const monoMicros = () => Number(process.hrtime.bigint() / 1000n)
const t0 = performance.now()
const loadStart = monoMicros()
await Promise.all(
  Array.from({ length: 8 }, async () => {
    while (next < bodies.length) {
      const body = bodies[next++]
      for (;;) {
        const r = await fetch(`${url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: AUTH }, body: `{"sentAt":"${new Date().toISOString()}","batch":${body}}` })
        if (r.status === 200) {
          doneAt.push(monoMicros())
          break
        }
        // A 503 is the collector asking for a retry; the profile then runs slower than the load.
        if (r.status !== 503) throw new Error(`${r.status} ${await r.text()}`)
        retried++
        await new Promise((res) => setTimeout(res, 200))
      }
    }
  }),
)
const seconds = (performance.now() - t0) / 1000
await collector.stop()
await database.drop()

// Self time per part, every thread's profile summed (samples × their time deltas).
const byPart = new Map()
const byFunction = new Map()
const byOwner = new Map()
let total = 0
// The first and the last tenth of the batches, as windows of time: what costs more per event
// once the database holds more (tenth → part → µs).
doneAt.sort((a, b) => a - b)
const tenth = Math.max(1, Math.floor(doneAt.length / 10))
const windows = [
  { from: loadStart, to: doneAt[tenth - 1], events: tenth * 100, parts: new Map(), owners: new Map() },
  { from: doneAt[doneAt.length - tenth - 1], to: doneAt[doneAt.length - 1], events: tenth * 100, parts: new Map(), owners: new Map() },
]
for (const file of readdirSync(join(dir, 'prof'))) {
  const { nodes, samples, timeDeltas, startTime } = JSON.parse(readFileSync(join(dir, 'prof', file), 'utf8'))
  const frame = new Map(nodes.map((n) => [n.id, n.callFrame]))
  const parent = new Map(nodes.flatMap((n) => (n.children ?? []).map((c) => [c, n.id])))
  /** The nearest collector function on the stack: who asked for the library or native work. */
  const owner = (id) => {
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const f = frame.get(at)
      if (/collector\/dist\//.test(f.url)) return `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*collector\/dist\//, '')}:${f.lineNumber + 1}`
    }
    return '(outside the collector: HTTP, workers, start-up)'
  }
  let at = startTime
  samples.forEach((id, i) => {
    at += timeDeltas[i]
    const { url, functionName, lineNumber } = frame.get(id)
    const p = partOf(url, functionName)
    if (p === '(idle)') return
    for (const w of windows) {
      if (at <= w.from || at > w.to) continue
      w.parts.set(p, (w.parts.get(p) ?? 0) + timeDeltas[i])
      const o = owner(id)
      w.owners.set(o, (w.owners.get(o) ?? 0) + timeDeltas[i])
    }
    const fn = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules|collector)\//, '')}:${lineNumber + 1}`
    byPart.set(p, (byPart.get(p) ?? 0) + timeDeltas[i])
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + timeDeltas[i])
    const o = owner(id)
    byOwner.set(o, (byOwner.get(o) ?? 0) + timeDeltas[i])
    total += timeDeltas[i]
  })
}
rmSync(dir, { recursive: true, force: true })
console.log(`${flat ? 'flat' : 'realistic'} events: ${EVENTS} in ${seconds.toFixed(1)} s (${retried} batches retried after a 503); CPU (all threads, not idle) ${(total / EVENTS).toFixed(1)} µs/event`)
const rows = (m, key, n) =>
  [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => ({ [key]: k, 'µs/event': +(us / EVENTS).toFixed(1), share: `${((100 * us) / total).toFixed(1)} %` }))
console.table(rows(byPart, 'part', 20))
console.log('Functions with the most self time:')
console.table(rows(byFunction, 'function', 25))
console.log('Charged to the nearest collector function on the stack:')
console.table(rows(byOwner, 'collector function', 20))

// Per event in the first and the last tenth of the load, side by side: what grows with the data.
const [first, last] = windows
const sum = (m) => [...m.values()].reduce((a, b) => a + b, 0)
const windowSeconds = (w) => ((w.to - w.from) / 1e6).toFixed(1)
console.log(`First tenth (${windowSeconds(first)} s) and last tenth (${windowSeconds(last)} s) of the load, µs per event: ${(sum(first.parts) / first.events).toFixed(1)} → ${(sum(last.parts) / last.events).toFixed(1)}`)
const compare = (key, pick, n) => {
  const names = new Set([...pick(first).keys(), ...pick(last).keys()])
  return [...names]
    .map((k) => ({ [key]: k, first: +((pick(first).get(k) ?? 0) / first.events).toFixed(1), last: +((pick(last).get(k) ?? 0) / last.events).toFixed(1) }))
    .sort((a, b) => b.last - a.last)
    .slice(0, n)
}
console.table(compare('part', (w) => w.parts, 12))
console.table(compare('collector function', (w) => w.owners, 20))
