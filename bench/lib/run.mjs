// What the benches share: percentiles, rounding, a pause, scratch databases they create and drop,
// collector child processes, and the two requests they make (a batch, an admin read).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
export const round = (x, d = 1) => (x == null ? null : Math.round(x * 10 ** d) / 10 ** d)

/** The p-th percentile (nearest rank) of `xs`; null for none. */
export function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : null
}

/** A fresh database: a SQLite file in a temp folder, or a PostgreSQL database made through `pgAdminUrl`. */
export async function scratchDatabase(kind, pgAdminUrl, prefix = 'waymark_bench') {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), `${prefix.replace(/_/g, '-')}-`))
    return { url: join(dir, 'bench.db'), drop: async () => rmSync(dir, { recursive: true, force: true }) }
  }
  const name = `${prefix}_${randomBytes(4).toString('hex')}`
  const admin = async (statement) => {
    const c = new pg.Client({ connectionString: pgAdminUrl })
    await c.connect()
    try {
      await c.query(statement)
    } finally {
      await c.end()
    }
  }
  await admin(`CREATE DATABASE ${name}`)
  const u = new URL(pgAdminUrl)
  u.pathname = `/${name}`
  return { url: u.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}

/** Collector children still running: ended with the bench, whatever way it ends. */
const children = new Set()
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL')
})

/** Starts the built CLI with `env` (rate limits out of the way); resolves on its listening line. */
export function startCollectorChild(cli, env, nodeArgs = []) {
  const started = performance.now()
  const child = spawn(process.execPath, [...nodeArgs, cli, '--port', '0'], {
    env: { PATH: process.env.PATH, WAYMARK_RATE_LIMIT: '10000000', WAYMARK_RATE_LIMIT_CLIENT: '10000000', WAYMARK_LOG_LEVEL: process.env.WAYMARK_LOG_LEVEL ?? 'error', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return new Promise((res, rej) => {
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d
      const m = /listening on (\S+)/.exec(out)
      if (m) res({ url: m[1], pid: child.pid, startMs: performance.now() - started, stop: () => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM'))) })
    })
    child.on('exit', (code) => rej(new Error(`collector exited ${code}`)))
  })
}

/**
 * `send` posts a batch with the write key, retrying 503 and 429 as the SDK does (counted in
 * `refused` by status); `api` reads with the admin token and throws on anything but 2xx.
 */
export function benchClient({ writeKey, admin, refused = new Map() }) {
  const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`
  return {
    async send(url, batch) {
      const body = JSON.stringify({ batch, sentAt: new Date().toISOString() })
      for (;;) {
        const r = await fetch(`${url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body })
        const text = await r.text()
        if (r.status === 200) return
        refused.set(r.status, (refused.get(r.status) ?? 0) + 1)
        if (r.status !== 503 && r.status !== 429) throw new Error(`batch: ${r.status} ${text}`)
        await sleep(500)
      }
    },
    async api(url, path, init = {}) {
      const r = await fetch(url + path, { ...init, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', ...init.headers } })
      const text = await r.text()
      if (r.status < 200 || r.status >= 300) throw new Error(`${path}: ${r.status} ${text}`)
      return JSON.parse(text)
    },
  }
}
