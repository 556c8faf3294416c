// SQLite's query plans, for every statement the collector prepares while this scenario ingests,
// links, evaluates people, sends webhooks and answers the read API. SQLite keeps no statistics
// here, so its planner guesses; a guess that walks a table costs nothing in a small test and
// grows with every person at scale (the people of a journey step were read through the
// merged_into index — every live profile — at 35 ms a step at 125k people). Each plan must
// find its rows through an index; only the small tables of settings may be read whole. Not
// checked: sorts (a temporary B-tree after an index search) and paths this scenario does not
// take. Parameters are bound as NULL, so a value the plan
// depends on (a partial index's) must be written into the statement as a literal.
import { createServer, type AddressInfo } from 'node:net'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { STATEMENTS } from '../src/ingest/statements.js'
import { ADMIN_TOKEN, api, identify, page, post, sendBatch, startTestCollector, track, uid, type TestCollector } from './helpers.js'

const ADMIN = { auth: `Bearer ${ADMIN_TOKEN}` }

/** Tables that hold settings, not data: read whole, they stay a handful of rows. */
const SMALL = new Set(['segments', 'journey_matchers', 'journey_backfills', 'journey_state', 'journey_counts', 'webhook_subscriptions', 'schema_migrations'])

/**
 * What is wrong with a plan, if anything. A step names a table or its alias; names that are
 * neither (a subquery, a CTE, json_each of the parameters) are bounded by what feeds them.
 * An index walked in order under a LIMIT stops after that many rows: a page, not a scan.
 */
function faults(text: string, plan: string[], tables: Set<string>): string[] {
  const aliases = new Map<string, Set<string>>()
  // Kysely's `"t" as "a"`, and raw SQL's `FROM t a` / `JOIN t AS a`.
  const pairs = [...text.matchAll(/"(\w+)" as "(\w+)"/g), ...text.matchAll(/\b(?:from|join)\s+(\w+)\s+(?:as\s+)?(\w+)/gi)]
  for (const [, target, alias] of pairs) {
    if (!aliases.has(alias!)) aliases.set(alias!, new Set())
    aliases.get(alias!)!.add(target!)
  }
  const tableOf = (name: string) => {
    if (tables.has(name)) return name
    const targets = [...(aliases.get(name) ?? [])]
    return targets.length && targets.every((t) => tables.has(t)) ? targets[0]! : null
  }
  const out: string[] = []
  for (const step of plan) {
    const scanned = /^SCAN (\w+)/.exec(step)?.[1]
    const table = scanned ? tableOf(scanned) : null
    // An index that gives the order, under a LIMIT, stops after that many rows: a page.
    const paged = / USING (COVERING )?INDEX /.test(step) && /\blimit\b/i.test(text) && !plan.some((p) => p.includes('TEMP B-TREE'))
    if (table && !SMALL.has(table) && !paged) out.push(step)
    // A SEARCH that names no index reads the whole table, but for min or max of the rowid.
    const bare = /^SEARCH (\w+)$/.exec(step)?.[1]
    if (bare && tableOf(bare) && !SMALL.has(tableOf(bare)!) && !/\b(min|max)\("id"\)/.test(text)) out.push(step)
    // `x IS NULL` searched by x's index is the range of every row where x is null: for
    // merged_into, every live profile.
    if (/merged_into"?\s+is\s+null/i.test(text) && /USING (COVERING )?INDEX profiles_merged_into/.test(step)) out.push(step)
  }
  return out
}

describe('SQLite query plans', () => {
  const prepared = new Set<string>()
  const prepare = Database.prototype.prepare
  let c: TestCollector | undefined
  afterAll(async () => {
    Database.prototype.prepare = prepare
    await c?.stop()
  })

  it('every statement finds its rows through an index', async () => {
    Database.prototype.prepare = function (this: Database.Database, text: string) {
      prepared.add(text)
      return prepare.call(this, text)
    } as typeof prepare
    c = await startTestCollector('sqlite', { WAYMARK_WEBHOOK_ALLOW_PRIVATE: '1' })
    // Deliveries go to a port just closed: refused at once, so each is attempted and kept pending.
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    const hook = await post(c.url, '/api/webhooks', { url: `http://127.0.0.1:${port}/hook`, triggers: { 'person.identified': true, 'stage.entered': ['known'] } }, ADMIN)
    expect(hook.status, JSON.stringify(hook.body)).toBe(201)
    // Enough browsers that the worker's IN lists reach their full 500; a fifth identify, some
    // of them a second device of an earlier email (a merge).
    const browsers = Array.from({ length: 700 }, () => uid('plan'))
    const events = browsers.flatMap((b, i) => [
      page(b, { context: { page: { path: `/p/${i % 7}` }, campaign: { source: 'newsletter', medium: 'email', name: `c${i % 3}` } } }),
      track(b, 'Clicked', { properties: { kind: 'cta', label: 'Start' } }),
      ...(i % 5 === 0 ? [identify(b, { email: `plan-${i % 50}@example.com` })] : []),
    ])
    for (let i = 0; i < events.length; i += 100) expect((await sendBatch(c.url, events.slice(i, i + 100))).status).toBe(200)

    const journey = await api(c.url, '/api/journey')
    expect(journey.status).toBe(200)
    const known = (await api(c.url, '/api/profiles?limit=25&identified=true')).body.profiles[0]
    expect(known).toBeTruthy()
    const person = encodeURIComponent(known.id)
    for (const path of [
      '/api/profiles?limit=25',
      '/api/profiles?limit=25&stage=known',
      '/api/profiles?limit=25&sort=lastSeen',
      '/api/lookup?email=plan-0@example.com',
      `/api/profiles/${person}`,
      `/api/profiles/${person}/timeline?limit=50`,
      `/api/profiles/${person}/timeline?limit=50&kinds=form,identity`,
      `/api/profiles/${person}/devices`,
      '/api/journey/shares',
      '/api/journey/campaigns',
      '/api/journey/campaigns?touch=last',
      '/api/journey/ctas?segment=known',
      '/api/journey/score',
      '/api/journey/revenue',
      '/api/journey/trends?interval=week',
      '/api/segments',
      '/api/segments/known/profiles?limit=25',
      `/api/webhooks/${hook.body.webhook.id}/deliveries`,
    ]) {
      const r = await api(c.url, path)
      expect(r.status, `${path}: ${JSON.stringify(r.body)}`).toBe(200)
    }
    expect((await post(c.url, '/api/profiles/search', { q: 'plan-1', limit: 25 }, ADMIN)).status).toBe(200)
    // The sender has looked for due deliveries, and kept what its attempts came to.
    const hookId = hook.body.webhook.id
    const until = Date.now() + 30_000
    let attempted: { id: string; attempts: number } | undefined
    while (!(attempted = (await api(c.url, `/api/webhooks/${hookId}/deliveries?status=pending`)).body.deliveries.find((d: { attempts: number }) => d.attempts > 0))) {
      if (Date.now() > until) throw new Error('no delivery was attempted')
      await new Promise((r) => setTimeout(r, 50))
    }
    expect((await post(c.url, `/api/webhooks/${hookId}/deliveries/${attempted.id}/resend`, {}, ADMIN)).status).toBeLessThan(300)
    // A segment made and dropped (people evaluated again for it), a person erased, the webhook deleted.
    const made = await post(c.url, '/api/segments', { id: 'plan-clicked', name: 'Clicked', when: { did: { event: 'Clicked' } } }, ADMIN)
    expect(made.status, JSON.stringify(made.body)).toBe(201)
    expect((await api(c.url, '/api/segments/plan-clicked/profiles?limit=25')).status).toBe(200)
    expect((await api(c.url, '/api/segments/plan-clicked', { method: 'DELETE' })).status).toBeLessThan(300)
    expect((await api(c.url, `/api/profiles/${person}`, { method: 'DELETE' })).status).toBeLessThan(300)
    expect((await api(c.url, '/api/journey')).status).toBe(200)
    expect((await api(c.url, `/api/webhooks/${hookId}`, { method: 'DELETE' })).status).toBeLessThan(300)

    // The writer thread's statements are prepared on its own connection: checked here too.
    const texts = [...prepared, ...Object.values(STATEMENTS.sqlite)].filter((t) => /^\s*(select|insert|update|delete|with)\b/i.test(t))
    expect(texts.length).toBeGreaterThan(50)
    const db = new Database(c.db.config.kind === 'sqlite' ? c.db.config.file : '', { readonly: true })
    const found: string[] = []
    try {
      const tables = new Set(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all() as string[])
      for (const text of texts) {
        const plan = db
          .prepare(`EXPLAIN QUERY PLAN ${text}`)
          .all(...Array<null>((text.match(/\?/g) ?? []).length).fill(null))
          .map((r) => (r as { detail: string }).detail)
        for (const f of faults(text, plan, tables)) found.push(`${f}  ←  ${text.replace(/\s+/g, ' ').slice(0, 200)}`)
      }
    } finally {
      db.close()
    }
    expect(found).toEqual([])
  })
})
