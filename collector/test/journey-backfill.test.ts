// A segment that needs facts nobody kept yet is filled in from history by a backfill: in bounded
// steps, reporting its progress, resumed where it stopped after a restart, with ingestion going on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStore, type Store } from '../src/db/connect.js'
import { JourneyWorker } from '../src/journey/worker.js'
import { startCollector } from '../src/server.js'
import { api, BACKENDS, createDatabase, page, sendBatch, testConfig, track, uid, type TestDatabase } from './helpers.js'

describe.each(BACKENDS)('journey backfill on $name', ({ name, skip }) => {
  let db: TestDatabase
  const tag = uid('bf').toLowerCase()
  const browsers = Array.from({ length: 20 }, (_, i) => `${tag}-b${i}`)

  beforeAll(async () => {
    if (skip) return
    db = await createDatabase(name)
  })
  afterAll(async () => db?.drop())

  it.skipIf(skip)('reports progress step by step, resumes after a restart, and ends with the right members', async () => {
    const config = testConfig(db.config)
    let c = await startCollector(config)
    // Even browsers see a case study twice, odd ones once.
    for (const [i, b] of browsers.entries()) {
      const seen = (n: number) => Array.from({ length: n }, () => track(b, 'Content Impression', { properties: { name: 'Case study: Acme' } }))
      expect((await sendBatch(c.url, [...Array.from({ length: 12 }, () => page(b)), ...seen(i % 2 ? 1 : 2)])).status).toBe(200)
    }
    expect((await api(c.url, '/api/journey')).body.status.readTo).toBeGreaterThan(0)
    await c.close()

    // The segment arrives as the API stores it; two workers in turn (the first one "crashes").
    const store: Store = await openStore(config.database)
    try {
      await store.db
        .insertInto('segments')
        .values({ id: 'case-readers', name: 'Case readers', description: null, definition: JSON.stringify({ did: { content: 'Case*' }, atLeast: 2 }), created_at: Date.now() })
        .execute()
      const first = new JourneyWorker(store, config.journey, {}, { batch: 50 })
      await first.step(true)
      const one = await first.status()
      expect(one.backfills).toHaveLength(1)
      const [job] = one.backfills
      expect(job!.done).toBeGreaterThan(0)
      expect(job!.done).toBeLessThan(job!.total)
      await first.step(true)
      const two = (await first.status()).backfills[0]!
      expect(two.done).toBeGreaterThan(job!.done)

      // A new worker goes on from the stored cursor, not from the start.
      const second = new JourneyWorker(store, config.journey, {}, { batch: 50 })
      await second.step(true)
      const three = (await second.status()).backfills[0]
      if (three) expect(three.done).toBeGreaterThan(two.done)
      for (let i = 0; i < 100; i++) {
        const s = await second.status()
        if (s.backfills.length === 0 && s.stale === 0) break
        await second.step(true)
      }
      expect(await second.status()).toMatchObject({ backfills: [], stale: 0 })
    } finally {
      await store.close()
    }

    c = await startCollector(config)
    try {
      const segs = (await api(c.url, '/api/segments')).body.segments as Array<{ id: string; count: number }>
      expect(segs.find((s) => s.id === 'case-readers')?.count).toBe(10)
      const members = (await api(c.url, '/api/segments/case-readers/profiles?limit=50')).body
      expect(members.total).toBe(10)
    } finally {
      await c.close()
    }
  })
})
