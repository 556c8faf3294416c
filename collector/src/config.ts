// Collector configuration: flags first, then environment variables, then defaults (docs/contract.md, Collector start).
// `loadConfig` is pure apart from the random demo admin token, so it is easy to test.
import { randomBytes } from 'node:crypto'
import { isIP } from 'node:net'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { JourneyConfigError, loadJourneyFile } from './journey/config.js'
import type { JourneyConfig } from './journey/model.js'
import { WebhookError } from './webhooks/model.js'
import { checkConfigWebhooks, type ConfigWebhook } from './webhooks/subscriptions.js'

import type { DatabaseConfig } from './db/connect.js'
import type { IpPolicy } from './ingest/normalize.js'

export type { DatabaseConfig, IpPolicy }

export interface Config {
  host: string
  port: number
  database: DatabaseConfig
  adminToken: string
  writeKeys: string[]
  /** Which credentials were generated because none were configured (printed at start). */
  demo: { writeKey: boolean; adminToken: boolean }
  /** CORS origins for /v1/*; null = any origin. */
  allowedOrigins: string[] | null
  /** Requests per second per write key and per client address; shared through Redis when redisUrl is set. */
  rateLimit: { perKey: number; perClient: number; redisUrl: string | null }
  ip: IpPolicy
  /**
   * Which X-Forwarded-For entries are trusted: a number of proxy hops in front of the collector
   * (0 = none), or the proxies' addresses/CIDRs. Only entries those proxies appended count:
   * whatever a client wrote into the header itself comes before them.
   */
  trustProxy: number | string[]
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** requestTimeoutMs: the headers and body of a request must arrive within it (else 408). */
  limits: { requestBytes: number; eventBytes: number; requestTimeoutMs: number }
  staticDirs: { examples: string; sdk: string; ui: string }
  /** Stages, lead score and segments (WAYMARK_JOURNEY_CONFIG, else the defaults). */
  journey: JourneyConfig
  journeyFile: string | null
  /**
   * allowPrivate: webhook targets may be loopback, private or link-local addresses
   * (WAYMARK_WEBHOOK_ALLOW_PRIVATE=1). subscriptions: the journey config file's `webhooks`.
   */
  webhooks: { allowPrivate: boolean; subscriptions: ConfigWebhook[] }
}

/** Fixed so the example pages can ship it; only used when no write key is configured. */
export const DEMO_WRITE_KEY = 'wk_demo'
export const DEFAULT_PORT = 8787
export const DEFAULT_HOST = '127.0.0.1'
export const DEFAULT_SQLITE_FILE = './.waymark/waymark.db'
/** As Segment: 500 KB per request, 32 KB per event (docs/contract.md, Wire format). */
export const REQUEST_LIMIT_BYTES = 500 * 1024
export const EVENT_LIMIT_BYTES = 32 * 1024

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

export class ConfigError extends Error {}

export const USAGE = `Usage: waymark-collector [--port 8787] [--host 127.0.0.1] [--db <file path | postgres://…>]

Environment (used when no flag is given):
  WAYMARK_DATABASE_URL     SQLite file path or postgres:// URL (default ${DEFAULT_SQLITE_FILE})
  WAYMARK_ADMIN_TOKEN      Bearer token for /api/* (default: random, printed at start)
  WAYMARK_WRITE_KEYS       comma-separated write keys (default: ${DEMO_WRITE_KEY}, printed at start)
  WAYMARK_ALLOWED_ORIGINS  comma-separated CORS origins for /v1/* (default: any origin)
  PORT                     listening port (default ${DEFAULT_PORT})
  WAYMARK_HOST             listening address (default ${DEFAULT_HOST})
  WAYMARK_RATE_LIMIT       requests per second per write key (default 5000; counted over 10 s)
  WAYMARK_RATE_LIMIT_CLIENT  requests per second per client address, IPv6 /64 (default 50)
  WAYMARK_REDIS_URL        share the rate-limit counters of every process through Redis (redis://…)
  WAYMARK_IP               truncate (default: /24 IPv4, /48 IPv6) | full | none
  WAYMARK_TRUST_PROXY      client IP from X-Forwarded-For: 1 (or N) proxies in front, or their addresses/CIDRs
  WAYMARK_PG_POOL_SIZE     PostgreSQL connections per process (default 10)
  WAYMARK_LOG_LEVEL        fatal|error|warn|info|debug|trace|silent (default warn)
  WAYMARK_EXAMPLES_DIR     folder served at /examples/ (default <repo>/examples)
  WAYMARK_SDK_DIR          folder served at /sdk/ (default <repo>/dist)
  WAYMARK_UI_DIR           folder with the built viewer served at /ui (default <repo>/collector/dist/ui)
  WAYMARK_JOURNEY_CONFIG   JSON file with journey stages, lead-score rules, segments, webhooks (default: built-in)
  WAYMARK_WEBHOOK_ALLOW_PRIVATE  1: webhooks may go to loopback, private and link-local addresses (default: refused)`

function parseFlags(argv: string[]): Record<string, string> {
  const flags: Record<string, string> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') {
      flags.help = '1'
      continue
    }
    const m = /^--(port|host|db)(?:=(.*))?$/.exec(arg)
    if (!m) throw new ConfigError(`unknown argument: ${arg}`)
    const value = m[2] ?? argv[++i]
    if (value === undefined || value === '') throw new ConfigError(`--${m[1]} needs a value`)
    flags[m[1]!] = value
  }
  return flags
}

const list = (v: string | undefined) =>
  (v ?? '').split(',').map((s) => s.trim()).filter(Boolean)

/**
 * A browser's Origin header is scheme://host[:port], lower-case, no path: a configured
 * "https://Shop.example.com/" must match it, and a value that is no origin must stop the start
 * rather than quietly refuse every browser.
 */
function origin(value: string): string {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {}
  if (!url || url.origin === 'null' || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash)
    throw new ConfigError(`WAYMARK_ALLOWED_ORIGINS takes origins like https://shop.example.com, got "${value}"`)
  return url.origin
}

function int(name: string, v: string, min: number, max: number): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer in ${min}..${max}, got "${v}"`)
  return n
}

export function databaseFromString(value: string, poolSize = 10): DatabaseConfig {
  if (/^postgres(ql)?:\/\//i.test(value)) return { kind: 'postgres', url: value, poolSize }
  return { kind: 'sqlite', file: value === ':memory:' ? value : resolve(value) }
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): Config & { help: boolean } {
  const flags = parseFlags(argv)
  const port = int('port', flags.port ?? env.PORT ?? String(DEFAULT_PORT), 0, 65535)
  const poolSize = int('WAYMARK_PG_POOL_SIZE', env.WAYMARK_PG_POOL_SIZE ?? '10', 1, 200)
  const writeKeys = list(env.WAYMARK_WRITE_KEYS)
  const adminToken = env.WAYMARK_ADMIN_TOKEN?.trim() || ''
  const origins = list(env.WAYMARK_ALLOWED_ORIGINS).map(origin)
  const rate = int('WAYMARK_RATE_LIMIT', env.WAYMARK_RATE_LIMIT ?? '5000', 1, 10_000_000)
  const clientRate = int('WAYMARK_RATE_LIMIT_CLIENT', env.WAYMARK_RATE_LIMIT_CLIENT ?? '50', 1, 10_000_000)
  const redisUrl = env.WAYMARK_REDIS_URL?.trim() || null
  if (redisUrl && !/^rediss?:\/\//i.test(redisUrl)) throw new ConfigError(`WAYMARK_REDIS_URL must be a redis:// or rediss:// URL`)
  const ip = (env.WAYMARK_IP ?? 'truncate') as IpPolicy
  if (!['truncate', 'full', 'none'].includes(ip)) throw new ConfigError(`WAYMARK_IP must be truncate, full or none`)
  const logLevel = (env.WAYMARK_LOG_LEVEL ?? 'warn') as Config['logLevel']
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel))
    throw new ConfigError(`WAYMARK_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent`)
  if (adminToken && writeKeys.includes(adminToken)) throw new ConfigError('the admin token must differ from every write key')
  const trustRaw = env.WAYMARK_TRUST_PROXY?.trim() || '0'
  const trustProxy = trustRaw === 'true' ? 1 : trustRaw === 'false' ? 0 : /^\d+$/.test(trustRaw) ? int('WAYMARK_TRUST_PROXY', trustRaw, 0, 10) : list(trustRaw)
  for (const proxy of Array.isArray(trustProxy) ? trustProxy : []) {
    if (!['loopback', 'linklocal', 'uniquelocal'].includes(proxy) && !isIP(proxy.replace(/\/\d+$/, '')))
      throw new ConfigError(`WAYMARK_TRUST_PROXY must be a number of proxies or their addresses/CIDRs, got "${proxy}"`)
  }
  const journeyFile = env.WAYMARK_JOURNEY_CONFIG?.trim() ? resolve(env.WAYMARK_JOURNEY_CONFIG.trim()) : null
  let journey: JourneyConfig
  let webhooks: ConfigWebhook[]
  try {
    const loaded = loadJourneyFile(journeyFile)
    journey = loaded.journey
    const known = { stages: journey.stages.map((s) => s.id), segments: journey.segments.map((s) => s.id) }
    webhooks = checkConfigWebhooks(loaded.json.webhooks, known, env)
  } catch (err) {
    if (err instanceof JourneyConfigError) throw new ConfigError(err.message)
    if (err instanceof WebhookError) throw new ConfigError(`journey config ${journeyFile}: ${err.message}`)
    throw err
  }
  const allowPrivate = (env.WAYMARK_WEBHOOK_ALLOW_PRIVATE ?? '').trim()
  if (!['', '0', '1'].includes(allowPrivate)) throw new ConfigError('WAYMARK_WEBHOOK_ALLOW_PRIVATE must be 1 or 0')
  return {
    help: flags.help === '1',
    host: flags.host ?? env.WAYMARK_HOST ?? DEFAULT_HOST,
    port,
    database: databaseFromString(flags.db ?? env.WAYMARK_DATABASE_URL ?? DEFAULT_SQLITE_FILE, poolSize),
    adminToken: adminToken || `adm_${randomBytes(18).toString('base64url')}`,
    writeKeys: writeKeys.length ? writeKeys : [DEMO_WRITE_KEY],
    demo: { writeKey: writeKeys.length === 0, adminToken: !adminToken },
    allowedOrigins: origins.length ? origins : null,
    rateLimit: { perKey: rate, perClient: clientRate, redisUrl },
    ip,
    trustProxy,
    logLevel,
    limits: { requestBytes: REQUEST_LIMIT_BYTES, eventBytes: EVENT_LIMIT_BYTES, requestTimeoutMs: int('WAYMARK_REQUEST_TIMEOUT_MS', env.WAYMARK_REQUEST_TIMEOUT_MS ?? '30000', 100, 600_000) },
    staticDirs: {
      examples: resolve(env.WAYMARK_EXAMPLES_DIR ?? resolve(REPO_ROOT, 'examples')),
      sdk: resolve(env.WAYMARK_SDK_DIR ?? resolve(REPO_ROOT, 'dist')),
      // The viewer bundle, built by the root rollup config into collector/dist/ui.
      ui: resolve(env.WAYMARK_UI_DIR ?? resolve(REPO_ROOT, 'collector', 'dist', 'ui')),
    },
    journey,
    journeyFile,
    webhooks: { allowPrivate: allowPrivate === '1', subscriptions: webhooks },
  }
}
