// The built CLI as a real child process: start-up output, SIGTERM with a batch in flight,
// two processes on one PostgreSQL database, and PostgreSQL going away mid-load.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { createServer, type Server, type Socket, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ADMIN_TOKEN,
  BACKENDS,
  CLI,
  COLLECTOR,
  api,
  buildCli,
  spawnCollector,
  PG_AVAILABLE,
  WRITE_KEY,
  basic,
  createDatabase,
  identify,
  lookup,
  page,
  pgAdmin,
  sendBatch,
  startCollector,
  testConfig,
  track,
  uid,
  type Child,
  type TestDatabase,
} from './process-helpers.js'

beforeAll(buildCli, 120_000)

async function waitFor(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('waymark-collector CLI', () => {
  it('starts with zero configuration: SQLite at ./.waymark/waymark.db, demo credentials, one listening line', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'waymark-cli-'))
    try {
      const c = await spawnCollector(['--port', '0'], {}, cwd)
      expect(c.stdout.filter((l) => l.startsWith('listening on '))).toEqual([`listening on ${c.url}`])
      expect(c.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(c.stdout.some((l) => l.startsWith('demo write key: wk_demo'))).toBe(true)
      const token = /^admin token: (\S+)/.exec(c.stdout.find((l) => l.startsWith('admin token: '))!)![1]!
      expect(existsSync(join(cwd, '.waymark', 'waymark.db'))).toBe(true)
      const r = await sendBatch(c.url, [page(uid('a'))], {}, basic('wk_demo'))
      expect(r.status).toBe(200)
      const list = await fetch(`${c.url}/api/profiles`, { headers: { authorization: `Bearer ${token}` } })
      expect((await list.json()).profiles).toHaveLength(1)
      expect(c.stdout).toContain(`viewer: ${c.url}/ui`)
      expect(c.stdout).toContain(`examples: ${c.url}/examples/`)
      c.child.kill('SIGINT')
      expect(await c.exited).toBe(0)
      // Started again: the same demo admin token, so a signed-in viewer tab stays signed in.
      const again = await spawnCollector(['--port', '0'], {}, cwd)
      expect(again.stdout.find((l) => l.startsWith('admin token: '))).toMatch(new RegExp(`^admin token: ${token} `))
      again.child.kill('SIGINT')
      expect(await again.exited).toBe(0)
    } finally {
      rmSync(cwd, { recursive: true, force: true })
    }
  })

  it('rejects unknown flags with usage and exit code 2; --help prints usage', async () => {
    let code = 0
    try {
      execFileSync(process.execPath, [CLI, '--nope'], { stdio: 'pipe' })
    } catch (err) {
      code = (err as { status: number }).status
      expect(String((err as { stderr: Buffer }).stderr)).toMatch(/unknown argument: --nope[\s\S]*Usage: waymark-collector/)
    }
    expect(code).toBe(2)
    expect(execFileSync(process.execPath, [CLI, '--help']).toString()).toMatch(/WAYMARK_DATABASE_URL/)
    // The command npm links at install, as `npx waymark-collector` runs it.
    const linked = join(COLLECTOR, '..', 'node_modules', '.bin', 'waymark-collector')
    expect(execFileSync(linked, ['--help']).toString()).toMatch(/^Usage: waymark-collector/)
  })
})

describe.each(BACKENDS)('SIGTERM on $name', ({ name, skip }) => {
  let db: TestDatabase
  beforeAll(async () => {
    if (!skip) db = await createDatabase(name)
  })
  afterAll(async () => db?.drop())

  it.skipIf(skip)('finishes the batch in flight, then exits 0; the batch is stored', async () => {
    const dbArg = db.config.kind === 'sqlite' ? db.config.file : db.config.url
    const c = await spawnCollector(['--port', '0', '--db', dbArg], { WAYMARK_WRITE_KEYS: WRITE_KEY, WAYMARK_ADMIN_TOKEN: ADMIN_TOKEN })
    const a = uid('inflight')
    const batch = Array.from({ length: 50 }, () => track(a))
    const body = Buffer.from(JSON.stringify({ batch, sentAt: new Date().toISOString() }))
    const port = Number(new URL(c.url).port)
    // Headers and half the body go out, then SIGTERM, then the rest of the body.
    const answer = new Promise<{ status: number; body: string }>((resolveAnswer, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', path: '/v1/batch', headers: { 'content-type': 'application/json', 'content-length': body.length, authorization: basic(WRITE_KEY) } },
        (res) => {
          let text = ''
          res.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => resolveAnswer({ status: res.statusCode!, body: text }))
        },
      )
      req.on('error', reject)
      req.write(body.subarray(0, body.length >> 1))
      setTimeout(() => {
        c.child.kill('SIGTERM')
        waitFor(() => c.stderr.some((l) => l.startsWith('SIGTERM')), 'SIGTERM acknowledgement').then(
          () => setTimeout(() => req.end(body.subarray(body.length >> 1)), 200),
          reject,
        )
      }, 200)
    })
    const r = await answer
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body)).toEqual({ accepted: 50, duplicates: 0, rejected: [] })
    expect(await c.exited).toBe(0)
    // New connections are no longer accepted.
    await expect(fetch(`${c.url}/health`)).rejects.toThrow()
    let stored: number
    if (db.config.kind === 'sqlite') {
      const sqlite = new Database(db.config.file, { readonly: true })
      stored = (sqlite.prepare('SELECT count(*) AS n FROM events WHERE anonymous_id = ?').get(a) as { n: number }).n
      sqlite.close()
    } else {
      const client = new pg.Client({ connectionString: db.config.url })
      await client.connect()
      stored = Number((await client.query('SELECT count(*) AS n FROM events WHERE anonymous_id = $1', [a])).rows[0].n)
      await client.end()
    }
    expect(stored).toBe(50)
  })
})

describe.skipIf(!PG_AVAILABLE)('two collector processes on one PostgreSQL database', () => {
  let db: TestDatabase
  let one: Child
  let two: Child
  beforeAll(async () => {
    db = await createDatabase('postgres')
    const url = (db.config as { url: string }).url
    const env = { WAYMARK_WRITE_KEYS: WRITE_KEY, WAYMARK_ADMIN_TOKEN: ADMIN_TOKEN, WAYMARK_DATABASE_URL: url }
    // Both start (and migrate) at the same time.
    ;[one, two] = await Promise.all([spawnCollector(['--port', '0'], env), spawnCollector(['--port', '0'], env)])
  })
  afterAll(async () => {
    one?.child.kill('SIGTERM')
    two?.child.kill('SIGTERM')
    await Promise.all([one?.exited, two?.exited])
    await db?.drop()
  })

  it('concurrent identifies of the same people through both processes end with one profile each', async () => {
    const people = Array.from({ length: 6 }, () => ({ email: `${uid('p')}@example.com`, userId: uid('user'), devices: Array.from({ length: 8 }, () => uid('dev')) }))
    // Anonymous history first, spread over both processes.
    await Promise.all(people.flatMap((p) => p.devices.map((d, i) => sendBatch([one, two][i % 2]!.url, [page(d), track(d)]))))
    // Then every device identifies at once — each identify sent to BOTH processes concurrently,
    // half with the userId as well, so the same merges race across processes.
    const answers = await Promise.all(
      people.flatMap((p) =>
        p.devices.flatMap((d, i) => {
          const event = identify(d, { email: p.email }, i % 2 ? { userId: p.userId } : {})
          return [sendBatch(one.url, [event]), sendBatch(two.url, [event])]
        }),
      ),
    )
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200))
    // Each identify stored once although it was sent twice.
    expect(answers.reduce((s, r) => s + r.body.accepted, 0)).toBe(people.length * 8)
    for (const p of people) {
      const person = await lookup(one.url, `email=${p.email}`)
      expect(person.userId).toBe(p.userId)
      for (const d of p.devices) expect((await lookup(two.url, `anonymousId=${d}`)).id).toBe(person.id)
      expect(person.eventCount).toBe(8 * 3)
    }
    const counts = await pgAdmin(async () => {
      const client = new pg.Client({ connectionString: (db.config as { url: string }).url })
      await client.connect()
      try {
        return (
          await client.query(
            `SELECT count(*) FILTER (WHERE merged_into IS NULL AND identified_at IS NOT NULL) AS known,
                    count(*) FILTER (WHERE merged_into IS NULL AND identified_at IS NULL) AS anonymous
             FROM profiles`,
          )
        ).rows[0]
      } finally {
        await client.end()
      }
    })
    expect({ known: Number(counts.known), anonymous: Number(counts.anonymous) }).toEqual({ known: people.length, anonymous: 0 })
  })

  it('both processes, ingesting at once, give the same journey, People list and segment counts', async () => {
    const tag = uid('j')
    const browsers = Array.from({ length: 40 }, (_, i) => `${tag}-b${i}`)
    const pricing = (b: string) => page(b, { properties: { path: '/pricing' } })
    // Each browser's events go through both processes; every third views pricing twice, every fourth identifies.
    await Promise.all(
      browsers.map(async (b, i) => {
        const [a, z] = i % 2 ? [one, two] : [two, one]
        await Promise.all([sendBatch(a.url, [page(b), ...(i % 3 === 0 ? [pricing(b)] : [])]), sendBatch(z.url, [track(b), ...(i % 3 === 0 ? [pricing(b)] : [])])])
        if (i % 4 === 0) await sendBatch(z.url, [identify(b, { email: `${b}@example.com` })])
      }),
    )
    const read = async (c: Child) => {
      const get = async (path: string) => {
        const r = await api(c.url, path)
        expect(r.status).toBe(200)
        return r.body
      }
      const journey = await get('/api/journey')
      return {
        stages: journey.stages,
        people: journey.people,
        channels: journey.channels,
        list: (await get('/api/profiles?limit=200')).profiles.map((p: { id: string; stage: string; score: number }) => [p.id, p.stage, p.score]),
        anonymous: (await get('/api/profiles?identified=false&limit=1')).total,
        segments: (await get('/api/segments')).segments.map((s: { id: string; count: number }) => [s.id, s.count]),
      }
    }
    const [a, b] = await Promise.all([read(one), read(two)])
    expect(a).toEqual(b)
    // The first test's people are all identified; here 30 browsers stay anonymous.
    expect(a.anonymous).toBe(30)
    expect(a.people).toBe(6 + 40)
    expect(Object.fromEntries(a.segments)['pricing-twice-7d']).toBe(14)
    expect(Object.fromEntries(a.segments).known).toBe(6 + 10)
  })

  it('new browsers and identifies arriving at once through both processes and many connections: no deadlock, no batch waits a second', async () => {
    // A busy site's first minutes: every batch brings browsers never seen, the same ones in other
    // batches in another order, and identifies that link two browsers each. Lanes and processes
    // that took identifier locks in arrival order deadlocked here (PostgreSQL waits a second first).
    const deadlocks = async () =>
      Number((await pgAdmin((c) => c.query('SELECT deadlocks FROM pg_stat_database WHERE datname = $1', [db.name]))).rows[0].deadlocks)
    const before = await deadlocks()
    const tag = uid('dl')
    const shuffled = <T,>(xs: T[], seed: number) => {
      const out = [...xs]
      for (let i = out.length - 1; i > 0; i--) {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
        const j = seed % (i + 1)
        ;[out[i], out[j]] = [out[j]!, out[i]!]
      }
      return out
    }
    const latencies: number[] = []
    const emails = new Set<string>()
    let accepted = 0
    for (let wave = 0; wave < 6; wave++) {
      const browsers = Array.from({ length: 120 }, (_, i) => `${tag}-w${wave}-b${i}`)
      await Promise.all(
        Array.from({ length: 8 }, async (_, sender) => {
          const picked = shuffled(browsers, wave * 8 + sender + 1).slice(0, 100)
          // Two senders in eight also identify; the others bring anonymous pages only.
          const batch = [
            ...picked.slice(0, sender % 4 === 0 ? 80 : 100).map((b) => page(b)),
            // Browsers 2k and 2k+1 are one person: each identify links one of them to the email.
            ...picked.slice(0, sender % 4 === 0 ? 20 : 0).map((b) => {
              const email = `${b.replace(/-b(\d+)$/, (_m, n) => `-p${Math.floor(Number(n) / 2)}`)}@example.com`
              emails.add(email)
              return identify(b, { email })
            }),
          ]
          const started = performance.now()
          const r = await sendBatch([one, two][sender % 2]!.url, batch)
          latencies.push(performance.now() - started)
          expect(r.status).toBe(200)
          accepted += r.body.accepted
        }),
      )
    }
    expect(accepted).toBe(6 * 8 * 100)
    // Statistics reach pg_stat_database when each backend reports them (within a second).
    await new Promise((r) => setTimeout(r, 1_500))
    expect(await deadlocks()).toBe(before)
    expect(Math.max(...latencies)).toBeLessThan(1_000)
    // Every person identified ends as one profile holding only its own browsers, whichever lane linked them.
    for (const email of [...emails].slice(0, 20)) {
      const person = await lookup(one.url, `email=${email}`)
      const browsers = person.identifiers.filter((x: any) => x.kind === 'anonymousId').map((x: any) => x.value)
      expect(browsers.length, email).toBeGreaterThan(0)
      for (const b of browsers) expect(Math.floor(Number(b.split('-b').pop()) / 2), `${email} ${b}`).toBe(Number(email.split('-p').pop()!.split('@')[0]))
    }
  }, 120_000)
})

/** A TCP proxy in front of PostgreSQL that the test can cut and restore. */
class Cuttable {
  private server: Server | null = null
  private sockets = new Set<Socket>()
  constructor(readonly port: number, private readonly target: { host: string; port: number }) {}
  async up(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host)
      for (const s of [client, upstream]) {
        this.sockets.add(s)
        s.on('close', () => this.sockets.delete(s))
        s.on('error', () => undefined)
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r))
  }
  async down(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()))
    this.server = null
  }
}

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise((r) => s.close(r))
  return port
}

/** Sends batches like the SDK does: keep each batch until it is acknowledged, retry on 503/429. */
async function load(url: string, stop: () => boolean) {
  const acknowledged: string[] = []
  const statuses = new Map<number, number>()
  let retryAfterSeen = false
  const worker = async () => {
    while (!stop()) {
      const a = uid('load')
      const batch = Array.from({ length: 20 }, () => track(a))
      for (;;) {
        const r = await sendBatch(url, batch).catch(() => null)
        const status = r?.status ?? 0
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
        if (r && r.status === 200) {
          acknowledged.push(...batch.map((e) => e.messageId))
          break
        }
        if (r?.status === 503 && Number(r.headers.get('retry-after')) > 0) retryAfterSeen = true
        // The SDK would wait Retry-After seconds; the test retries sooner to stay short.
        await new Promise((res) => setTimeout(res, 50))
      }
    }
  }
  await Promise.all(Array.from({ length: 6 }, worker))
  return { acknowledged, statuses, retryAfterSeen }
}

async function storedIds(url: string, ids: string[]): Promise<{ distinct: number; rows: number }> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const r = await client.query('SELECT count(DISTINCT message_id) AS d, count(*) AS n FROM events WHERE message_id = ANY($1)', [ids])
    return { distinct: Number(r.rows[0].d), rows: Number(r.rows[0].n) }
  } finally {
    await client.end()
  }
}

describe.skipIf(!PG_AVAILABLE)('PostgreSQL trouble mid-load', () => {
  it('PostgreSQL unreachable (restart) → 503 with Retry-After; after it returns, nothing acknowledged is lost', async () => {
    const db = await createDatabase('postgres')
    const pgUrl = new URL((db.config as { url: string }).url)
    const proxy = new Cuttable(await freePort(), { host: pgUrl.hostname, port: Number(pgUrl.port || 5432) })
    await proxy.up()
    const viaProxy = new URL(pgUrl)
    viaProxy.port = String(proxy.port)
    const collector = await startCollector(testConfig({ kind: 'postgres', url: viaProxy.toString(), poolSize: 4 }))
    try {
      let done = false
      const running = load(collector.url, () => done)
      await new Promise((r) => setTimeout(r, 700))
      await proxy.down() // the database "restarts": every connection drops, new ones are refused
      await new Promise((r) => setTimeout(r, 1200))
      const health = await fetch(`${collector.url}/health`)
      expect(health.status).toBe(503)
      await proxy.up()
      await new Promise((r) => setTimeout(r, 700))
      done = true
      const { acknowledged, statuses, retryAfterSeen } = await running
      expect(retryAfterSeen).toBe(true)
      expect(statuses.get(503)).toBeGreaterThan(0)
      expect([...statuses.keys()].filter((s) => s !== 200 && s !== 503)).toEqual([])
      expect(acknowledged.length).toBeGreaterThan(0)
      expect(await storedIds(db.config.kind === 'postgres' ? db.config.url : '', acknowledged)).toEqual({
        distinct: acknowledged.length,
        rows: acknowledged.length,
      })
    } finally {
      await collector.close()
      await proxy.down()
      await db.drop()
    }
  })

  it('backends terminated mid-load (pg_terminate_backend) → 503s, retried batches stored exactly once', async () => {
    const db = await createDatabase('postgres')
    const collector = await startCollector(testConfig(db.config))
    try {
      let done = false
      const running = load(collector.url, () => done)
      for (let i = 0; i < 15; i++) {
        await new Promise((r) => setTimeout(r, 60))
        await pgAdmin((c) => c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db.name]))
      }
      await new Promise((r) => setTimeout(r, 300))
      done = true
      const { acknowledged, statuses } = await running
      expect([...statuses.keys()].filter((s) => s !== 200 && s !== 503)).toEqual([])
      expect(acknowledged.length).toBeGreaterThan(0)
      expect(await storedIds((db.config as { url: string }).url, acknowledged)).toEqual({ distinct: acknowledged.length, rows: acknowledged.length })
    } finally {
      await collector.close()
      await db.drop()
    }
  })
})
