// PostgreSQL hands out event ids before commit, so the journey worker keeps the ids missing
// below the highest one it read ("holes") and reads them again until the transactions that may
// hold them have ended. An event whose transaction commits between the worker's read and its
// look at the running transactions must still be read. (SQLite has one writer and no holes.)
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely'
import { openStore, type Store } from '../src/db/connect.js'
import type { Db } from '../src/db/schema.js'
import type { EventKeeper } from '../src/journey/hooks.js'
import { JourneyWorker } from '../src/journey/worker.js'
import { createDatabase, PG_AVAILABLE, testConfig, uid, type TestDatabase } from './helpers.js'

/** Runs `after` once, right after the next statement that reads events returns its rows. */
class AfterEventRead implements KyselyPlugin {
  after: (() => Promise<void>) | null = null
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const run = this.after
    if (run && args.result.rows.some((r) => 'message_id' in r && 'identity_key' in r)) {
      this.after = null
      await run()
    }
    return args.result
  }
}

const insertEvent = (c: pg.Client, messageId: string, key: string, at: number) =>
  c.query(
    `INSERT INTO events (message_id, source, type, identity_key, anonymous_id, timestamp, received_at, properties, context, traits, is_bot)
     VALUES ($1, 'test', 'page', $2, $3, $4, $4, '{}', '{}', '{}', 0)`,
    [messageId, key, key.slice(key.indexOf(':') + 1), at],
  )

describe.skipIf(!PG_AVAILABLE)('journey holes on postgres', () => {
  let db: TestDatabase
  let store: Store
  const clients: pg.Client[] = []
  const tag = uid('hole').toLowerCase()

  beforeAll(async () => {
    db = await createDatabase('postgres')
    store = await openStore(db.config)
  })
  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => undefined)
    await store?.close()
    await db?.drop()
  })

  async function client() {
    const c = new pg.Client({ connectionString: (db.config as { url: string }).url })
    await c.connect()
    clients.push(c)
    return c
  }

  it('an event committed between the read and the look at running transactions is still read', async () => {
    let now = Date.now()
    const plugin = new AfterEventRead()
    const watched: Store = { ...store, db: store.db.withPlugin(plugin), transaction: (fn) => store.transaction((trx: Db) => fn(trx.withPlugin(plugin))) }
    const read: string[] = []
    const keeper: EventKeeper = { name: 'seen', apply: async (_trx, _d, events) => void read.push(...events.map((e) => e.messageId)) }
    const worker = new JourneyWorker(watched, testConfig(db.config).journey, { keepers: [keeper] }, { now: () => now })

    // A slow writer draws its id and holds it uncommitted; a later event commits past it.
    const slow = await client()
    const fast = await client()
    await slow.query('BEGIN')
    await insertEvent(slow, `${tag}-slow`, `anonymousId:${tag}-a`, now)
    await insertEvent(fast, `${tag}-fast`, `anonymousId:${tag}-b`, now)
    await worker.step(true)
    expect(read).toEqual([`${tag}-fast`])

    // Long after (the hole is old enough to be given up once its writers have ended), the slow
    // writer commits just after the worker's read came back without it.
    now += 60_000
    const later = await client()
    await insertEvent(later, `${tag}-later`, `anonymousId:${tag}-c`, now)
    plugin.after = async () => void (await slow.query('COMMIT'))
    await worker.step(true)
    expect(plugin.after).toBeNull()
    now += 60_000
    await worker.step(true)
    await worker.step(true)
    expect([...read].sort()).toEqual([`${tag}-fast`, `${tag}-later`, `${tag}-slow`].sort())
  })
})
