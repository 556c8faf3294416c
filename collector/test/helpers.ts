import { afterAll, beforeAll } from 'vitest'
// Test harness: a real collector on an ephemeral port, over a real SQLite temp file or a fresh
// PostgreSQL database, spoken to over HTTP.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import pg from 'pg'
import { loadConfig, type Config, type DatabaseConfig } from '../src/config.js'
import { startCollector, type RunningCollector } from '../src/server.js'

export const PG_URL = process.env.WAYMARK_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const WRITE_KEY = 'wk_test'
export const ADMIN_TOKEN = 'admin-test-token'

export type BackendName = 'sqlite' | 'postgres'

async function postgresAnswers(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => undefined)
  }
}

export const PG_AVAILABLE = await postgresAnswers()
if (!PG_AVAILABLE) {
  console.warn(`\n*** NOTICE: PostgreSQL does not answer at ${PG_URL}: the PostgreSQL variants of the collector suite are SKIPPED. ***\n`)
}

/** Backends to run each suite on; PostgreSQL is listed as skipped (with the notice above) when absent. */
export const BACKENDS: Array<{ name: BackendName; skip: boolean }> = [
  { name: 'sqlite', skip: false },
  { name: 'postgres', skip: !PG_AVAILABLE },
]

function adminUrl(): string {
  const u = new URL(PG_URL)
  u.pathname = '/postgres'
  return u.toString()
}

export function databaseUrl(name: string): string {
  const u = new URL(PG_URL)
  u.pathname = `/${name}`
  return u.toString()
}

export async function pgAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl() })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

export interface TestDatabase {
  config: DatabaseConfig
  /** For PostgreSQL: the database name. */
  name: string
  drop(): Promise<void>
}

/** A fresh, empty database: a temp SQLite file, or a new PostgreSQL database. */
export async function createDatabase(backend: BackendName): Promise<TestDatabase> {
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'waymark-test-'))
    return { config: { kind: 'sqlite', file: join(dir, 'waymark.db') }, name: dir, drop: async () => rmSync(dir, { recursive: true, force: true }) }
  }
  const name = `waymark_test_${randomBytes(6).toString('hex')}`
  await pgAdmin((c) => c.query(`CREATE DATABASE ${name}`))
  return {
    config: { kind: 'postgres', url: databaseUrl(name), poolSize: 10 },
    name,
    drop: () => pgAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  }
}

export function testConfig(database: DatabaseConfig, env: Record<string, string> = {}): Config {
  const config = loadConfig(['--port', '0'], {
    WAYMARK_WRITE_KEYS: WRITE_KEY,
    WAYMARK_ADMIN_TOKEN: ADMIN_TOKEN,
    WAYMARK_LOG_LEVEL: process.env.WAYMARK_TEST_LOG_LEVEL ?? 'silent',
    // Every test client is 127.0.0.1: the per-client limit is tested on its own (ratelimit.test.ts).
    WAYMARK_RATE_LIMIT_CLIENT: '1000000',
    ...env,
  })
  return { ...config, database }
}

export interface TestCollector extends RunningCollector {
  db: TestDatabase
  stop(): Promise<void>
}

/**
 * A real collector for the tests of one describe block: started before them (unless the backend
 * is skipped), stopped after. The handle is filled in place, so tests read `c.url` as usual.
 */
export function collectorForSuite(backend: BackendName, skip: boolean, env: Record<string, string> = {}): TestCollector {
  const handle = {} as TestCollector
  beforeAll(async () => {
    if (!skip) Object.assign(handle, await startTestCollector(backend, env))
  })
  afterAll(async () => handle.stop?.())
  return handle
}

export async function startTestCollector(backend: BackendName, env: Record<string, string> = {}): Promise<TestCollector> {
  const db = await createDatabase(backend)
  const running = await startCollector(testConfig(db.config, env))
  return { ...running, db, stop: async () => (await running.close(), await db.drop()) }
}

export const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`

export interface Sent {
  status: number
  headers: Headers
  body: any
}

export async function post(
  url: string,
  path: string,
  body: unknown,
  opts: { auth?: string | null; contentType?: string; gzip?: boolean; headers?: Record<string, string> } = {},
): Promise<Sent> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body)
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/json', ...opts.headers }
  if (opts.auth !== null) headers.authorization = opts.auth ?? basic(WRITE_KEY)
  let payload: string | Buffer = raw
  if (opts.gzip) {
    payload = gzipSync(raw)
    headers['content-encoding'] = 'gzip'
  }
  const res = await fetch(url + path, { method: 'POST', headers, body: payload })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null }
}

export async function api(url: string, path: string, opts: { method?: string; token?: string | null; auth?: string } = {}): Promise<Sent> {
  const headers: Record<string, string> = {}
  if (opts.auth) headers.authorization = opts.auth
  else if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? ADMIN_TOKEN}`
  const res = await fetch(url + path, { method: opts.method ?? 'GET', headers })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null }
}

let counter = 0
export const mid = (prefix = 'm') => `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}-${randomBytes(3).toString('hex')}`
export const uid = (prefix: string) => `${prefix}-${randomBytes(5).toString('hex')}`

export function track(anonymousId: string, event = 'Clicked', extra: Record<string, unknown> = {}) {
  return { type: 'track', messageId: mid(), anonymousId, event, timestamp: new Date().toISOString(), ...extra }
}
export function page(anonymousId: string, extra: Record<string, unknown> = {}) {
  return { type: 'page', messageId: mid(), anonymousId, name: 'Home', timestamp: new Date().toISOString(), ...extra }
}
export function identify(anonymousId: string | null, traits: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    type: 'identify',
    messageId: mid(),
    ...(anonymousId ? { anonymousId } : {}),
    traits,
    timestamp: new Date().toISOString(),
    ...extra,
  }
}

export async function sendBatch(url: string, batch: unknown[], extra: Record<string, unknown> = {}): Promise<Sent> {
  return post(url, '/v1/batch', { batch, sentAt: new Date().toISOString(), ...extra })
}

/** Profile a identifier resolves to, through the read API. */
export async function lookup(url: string, query: string): Promise<any | null> {
  const r = await api(url, `/api/lookup?${query}`)
  return r.status === 200 ? r.body.profile : null
}

export async function timelineOf(url: string, profileId: string, limit = 500): Promise<any[]> {
  const events: any[] = []
  let cursor: string | null = null
  do {
    const r: Sent = await api(url, `/api/profiles/${profileId}/timeline?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`)
    if (r.status !== 200) throw new Error(`timeline ${r.status}: ${JSON.stringify(r.body)}`)
    events.push(...r.body.events)
    cursor = r.body.nextCursor
  } while (cursor)
  return events
}
