// Opens the configured database behind one Kysely instance, so every typed query in the
// collector runs unchanged on SQLite (embedded, zero setup) and PostgreSQL (shared by processes).
import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely'
import pg from 'pg'
import type { DB, Db, Dialect } from './schema.js'
import { isBusy } from './errors.js'
import { WriteGate } from './gate.js'
import { migrate } from './migrations/index.js'

export type DatabaseConfig =
  | { kind: 'sqlite'; file: string }
  | { kind: 'postgres'; url: string; poolSize: number }

export interface Store {
  db: Db
  dialect: Dialect
  /**
   * SQLite: the main connection and its file, for writers with a connection of their own
   * (ingest/sqlite-writer.ts), and the gate their jobs pass with this thread's transactions.
   */
  sqlite: { connection: Database.Database; file: string; gate: WriteGate } | null
  /** `fn` runs when the store closes, before the database does (latest registered first). */
  onClose(fn: () => Promise<void>): void
  /**
   * Runs `fn` in one transaction on one connection. SQLite takes the write lock up front, after
   * the writer thread's jobs ahead of it (WriteGate) and without SQLite's wait, which would block
   * this thread: if another process holds the lock, it tries again a moment later, off the loop.
   */
  transaction<T>(fn: (trx: Db) => Promise<T>): Promise<T>
  ping(): Promise<void>
  close(): Promise<void>
}

const INT8_OID = 20

/**
 * Per-connection SQLite settings, for every connection that writes (also the writer thread's,
 * and the benchmark's raw-insert floor). WAL: readers never block the writer. NORMAL sync is
 * durable across process crashes (an OS crash or power loss may drop the last commits), the
 * usual trade for an event store. The auto-checkpoint is only a bound on the WAL size (~40 MB):
 * checkpoints run in a worker thread (see startCheckpointer).
 */
const SQLITE_BUSY_TIMEOUT = 'busy_timeout = 5000'
export const SQLITE_PRAGMAS = ['journal_mode = WAL', 'synchronous = NORMAL', SQLITE_BUSY_TIMEOUT, 'foreign_keys = ON', 'wal_autocheckpoint = 10000']

export async function openStore(config: DatabaseConfig, onPoolError?: (err: Error) => void): Promise<Store> {
  let db: Db
  let sqlite: Database.Database | null = null
  let checkpointer: Worker | null = null
  if (config.kind === 'sqlite') {
    if (config.file !== ':memory:') mkdirSync(dirname(config.file), { recursive: true })
    sqlite = new Database(config.file)
    for (const pragma of SQLITE_PRAGMAS) sqlite.pragma(pragma)
    if (config.file !== ':memory:') {
      // Checkpoints (copying the WAL into the database file, with an fsync) run in a worker
      // thread, not in the commit that happens to cross the threshold: measured here they
      // took ~60% of the writer's time and stalled the event loop.
      checkpointer = startCheckpointer(config.file)
    }
    // Kysely prepares every query afresh; better-sqlite3 statements are reusable, so keep
    // them (profiling showed preparing at ~10% of ingest CPU).
    const raw = sqlite
    const statements = new Map<string, Database.Statement>()
    db = new Kysely<DB>({
      dialect: new SqliteDialect({
        database: {
          prepare: (text: string) => {
            let stmt = statements.get(text)
            if (!stmt) {
              if (statements.size >= 1000) statements.clear()
              stmt = raw.prepare(text)
              statements.set(text, stmt)
            }
            return stmt
          },
          close: () => raw.close(),
        } as unknown as Database.Database,
      }),
    })
  } else {
    const pool = new pg.Pool({
      connectionString: config.url,
      max: config.poolSize,
      connectionTimeoutMillis: 5000,
      // BIGINT columns hold epoch milliseconds and counts: safe as JS numbers.
      types: {
        getTypeParser: ((oid: number, format?: string) =>
          oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
      },
    })
    // An idle client whose backend dies (restart, pg_terminate_backend) emits 'error' on the
    // pool; without a listener Node would crash the process.
    pool.on('error', (err) => onPoolError?.(err))
    // A client that is checked out when its backend dies emits 'error' on itself; the query
    // in progress fails (and its request answers 503), but the event must not go unheard.
    pool.on('connect', (client) => {
      client.on('error', (err) => onPoolError?.(err))
      // Every query here is a short indexed one; JIT compiles plans the planner guesses are
      // costly and only added time (261 ms of compilation seen in one People page read). A SET,
      // not a startup option, which poolers such as PgBouncer refuse; queued before any query.
      client.query('SET jit = off').catch(() => undefined)
    })
    db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) })
  }
  const dialect: Dialect = config.kind === 'sqlite' ? 'sqlite' : 'postgres'
  const local = sqlite && config.kind === 'sqlite' ? { connection: sqlite, file: config.file, gate: new WriteGate() } : null
  const closers: Array<() => Promise<void>> = []
  const store: Store = {
    db,
    dialect,
    sqlite: local,
    onClose: (fn) => void closers.unshift(fn),
    transaction: async (fn) => (local ? local.gate.transaction(() => sqliteTransaction(db, fn)) : (await inTransaction(db, pgBegin, fn))!.result),
    ping: async () => {
      await sql`SELECT 1`.execute(db)
    },
    close: async () => {
      for (const close of closers) await close()
      await db.destroy()
      if (checkpointer) await stopCheckpointer(checkpointer)
    },
  }
  try {
    await migrate(db, dialect)
  } catch (err) {
    await store.close().catch(() => undefined)
    throw err
  }
  return store
}

/** `fn` in one transaction on one connection, opened by `begin` (false: not opened, try again). */
const inTransaction = <T>(db: Db, begin: (conn: Db) => Promise<boolean>, fn: (trx: Db) => Promise<T>) =>
  db.connection().execute(async (conn): Promise<{ result: T } | null> => {
    if (!(await begin(conn))) return null
    try {
      const result = await fn(conn)
      await sql.raw('COMMIT').execute(conn)
      return { result }
    } catch (err) {
      await sql.raw('ROLLBACK').execute(conn).catch(() => undefined)
      throw err
    }
  })

const pgBegin = async (conn: Db) => (await sql.raw('BEGIN').execute(conn), true)

/**
 * SQLite, from the event loop's thread: the write lock is asked for without SQLite's wait. Busy
 * (another process writes), it tries again a moment later, off the loop and off the connection,
 * for as long in all as SQLite's own wait would.
 */
async function sqliteTransaction<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  const until = performance.now() + 5_000
  const begin = async (conn: Db) => {
    await sql.raw('PRAGMA busy_timeout = 0').execute(conn)
    try {
      await sql.raw('BEGIN IMMEDIATE').execute(conn)
      return true
    } catch (err) {
      if (!isBusy(err) || performance.now() > until) throw err
      return false
    } finally {
      await sql.raw(`PRAGMA ${SQLITE_BUSY_TIMEOUT}`).execute(conn)
    }
  }
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    const done = await inTransaction(db, begin, fn)
    if (done) return done.result
    await new Promise((resolve) => setTimeout(resolve, delay))
  }
}

const CHECKPOINT_EVERY_MS = 200

function startCheckpointer(file: string): Worker {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     const Database = require(workerData.driver)
     const db = new Database(workerData.file)
     db.pragma('busy_timeout = 1000')
     // PASSIVE never blocks the writer or readers; it copies what it can.
     const checkpoint = (mode) => { try { db.pragma('wal_checkpoint(' + mode + ')') } catch {} }
     const timer = setInterval(() => checkpoint('PASSIVE'), workerData.every)
     parentPort.on('message', () => {
       clearInterval(timer)
       checkpoint('TRUNCATE')
       db.close()
       parentPort.close()
     })`,
    { eval: true, workerData: { file, driver: createRequire(import.meta.url).resolve('better-sqlite3'), every: CHECKPOINT_EVERY_MS } },
  )
  worker.unref()
  return worker
}

async function stopCheckpointer(worker: Worker): Promise<void> {
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  // Held while closing: an unref'd worker would let the process end before its final checkpoint.
  worker.ref()
  worker.postMessage('stop')
  await exited
}
