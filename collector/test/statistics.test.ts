// PostgreSQL statistics kept by the collector itself (db/statistics.ts): tables it grows get an
// ANALYZE once they changed as much as autovacuum's defaults wait for, whether autovacuum runs.
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { analyzeGrown, dueTables } from '../src/db/statistics.js'
import { BACKENDS, collectorForSuite, page, sendBatch, uid } from './helpers.js'

describe('which tables are due an ANALYZE', () => {
  it('those changed by more than 50 rows and a tenth of their size, most changed first', () => {
    expect(
      dueTables([
        { table: 'events', changed: 200_000, rows: 1_000_000 },
        { table: 'identifiers', changed: 9_000, rows: 100_000 },
        { table: 'profiles', changed: 11_000, rows: 100_000 },
        { table: 'segments', changed: 40, rows: 0 },
        { table: 'traits', changed: 60, rows: 0 },
      ]),
    ).toEqual(['events', 'profiles', 'traits'])
  })
})

const postgres = BACKENDS.find((b) => b.name === 'postgres')!

describe.skipIf(postgres.skip)('statistics on PostgreSQL', () => {
  const c = collectorForSuite('postgres', postgres.skip)

  it('analyzes the tables events grew, once, and nothing while they stay the same', async () => {
    const browsers = Array.from({ length: 60 }, () => uid('stats'))
    const r = await sendBatch(c.url, browsers.flatMap((b) => [page(b), page(b)]))
    expect(r.status).toBe(200)
    const analyzed = async () =>
      (
        await sql<{ relname: string; last_analyze: Date | null }>`SELECT relname, last_analyze FROM pg_stat_user_tables WHERE relname IN ('events', 'identifiers')`.execute(
          c.store.db,
        )
      ).rows
    expect((await analyzed()).every((t) => t.last_analyze === null)).toBe(true)
    // The server counts changes when each backend reports them (within a second or two): wait
    // for these 120 events and 60 browsers (inserted, then their statistics updated), or a count
    // reported after the ANALYZE would make the table due again.
    const changed = async () =>
      Object.fromEntries(
        (await sql<{ relname: string; n: string }>`SELECT relname, n_mod_since_analyze AS n FROM pg_stat_user_tables WHERE relname IN ('events', 'identifiers')`.execute(c.store.db)).rows.map(
          (r) => [r.relname, Number(r.n)],
        ),
      )
    for (let i = 0; i < 50; i++) {
      const n = await changed()
      if (n.events! >= 120 && n.identifiers! >= 120) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    // The collector's own tick runs this too, under the same lock: either may be the one that does it.
    for (let i = 0; i < 40 && !(await analyzed()).every((t) => t.last_analyze !== null); i++) {
      await analyzeGrown(c.store, 20)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect((await analyzed()).every((t) => t.last_analyze !== null)).toBe(true)
    // The journey worker may still be writing its own tables; events and identifiers are done.
    expect(await analyzeGrown(c.store, 20)).not.toEqual(expect.arrayContaining(['events']))
    expect(await analyzeGrown(c.store, 20)).not.toEqual(expect.arrayContaining(['identifiers']))
  })
})
