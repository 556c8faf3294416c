#!/usr/bin/env node
// SDK benchmark: sizes, main-thread cost of track() in headless Chromium, time until a burst is
// durable in IndexedDB, delivery of a 2,000-call burst (the row of the peers table in bench/README.md). Run after `npm run build`:
//   node bench/sdk.mjs            (writes bench/results/sdk.json)
// Env: BENCH_ROUNDS (default 3), BENCH_N (default 10000), BENCH_PEER_N (default 2000).
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { brotliCompressSync, constants as zc, gzipSync } from 'node:zlib'
import { rollup } from 'rollup'
import nodeResolve from '@rollup/plugin-node-resolve'
import terser from '@rollup/plugin-terser'
import { bytesBySource } from './lib/sourcemap-breakdown.mjs'
import { DIST, ROOT, launchChromium, sdkPageHtml, sdkReady, sleep, startReceiver, startStaticServer, waitFor, waitForDist } from '../tests/browser/harness.mjs'

const ROUNDS = Number(process.env.BENCH_ROUNDS || 3)
const N = Number(process.env.BENCH_N || 10_000)
const PEER_N = Number(process.env.BENCH_PEER_N || 2_000)
const AFTER_MS = 3000 // "main thread busy in the 3 s after the burst"
const DELIVER_MS = 5000 // "delivered within 5 s"
const DURABLE_CAP_MS = 30_000
const EVENTS_DB = 'waymark-events'
const EVENTS_STORE = 'events'
// scriptTag: dist/waymark.min.js with every autotracker; core: createTracker alone
const BUDGET = { scriptTagGzipBytes: 10_240, coreGzipBytes: 7_000, trackP99Us: 50, durableMs: 1000 }

const log = (...a) => console.error('[bench]', ...a)
const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (!v.length) return null
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}
const round = (x, d = 1) => (x == null ? null : Math.round(x * 10 ** d) / 10 ** d)

// ---------------------------------------------------------------- sizes
function sizes(buf) {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf)
  return {
    raw: b.length,
    gzip: gzipSync(b, { level: 9 }).length,
    brotli: brotliCompressSync(b, { params: { [zc.BROTLI_PARAM_QUALITY]: 11, [zc.BROTLI_PARAM_SIZE_HINT]: b.length } }).length,
  }
}

/** What an npm user ships: `entry` bundled with its dependencies, resolved for browsers, minified. */
async function bundleSize(entry) {
  const id = '\0bench-entry'
  const bundle = await rollup({
    input: id,
    plugins: [
      { name: 'bench-entry', resolveId: (s) => (s === id ? id : null), load: (s) => (s === id ? entry : null) },
      nodeResolve({ browser: true, rootDir: ROOT, modulePaths: [join(ROOT, 'node_modules')] }),
      terser({ format: { comments: false } }),
    ],
    onwarn: (w) => {
      // an unresolved dependency would silently leave it out of the measured size
      if (w.code === 'UNRESOLVED_IMPORT') throw new Error(`bench bundle: ${w.message}`)
    },
  })
  const { output } = await bundle.generate({ format: 'es' })
  await bundle.close()
  const code = output.filter((o) => o.type === 'chunk').map((o) => o.code).join('\n')
  return sizes(code)
}

async function measureSizes() {
  const esmPath = join(DIST, 'waymark.mjs')
  const esm = await readFile(esmPath, 'utf8')
  // The floor: exactly the runtime-dependency imports dist/waymark.mjs makes, bundled alone.
  const depImports = [...esm.matchAll(/import\s*\{([^}]*)\}\s*from\s*['"](idb-keyval|ulid)['"]/g)].map((m) => ({
    from: m[2],
    names: m[1].split(',').map((s) => s.trim().split(/\s+as\s+/)[0]).filter(Boolean),
  }))
  const floorEntry =
    depImports.map(({ from, names }) => `export { ${names.join(', ')} } from '${from}'`).join('\n') || 'export {}'
  const script = await readFile(join(DIST, 'waymark.min.js'), 'utf8')
  const map = await readFile(join(DIST, 'waymark.min.js.map'), 'utf8').then(JSON.parse, () => null)
  return {
    scriptTag: { ...sizes(script), bySource: map ? bytesBySource(script, map) : null },
    snippet: sizes(await readFile(join(DIST, 'snippet.min.js'))),
    esmCore: await bundleSize(`export { createTracker } from ${JSON.stringify(esmPath)}`),
    depsFloor: { ...(await bundleSize(floorEntry)), imports: depImports },
  }
}

// ---------------------------------------------------------------- browser
// In-page burst: performance.now() around each call; the same loop around a bare array.push of the
// same object is the baseline. Resolution is 5 µs because the page is cross-origin isolated.
async function burst(page, n, what) {
  return page.evaluate(
    ([n, what]) => {
      const d = new Float64Array(n)
      const path = location.pathname
      const sink = []
      const wm = window.waymark
      const t0 = performance.now()
      if (what === 'track') {
        for (let i = 0; i < n; i++) {
          const a = performance.now()
          wm.track('Bench Event', { i, path, plan: 'pro' })
          d[i] = performance.now() - a
        }
      } else {
        for (let i = 0; i < n; i++) {
          const a = performance.now()
          sink.push(['Bench Event', { i, path, plan: 'pro' }])
          d[i] = performance.now() - a
        }
      }
      const t1 = performance.now()
      d.sort()
      const q = (p) => d[Math.min(n - 1, Math.floor(p * n))] * 1000
      window.__burst = { t0, t1 }
      return { t0, t1, wallStart: performance.timeOrigin + t0, totalMs: t1 - t0, p50Us: q(0.5), p99Us: q(0.99), maxUs: d[n - 1] * 1000, meanUs: ((t1 - t0) / n) * 1000 }
    },
    [n, what],
  )
}

/** Start, right after the burst, in-page probes: a 50 ms setTimeout lag probe, a longtask observer,
 * and (when `target` is set) a poll of the `events` store count every 20 ms. */
function startProbes(page, { db, store, target }) {
  return page.evaluate(
    ([db, store, target, afterMs, capMs]) => {
      const { t0, t1 } = window.__burst
      const out = (window.__probe = { lagMaxMs: 0, lagSumMs: 0, longTaskMs: 0, longTasks: 0, durableMs: null, lastCount: null })
      try {
        new PerformanceObserver((l) => {
          for (const e of l.getEntries()) if (e.startTime >= t1 && e.startTime < t1 + afterMs) (out.longTaskMs += e.duration), out.longTasks++
        }).observe({ type: 'longtask' })
      } catch {}
      let expect = performance.now() + 50
      const lag = () => {
        const now = performance.now()
        const l = Math.max(0, now - expect)
        out.lagMaxMs = Math.max(out.lagMaxMs, l)
        out.lagSumMs += l
        if (now < t1 + afterMs) {
          expect = now + 50
          setTimeout(lag, 50)
        }
      }
      setTimeout(lag, 50)
      if (!target) return
      let conn = null
      const poll = () => {
        if (performance.now() - t0 > capMs) return
        const again = () => setTimeout(poll, 20)
        const count = () => {
          // events are stored in chunks keyed [first messageId, count]: sum the counts
          const r = conn.transaction(store, 'readonly').objectStore(store).getAllKeys()
          r.onsuccess = () => {
            const n = r.result.reduce((sum, k) => sum + (Array.isArray(k) ? k[1] : 1), 0)
            out.lastCount = n
            if (n >= target) out.durableMs = performance.now() - t0
            else again()
          }
          r.onerror = again
        }
        if (conn) return count()
        const o = indexedDB.open(db)
        o.onupgradeneeded = () => o.transaction.abort()
        o.onerror = (e) => (e.preventDefault(), again())
        o.onsuccess = () => {
          if (!o.result.objectStoreNames.contains(store)) return o.result.close(), again()
          conn = o.result
          count()
        }
      }
      poll()
    },
    [db, store, target, AFTER_MS, DURABLE_CAP_MS],
  )
}

async function taskMs(cdp) {
  const { metrics } = await cdp.send('Performance.getMetrics')
  return metrics.find((m) => m.name === 'TaskDuration').value * 1000
}

function storeCount(page) {
  return page.evaluate(
    ([db, store]) =>
      new Promise((res) => {
        const o = indexedDB.open(db)
        o.onupgradeneeded = () => o.transaction.abort()
        o.onerror = (e) => (e.preventDefault(), res(0))
        o.onsuccess = () => {
          const d = o.result
          if (!d.objectStoreNames.contains(store)) return d.close(), res(0)
          const r = d.transaction(store, 'readonly').objectStore(store).getAllKeys()
          r.onsuccess = () => (d.close(), res(r.result.reduce((sum, k) => sum + (Array.isArray(k) ? k[1] : 1), 0)))
          r.onerror = () => (d.close(), res(-1))
        }
      }),
    [EVENTS_DB, EVENTS_STORE],
  )
}

async function freshPage(browser, url) {
  const ctx = await browser.newContext() // fresh profile each round
  const page = await ctx.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(e.message))
  await page.goto(url)
  await sdkReady(page)
  const cdp = await ctx.newCDPSession(page)
  await cdp.send('Performance.enable')
  // let start-up work (identity, first page view, first send attempt) settle
  let prev = -2
  await waitFor(
    async () => {
      const c = await storeCount(page)
      const stable = c === prev
      prev = c
      return stable
    },
    { timeout: 5000, interval: 150, message: 'idle store' },
  ).catch(() => {})
  await sleep(200)
  const iso = await page.evaluate(() => {
    let res = Infinity
    let a = performance.now()
    for (let i = 0; i < 1e5; i++) {
      const b = performance.now()
      if (b > a) res = Math.min(res, b - a)
      a = b
    }
    return { crossOriginIsolated: self.crossOriginIsolated, timerResolutionUs: Math.round(res * 1000 * 10) / 10 }
  })
  return { ctx, page, cdp, errors, iso }
}

/** 10,000 calls with the receiver down: main-thread cost, busy time after, time until durable,
 * then in the same page the two baselines (array.push, idb-keyval setMany of same-size records). */
async function durableRound(browser, url, n) {
  const { ctx, page, cdp, errors, iso } = await freshPage(browser, url)
  try {
    const c0 = await storeCount(page)
    const b = await burst(page, n, 'track')
    const m1 = await taskMs(cdp)
    await startProbes(page, { db: EVENTS_DB, store: EVENTS_STORE, target: c0 + n })
    await sleep(AFTER_MS - Math.max(0, (await page.evaluate(() => performance.now() - window.__burst.t1))))
    const m2 = await taskMs(cdp)
    await waitFor(() => page.evaluate(() => window.__probe.durableMs != null || performance.now() - window.__burst.t0 > 30_000), {
      timeout: DURABLE_CAP_MS + 5000,
      interval: 100,
      message: 'durable',
    })
    const probe = await page.evaluate(() => window.__probe)

    // baselines in the same page
    const push = await burst(page, n, 'push')
    const sample = await page.evaluate(
      ([db, store]) =>
        new Promise((res) => {
          const o = indexedDB.open(db)
          o.onsuccess = () => {
            const c = o.result.transaction(store, 'readonly').objectStore(store).openCursor()
            // records are chunks of events: the baseline stores one event per record
            c.onsuccess = () => (res(c.result ? [c.result.value].flat()[0] : null), o.result.close())
            c.onerror = () => res(null)
          }
          o.onerror = () => res(null)
        }),
      [EVENTS_DB, EVENTS_STORE],
    )
    const base = sample || { type: 'track', event: 'Bench Event', properties: { i: 0, path: '/', plan: 'pro' } }
    const json = JSON.stringify(base)
    const setMany = { setManyMs: await page.evaluate(setManyInPage, [n, json]), recordBytes: json.length, sampleFromSdk: !!sample, sample: base }
    return {
      ...roundFigures(iso, b, m2 - m1, probe),
      durableMs: probe.durableMs,
      storeCountAtEnd: probe.lastCount,
      storeTarget: c0 + n,
      baseline: { pushP50Us: push.p50Us, pushP99Us: push.p99Us, pushMeanUs: push.meanUs, ...setMany },
      pageErrors: errors,
    }
  } finally {
    await ctx.close()
  }
}

/** What every burst round reports: the page's timer facts, track() cost and the main thread after. */
function roundFigures(iso, b, busyAfterMs, probe) {
  return {
    ...iso,
    track: { p50Us: b.p50Us, p99Us: b.p99Us, maxUs: b.maxUs, meanUs: b.meanUs, burstMs: b.totalMs },
    busyAfterMs,
    longTaskMsAfter: probe.longTaskMs,
    lagMaxMs: probe.lagMaxMs,
  }
}

/** In the page: ms for one idb-keyval setMany() of n records, copies of the event `json`, one per record. */
async function setManyInPage([n, json]) {
  const { createStore, setMany, set } = await import('/node_modules/idb-keyval/dist/index.js')
  const kv = createStore('bench-baseline', 'kv')
  await set('warm', 1, kv)
  const entries = []
  for (let i = 0; i < n; i++) {
    const v = JSON.parse(json)
    const id = String(i).padStart(26, '0')
    v.messageId = id
    if (v.properties) v.properties.i = i
    entries.push([id, v])
  }
  const a = performance.now()
  await setMany(entries, kv)
  return performance.now() - a
}

/** idb-keyval setMany() of n records shaped like `sample`, in a fresh profile whose page has no SDK. */
async function cleanSetMany(browser, url, n, sample) {
  const ctx = await browser.newContext()
  try {
    const page = await ctx.newPage()
    await page.goto(url)
    return await page.evaluate(setManyInPage, [n, JSON.stringify(sample)])
  } finally {
    await ctx.close()
  }
}

/** The peers-table row: 2,000 calls, receiver up; main-thread cost, busy after, delivered within 5 s. */
async function peerRound(browser, url, rx, n) {
  rx.reset()
  const { ctx, page, cdp, errors, iso } = await freshPage(browser, url)
  try {
    const b = await burst(page, n, 'track')
    const m1 = await taskMs(cdp)
    await startProbes(page, { target: 0 })
    await sleep(AFTER_MS - Math.max(0, (await page.evaluate(() => performance.now() - window.__burst.t1))))
    const m2 = await taskMs(cdp)
    const probe = await page.evaluate(() => window.__probe)
    const untilMs = b.wallStart + DELIVER_MS
    await sleep(Math.max(0, untilMs - Date.now() + 50))
    const within = new Set()
    for (const r of rx.batches()) if (r.at <= untilMs) for (const e of r.json?.batch || []) if (e.event === 'Bench Event') within.add(e.messageId)
    return {
      ...roundFigures(iso, b, m2 - m1, probe),
      deliveredWithin5s: within.size,
      requestsWithin5s: rx.batches({ acceptedOnly: false }).filter((r) => r.at <= untilMs).length,
      pageErrors: errors,
    }
  } finally {
    await ctx.close()
  }
}

// ---------------------------------------------------------------- main
async function main() {
  const started = Date.now()
  await waitForDist(['waymark.min.js', 'snippet.min.js', 'waymark.mjs'])
  log('sizes…')
  const sz = await measureSizes()

  const browser = await launchChromium()
  // COOP/COEP: a cross-origin isolated page gets 5 µs performance.now() instead of 100 µs
  const server = await startStaticServer({ headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } })
  const rx = await startReceiver()
  const down = await startReceiver()
  await down.down() // port with nothing listening: connections refused, nothing is ever acknowledged
  const durableUrl = server.setPage(
    '/bench-durable.html',
    await sdkPageHtml({ collector: down.url, writeKey: 'wk_bench', attrs: { 'max-queue': Math.max(20_000, 2 * N) }, title: 'bench' }),
  )
  const blankUrl = server.setPage('/bench-blank.html', '<!doctype html><meta charset="utf-8"><title>baseline</title>')
  const peerUrl = server.setPage('/bench-peer.html', await sdkPageHtml({ collector: rx.url, writeKey: 'wk_bench', title: 'bench' }))

  const durableRounds = []
  const peerRounds = []
  try {
    for (let r = 0; r < ROUNDS; r++) {
      log(`round ${r + 1}/${ROUNDS}: ${N} calls, receiver down…`)
      const r1 = await durableRound(browser, durableUrl, N)
      r1.baseline.cleanSetManyMs = await cleanSetMany(browser, blankUrl, N, r1.baseline.sample)
      delete r1.baseline.sample
      durableRounds.push(r1)
      log(JSON.stringify({ track: durableRounds.at(-1).track, durableMs: durableRounds.at(-1).durableMs, busyAfterMs: durableRounds.at(-1).busyAfterMs }))
    }
    for (let r = 0; r < ROUNDS; r++) {
      log(`round ${r + 1}/${ROUNDS}: ${PEER_N} calls, receiver up…`)
      peerRounds.push(await peerRound(browser, peerUrl, rx, PEER_N))
      log(JSON.stringify({ track: peerRounds.at(-1).track, delivered: peerRounds.at(-1).deliveredWithin5s, busyAfterMs: peerRounds.at(-1).busyAfterMs }))
    }
  } finally {
    var chromiumVersion = browser.version()
    await browser.close()
    await server.close()
    await rx.close()
  }

  const med = (rounds, f) => median(rounds.map(f))
  const d = {
    p50Us: med(durableRounds, (x) => x.track.p50Us),
    p99Us: med(durableRounds, (x) => x.track.p99Us),
    meanUs: med(durableRounds, (x) => x.track.meanUs),
    maxUs: med(durableRounds, (x) => x.track.maxUs),
    burstMs: med(durableRounds, (x) => x.track.burstMs),
    busyAfterMs: med(durableRounds, (x) => x.busyAfterMs),
    longTaskMsAfter: med(durableRounds, (x) => x.longTaskMsAfter),
    lagMaxMs: med(durableRounds, (x) => x.lagMaxMs),
    durableMs: durableRounds.every((x) => x.durableMs != null) ? med(durableRounds, (x) => x.durableMs) : null,
    pushP50Us: med(durableRounds, (x) => x.baseline.pushP50Us),
    pushP99Us: med(durableRounds, (x) => x.baseline.pushP99Us),
    pushMeanUs: med(durableRounds, (x) => x.baseline.pushMeanUs),
    setManyMs: med(durableRounds, (x) => x.baseline.setManyMs),
    cleanSetManyMs: med(durableRounds, (x) => x.baseline.cleanSetManyMs),
  }
  const p = {
    p50Us: med(peerRounds, (x) => x.track.p50Us),
    p99Us: med(peerRounds, (x) => x.track.p99Us),
    meanUs: med(peerRounds, (x) => x.track.meanUs),
    busyAfterMs: med(peerRounds, (x) => x.busyAfterMs),
    longTaskMsAfter: med(peerRounds, (x) => x.longTaskMsAfter),
    lagMaxMs: med(peerRounds, (x) => x.lagMaxMs),
    deliveredWithin5s: med(peerRounds, (x) => x.deliveredWithin5s),
  }
  const ratio = (a, b) => (a != null && b ? round(a / b, 1) : null)
  const ratios = {
    trackMeanVsPush: ratio(d.meanUs, d.pushMeanUs),
    trackP99VsPushP99: ratio(d.p99Us, d.pushP99Us),
    durableVsSetMany: ratio(d.durableMs, d.setManyMs),
    durableVsCleanSetMany: ratio(d.durableMs, d.cleanSetManyMs),
    esmCoreGzipVsDepsFloor: ratio(sz.esmCore.gzip, sz.depsFloor.gzip),
  }
  const budgets = [
    { name: 'script tag with every autotracker (dist/waymark.min.js) gzip', budget: `≤ ${BUDGET.scriptTagGzipBytes} B`, measured: `${sz.scriptTag.gzip} B`, pass: sz.scriptTag.gzip <= BUDGET.scriptTagGzipBytes },
    { name: 'core (ESM createTracker + deps, min) gzip', budget: `≤ ${BUDGET.coreGzipBytes} B`, measured: `${sz.esmCore.gzip} B`, pass: sz.esmCore.gzip <= BUDGET.coreGzipBytes },
    { name: `track() p99 (${N} calls)`, budget: `≤ ${BUDGET.trackP99Us} µs`, measured: `${round(d.p99Us)} µs`, pass: d.p99Us != null && round(d.p99Us) <= BUDGET.trackP99Us },
    { name: `${N}-event burst durable`, budget: `≤ ${BUDGET.durableMs} ms`, measured: d.durableMs == null ? `not within ${DURABLE_CAP_MS / 1000} s` : `${Math.round(d.durableMs)} ms`, pass: d.durableMs != null && d.durableMs <= BUDGET.durableMs },
  ]
  const version = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')).version
  const peersRow = `| Waymark ${version} | ${(sz.scriptTag.gzip / 1024).toFixed(1)} | ${round(p.p50Us, 0)} | ${round(p.p99Us, 0)} | ${(p.busyAfterMs / 1000).toFixed(1)} s | ${p.deliveredWithin5s} / ${PEER_N} |`

  const result = {
    generatedAt: new Date().toISOString(),
    environment: { node: process.version, chromium: chromiumVersion, cpus: cpus().length, cpuModel: cpus()[0]?.model, rounds: ROUNDS },
    method: {
      sizes: 'scriptTag.bySource attributes the minified bytes of dist/waymark.min.js to its sources via its source map; dist/waymark.min.js and dist/snippet.min.js as built; esmCore = rollup(`export { createTracker } from dist/waymark.mjs`) + node-resolve(browser) + terser, ES format; depsFloor = the idb-keyval/ulid imports of dist/waymark.mjs bundled alone. gzip level 9, brotli quality 11.',
      track: `performance.now() around each call of track('Bench Event', {i, path, plan}) in one synchronous burst, cross-origin-isolated page (COOP/COEP) so the timer resolution is ~5 µs; the same loop around sink.push([name, {i, path, plan}]) is the baseline; median over ${ROUNDS} rounds, each in a fresh browser context (fresh profile) loading the script tag + loader snippet with default options`,
      busyAfter: `renderer main-thread task time (CDP Performance.getMetrics TaskDuration delta) over the ${AFTER_MS / 1000} s after the burst ends (tasks still running at the end are counted in full); also reported: sum of longtask entries (> 50 ms) starting in that window and the maximum lag of a 50 ms setTimeout probe`,
      durable: `${N} calls with the collector unreachable (connection refused, so nothing is acknowledged/deleted; data-max-queue=${Math.max(20_000, 2 * N)}): time from the burst start until the count of the '${EVENTS_STORE}' store of '${EVENTS_DB}' (polled in-page every 20 ms) reaches the count before the burst + ${N}; baselines = idb-keyval setMany() of ${N} records of the same shape (a JSON copy of one stored SDK event each) into a fresh store, timed from the call to transaction complete, (a) in the same page after the SDK round, (b) in a fresh profile whose page has no SDK`,
      delivered: `${PEER_N} calls with a local receiver answering 200 at once (default options); unique 'Bench Event' messageIds accepted within ${DELIVER_MS / 1000} s of the burst start`,
    },
    sizes: sz,
    track10k: { n: N, median: d, rounds: durableRounds },
    burst2k: { n: PEER_N, median: p, rounds: peerRounds },
    ratios,
    budgets,
    peersRow,
    wallSeconds: round((Date.now() - started) / 1000, 1),
  }
  await mkdir(join(ROOT, 'bench/results'), { recursive: true })
  await writeFile(join(ROOT, 'bench/results/sdk.json'), JSON.stringify(result, null, 2) + '\n')

  // ---------------------------------------------------------------- table
  const rows = []
  const row = (k, v, note = '') => rows.push([k, String(v), note])
  const s = (x) => `${x.raw} / ${x.gzip} / ${x.brotli}`
  row('dist/waymark.min.js  raw/gzip/br B', s(sz.scriptTag), 'script tag')
  row('dist/snippet.min.js  raw/gzip/br B', s(sz.snippet), 'inline loader')
  row('ESM core (createTracker+deps) B', s(sz.esmCore), `${ratios.esmCoreGzipVsDepsFloor}× deps floor gzip`)
  row('deps floor (idb-keyval+ulid) B', s(sz.depsFloor), sz.depsFloor.imports.map((i) => `${i.from}:${i.names.join(',')}`).join(' '))
  for (const { source, bytes } of (sz.scriptTag.bySource || []).slice(0, 6)) row(`  min bytes from ${source}`, bytes)
  const tr = durableRounds[0] || peerRounds[0] || {}
  row('page isolation / timer resolution', `${tr.crossOriginIsolated} / ${tr.timerResolutionUs} µs`)
  row(`track() ${N}× p50 / p99 / max µs`, `${round(d.p50Us)} / ${round(d.p99Us)} / ${round(d.maxUs, 0)}`, `push baseline ${round(d.pushP50Us)} / ${round(d.pushP99Us)}`)
  row(`track() ${N}× mean µs (burst ms)`, `${round(d.meanUs, 2)} (${round(d.burstMs, 0)})`, `${ratios.trackMeanVsPush}× array.push (${round(d.pushMeanUs, 2)} µs)`)
  row(`busy in 3 s after ${N} (ms)`, round(d.busyAfterMs, 0), `longtasks ${round(d.longTaskMsAfter, 0)} ms, max lag ${round(d.lagMaxMs, 0)} ms`)
  row(`${N} durable in IndexedDB (ms)`, d.durableMs == null ? 'NOT REACHED' : round(d.durableMs, 0), `${ratios.durableVsSetMany}× idb-keyval setMany same page (${round(d.setManyMs, 0)} ms); ${ratios.durableVsCleanSetMany}× in a page without SDK (${round(d.cleanSetManyMs, 0)} ms)`)
  row(`track() ${PEER_N}× p50 / p99 µs`, `${round(p.p50Us)} / ${round(p.p99Us)}`)
  row(`busy in 3 s after ${PEER_N} (ms)`, round(p.busyAfterMs, 0), `longtasks ${round(p.longTaskMsAfter, 0)} ms, max lag ${round(p.lagMaxMs, 0)} ms`)
  row(`${PEER_N}× delivered within 5 s`, `${p.deliveredWithin5s} / ${PEER_N}`)
  const w0 = Math.max(...rows.map((r) => r[0].length))
  const w1 = Math.max(...rows.map((r) => r[1].length))
  console.log(`\nWaymark SDK bench — Chromium ${chromiumVersion}, ${cpus().length} CPUs, median of ${ROUNDS} rounds\n`)
  for (const [k, v, n] of rows) console.log(`  ${k.padEnd(w0)}  ${v.padStart(w1)}  ${n}`)
  console.log('\nBudgets:')
  for (const b of budgets) console.log(`  ${b.pass ? 'PASS' : 'FAIL'}  ${b.name}: ${b.measured} (budget ${b.budget})`)
  console.log('\nPeers table row (gzip KB = KiB of dist/waymark.min.js):')
  console.log('| SDK | gzip KB | p50 µs | p99 µs | main thread busy in the 3 s after | delivered within 5 s |')
  console.log(peersRow)
  const errs = [...durableRounds, ...peerRounds].flatMap((r) => r.pageErrors)
  if (errs.length) console.log(`\nPage errors during the bench: ${[...new Set(errs)].join(' | ')}`)
  console.log(`\nwrote bench/results/sdk.json (${result.wallSeconds} s)`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
