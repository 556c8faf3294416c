#!/usr/bin/env node
// waymark-collector: start the collector (docs/contract.md, Collector start).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { ConfigError, USAGE, loadConfig, type Config } from './config.js'
import { startCollector } from './server.js'

async function main(): Promise<void> {
  let config
  try {
    config = loadConfig(process.argv.slice(2), process.env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`waymark-collector: ${err.message}\n\n${USAGE}\n`)
    process.exit(2)
  }
  if (config.help) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if (config.demo.adminToken) config.adminToken = keptDemoToken(config, config.adminToken)
  const db = config.database.kind === 'sqlite' ? `sqlite ${config.database.file}` : `postgres ${redact(config.database.url)}`
  const collector = await startCollector(config)
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    process.stderr.write(`${signal}: finishing in-flight requests\n`)
    collector.close().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`shutdown failed: ${err instanceof Error ? err.stack : String(err)}\n`)
        process.exit(1)
      },
    )
  }
  // A stray promise rejection is a bug to log, not a reason to drop the batches in flight.
  process.on('unhandledRejection', (reason) => {
    collector.app.log.error({ err: reason }, 'unhandled rejection')
    process.stderr.write(`unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`)
  })
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  // Printed last: whoever waits for this line may signal at once, and the handlers must be in place.
  const lines = [`database: ${db}`]
  if (config.demo.writeKey) lines.push(`demo write key: ${config.writeKeys[0]}   (set WAYMARK_WRITE_KEYS to use your own)`)
  if (config.demo.adminToken) lines.push(`admin token: ${config.adminToken}   (demo, kept in ${demoTokenFile(config)}; set WAYMARK_ADMIN_TOKEN for your own)`)
  lines.push(`viewer: ${collector.url}/ui`, `examples: ${collector.url}/examples/`)
  process.stdout.write(`${lines.join('\n')}\nlistening on ${collector.url}\n`)
}

/** Beside the SQLite file, or in ./.waymark for PostgreSQL. */
const demoTokenFile = (config: Config) =>
  join(config.database.kind === 'sqlite' && config.database.file !== ':memory:' ? dirname(config.database.file) : resolve('.waymark'), 'admin-token')

/**
 * The demo admin token stays the same from one start to the next, so a viewer tab signed in with
 * it stays signed in. Readable by its owner only; where it cannot be kept, a fresh one serves.
 */
function keptDemoToken(config: Config, fresh: string): string {
  const file = demoTokenFile(config)
  try {
    const kept = readFileSync(file, 'utf8').trim()
    if (kept) return kept
  } catch {}
  try {
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, `${fresh}\n`, { mode: 0o600 })
  } catch {}
  return fresh
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')
}

main().catch((err) => {
  process.stderr.write(`waymark-collector: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})
