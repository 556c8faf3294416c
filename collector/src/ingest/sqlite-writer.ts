// SQLite event writes run on their own thread. better-sqlite3 is synchronous: on the main thread
// every insert and COMMIT stalled HTTP parsing, validation and answers (measured: ~45% of the
// main thread under load, while the second core sat mostly idle). The writer thread holds its
// own connection; SQLite's one write lock still orders it with identity writes and erasures made
// on the main connection. A request is answered only after the thread reports its COMMIT.
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import type Database from 'better-sqlite3'
import { SQLITE_PRAGMAS, type Store } from '../db/connect.js'
import { newProfileId } from '../identity/graph.js'
import { STATEMENTS, type SqliteStatements, type StatsEntry, type TraitEntry } from './statements.js'

/**
 * Event rows packed for the thread: every string value concatenated into one `text`, and per
 * value its length in `lens` (-1 for null, -2 for the next number of `nums`); `width` values
 * make a row. One string and two typed arrays cross to the thread far cheaper than the
 * structured clone of many small arrays (measured: postMessage took ~16% of the main thread),
 * and, unlike one JSON text of the rows, nothing is escaped and parsed again: the JSON columns
 * are strings already, and JSON.stringify escaped each of their quotes a second time (measured:
 * the JSON text cost ~2.5× as much per row on the main thread, ~6× on the writer thread).
 */
export interface PackedRows {
  width: number
  text: string
  lens: Int32Array
  nums: Float64Array
}

/** Packs the `columns` of rows of strings, numbers and nulls (anything else is stored as null, as JSON did). */
export function packRows<K extends string>(rows: ReadonlyArray<Readonly<Record<K, unknown>>>, columns: readonly K[]): PackedRows {
  const lens = new Int32Array(rows.length * columns.length)
  const nums = new Float64Array(rows.length * columns.length)
  // += builds a rope, flattened once when posted: cheaper than collecting and joining (measured)
  let text = ''
  let i = 0
  let n = 0
  for (const row of rows) {
    for (const c of columns) {
      const v = row[c]
      if (typeof v === 'string') (text += v), (lens[i++] = v.length)
      else if (typeof v === 'number' && Number.isFinite(v)) (nums[n++] = v), (lens[i++] = -2)
      else lens[i++] = -1
    }
  }
  return { width: columns.length, text, lens, nums: nums.slice(0, n) }
}

export interface WriteJob {
  /** The event rows, each the values in COLUMNS order (message_id first). */
  rows: PackedRows
  /** Statistics of all rows, as if every one is new (JSON array of StatsEntry). */
  stats: string
  /** anonymousId keys among the stats: the thread creates those that do not exist (rule 1). */
  anonymousKeys: string[]
  /** JSON array of TraitEntry, or null. */
  traits: string | null
}

/** Committed; or rolled back because some rows were duplicates (the statistics assumed none). */
export type WriteResult = { committed: true } | { duplicates: string[] }

export type { StatsEntry, TraitEntry }

/**
 * Applies one job in one transaction. Runs inside the writer thread, where it arrives as source
 * text: it must not use anything from outside its own body and its arguments.
 */
export function jobRunner(db: Database.Database, text: SqliteStatements, newProfileId: () => string): (job: WriteJob) => WriteResult {
  const begin = db.prepare('BEGIN IMMEDIATE')
  const commit = db.prepare('COMMIT')
  const rollback = db.prepare('ROLLBACK')
  const insert = db.prepare(text.insert)
  const stats = db.prepare(text.stats).pluck()
  const traits = db.prepare(text.traits)
  const profile = db.prepare(text.profile)
  const browser = db.prepare(text.browser)
  return (job) => {
    begin.run()
    try {
      const duplicates: string[] = []
      // Unpacks PackedRows (see packRows) into one reused array: each row is bound at once.
      const { width, text: all, lens, nums } = job.rows
      const row: unknown[] = new Array(width)
      for (let i = 0, at = 0, n = 0; i < lens.length; ) {
        for (let c = 0; c < width; c++, i++) {
          const len = lens[i]!
          if (len >= 0) (row[c] = all.slice(at, at + len)), (at += len)
          else row[c] = len === -2 ? nums[n++] : null
        }
        // spread, not the array: better-sqlite3 then reads each value as an argument rather
        // than through v8::Object::Get (measured: ~7% of the thread)
        if (insert.run(...row).changes === 0) duplicates.push(row[0] as string)
      }
      if (duplicates.length) {
        rollback.run()
        return { duplicates }
      }
      const updated = new Set(stats.all(job.stats) as string[])
      const unknown = job.anonymousKeys.filter((k) => !updated.has(k))
      if (unknown.length) {
        // Rule 1: a browser seen for the first time (or erased since) is a profile of its own.
        // Made here, under the write lock this transaction holds, so nothing can race it, and
        // without the identity step's lookup and transaction on the main thread (measured: the
        // largest part of a realistic event's cost over a flat one, see bench/README.md).
        const now = Date.now()
        for (const key of unknown) {
          const id = newProfileId()
          profile.run(id, now)
          browser.run(key, key.slice(key.indexOf(':') + 1), id, now)
        }
        const made = new Set(unknown)
        stats.all(JSON.stringify((JSON.parse(job.stats) as StatsEntry[]).filter((s) => made.has(s[0]))))
      }
      if (job.traits) traits.run(job.traits)
      commit.run()
      return { committed: true }
    } catch (err) {
      if (db.inTransaction) rollback.run()
      throw err
    }
  }
}

// The profile id rule travels as source too (it uses globals only).
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads')
var __name = (f) => f // in case the runner's source was compiled with keepNames
const Database = require(workerData.driver)
const db = new Database(workerData.file)
for (const p of workerData.pragmas) db.pragma(p)
const run = (${jobRunner.toString()})(db, workerData.statements, ${newProfileId.toString()})
parentPort.on('message', (m) => {
  if (m === 'close') { db.close(); parentPort.close(); return }
  try { parentPort.postMessage({ id: m.id, result: run(m.job) }) }
  catch (err) { parentPort.postMessage({ id: m.id, error: { message: String(err && err.message), code: err && err.code } }) }
})`

/** Where a group's job goes: the writer thread, or (for an in-memory database) this thread. */
export interface JobWriter {
  write(job: WriteJob): Promise<WriteResult>
  close(): Promise<void>
}

const writers = new WeakMap<Store, JobWriter>()

/** The event writer of a SQLite store (null on PostgreSQL): made on first use, closed with the store. */
export function writerOf(store: Store): JobWriter | null {
  if (!store.sqlite) return null
  let writer = writers.get(store)
  if (!writer) {
    const { connection, file, gate } = store.sqlite
    const made = file === ':memory:' ? inThreadWriter(connection, STATEMENTS.sqlite) : new SqliteWriter(file, SQLITE_PRAGMAS, STATEMENTS.sqlite)
    store.onClose(() => made.close())
    // Each job takes its turn with this thread's transactions (db/gate.ts).
    writers.set(store, (writer = { write: (job) => gate.job(() => made.write(job)), close: () => made.close() }))
  }
  return writer
}

/** An in-memory database lives in one connection only: there, the jobs run on this thread. */
export function inThreadWriter(db: Database.Database, statements: SqliteStatements): JobWriter {
  let run: ((job: WriteJob) => WriteResult) | null = null // prepared on first use: after the migrations
  return { write: async (job) => (run ??= jobRunner(db, statements, newProfileId))(job), close: async () => undefined }
}

interface Pending {
  resolve: (r: WriteResult) => void
  reject: (err: Error) => void
}

export class SqliteWriter implements JobWriter {
  private worker: Worker | null = null
  private readonly pending = new Map<number, Pending>()
  private nextId = 0

  constructor(
    private readonly file: string,
    private readonly pragmas: string[],
    private readonly statements: SqliteStatements,
  ) {}

  write(job: WriteJob): Promise<WriteResult> {
    const worker = (this.worker ??= this.start())
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      worker.postMessage({ id, job })
    })
  }

  /** Waits for the thread to close its connection. Call after the last write was answered. */
  async close(): Promise<void> {
    const worker = this.worker
    if (!worker) return
    this.worker = null
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
    worker.postMessage('close')
    await exited
  }

  private start(): Worker {
    const worker = new Worker(THREAD, {
      eval: true,
      workerData: { file: this.file, pragmas: this.pragmas, statements: this.statements, driver: createRequire(import.meta.url).resolve('better-sqlite3') },
    })
    worker.on('message', (m: { id: number; result?: WriteResult; error?: { message: string; code?: string } }) => {
      const p = this.pending.get(m.id)
      this.pending.delete(m.id)
      if (m.error) p?.reject(Object.assign(new Error(m.error.message), { code: m.error.code }))
      else p?.resolve(m.result!)
    })
    // A thread that dies takes its answers with it: those requests get 503, the next write starts a new one.
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = null
      for (const p of this.pending.values()) p.reject(Object.assign(new Error(`SQLite writer thread stopped: ${err.message}`), { code: 'SQLITE_IOERR' }))
      this.pending.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)))
    return worker
  }
}
