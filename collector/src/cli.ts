#!/usr/bin/env node
// waymark-collector: start the collector (docs/contract.md, Collector start).
import { ConfigError, USAGE, loadConfig } from './config.js'
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
  const db = config.database.kind === 'sqlite' ? `sqlite ${config.database.file}` : `postgres ${redact(config.database.url)}`
  const collector = await startCollector(config)
  const lines = [`database: ${db}`]
  if (config.demo.writeKey) lines.push(`demo write key: ${config.writeKeys[0]}   (set WAYMARK_WRITE_KEYS to use your own)`)
  if (config.demo.adminToken) lines.push(`admin token: ${config.adminToken}   (set WAYMARK_ADMIN_TOKEN to fix it)`)
  process.stdout.write(`${lines.join('\n')}\nlistening on ${collector.url}\n`)

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
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')
}

main().catch((err) => {
  process.stderr.write(`waymark-collector: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})
