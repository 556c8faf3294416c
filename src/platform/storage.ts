// Storage adapters: IndexedDB through idb-keyval, and memory for when IndexedDB fails.
import { clear, createStore, get, promisifyRequest, set, type UseStore } from 'idb-keyval'
import type { WireEvent } from '../types'

/** Recorded events waiting for the collector, keyed and ordered by messageId (a ULID). */
export interface EventStore {
  /** Adds events in one transaction, then drops the oldest beyond `max`; resolves how many. */
  add(events: WireEvent[], max: number): Promise<number>
  oldest(limit: number): Promise<WireEvent[]>
  remove(ids: string[]): Promise<void>
  count(): Promise<number>
  clear(): Promise<void>
}

/** Small state shared by all tabs: identity, the send lease. */
export interface MetaStore {
  get<T>(key: string): Promise<T | undefined>
  set(key: string, value: unknown): Promise<void>
  /** Read-modify-write in one transaction, so tabs racing each other agree; resolves the new value. */
  update<T>(key: string, next: (current: T | undefined) => T): Promise<T>
  clear(): Promise<void>
}

// Events are stored in chunks: one record per run of at most CHUNK events written together,
// keyed [first messageId, event count]. IndexedDB's cost is per record, so a burst of 10,000
// events is 100 puts, not 10,000; the keys alone say how many events wait and in what order.
const CHUNK = 100

type ChunkKey = [string, number]

const keyOf = (events: WireEvent[]): ChunkKey => [events[0].messageId, events.length]

/**
 * Visits chunks oldest first until `done(next chunk)`; a chunk `visit` returns shorter is
 * rewritten (under a new key, as its first event or count changed) or deleted when empty.
 */
function walk(
  store: IDBObjectStore,
  visit: (events: WireEvent[]) => WireEvent[],
  done: (next: WireEvent[]) => boolean,
) {
  store.openCursor().onsuccess = function () {
    const cursor = this.result
    if (!cursor || done(cursor.value)) return
    const kept = visit(cursor.value)
    if (kept.length < cursor.value.length) {
      cursor.delete()
      if (kept.length) store.put(kept, keyOf(kept))
    }
    cursor.continue()
  }
}

const total = (keys: IDBValidKey[]) => (keys as ChunkKey[]).reduce((sum, key) => sum + key[1], 0)

export function idbEventStore(db: UseStore): EventStore {
  return {
    add: (events, max) =>
      db('readwrite', (store) => {
        let dropped = 0
        for (let i = 0; i < events.length; i += CHUNK) {
          const chunk = events.slice(i, i + CHUNK)
          store.put(chunk, keyOf(chunk))
        }
        store.getAllKeys().onsuccess = function () {
          let excess = (dropped = Math.max(0, total(this.result) - max))
          walk(
            store,
            (chunk) => {
              const kept = chunk.slice(excess)
              excess -= chunk.length - kept.length
              return kept
            },
            () => !excess,
          )
        }
        return promisifyRequest(store.transaction).then(() => dropped)
      }),
    oldest: (limit) =>
      db('readonly', (store) => {
        // An event two tabs both stored (a hand-over racing a save) is still sent once.
        const found = new Map<string, WireEvent>()
        walk(
          store,
          (chunk) => {
            for (const event of chunk) if (found.size < limit) found.set(event.messageId, event)
            return chunk
          },
          () => found.size >= limit,
        )
        return promisifyRequest(store.transaction).then(() => [...found.values()])
      }),
    remove: (ids) =>
      db('readwrite', (store) => {
        // Every copy goes. A chunk's events ascend, so none past the largest id can hold them.
        const gone = new Set(ids)
        const last = ids.reduce((max, id) => (id > max ? id : max), '')
        walk(
          store,
          (chunk) => chunk.filter((event) => !gone.has(event.messageId)),
          (next) => next[0].messageId > last,
        )
        return promisifyRequest(store.transaction)
      }),
    count: () => db('readonly', (store) => promisifyRequest(store.getAllKeys())).then(total),
    clear: () => clear(db),
  }
}

export function idbMetaStore(db: UseStore): MetaStore {
  return {
    get: (key) => get(key, db),
    set: (key, value) => set(key, value, db),
    update: <T>(key: string, next: (current: T | undefined) => T) =>
      db('readwrite', (store) => {
        let value: T
        store.get(key).onsuccess = function () {
          store.put((value = next(this.result)), key)
        }
        return promisifyRequest(store.transaction).then(() => value)
      }),
    clear: () => clear(db),
  }
}

export function memoryEventStore(): EventStore {
  const events = new Map<string, WireEvent>()
  // Only this tab writes here, and ULIDs from one monotonic factory grow: insertion order is key order.
  const ids = () => [...events.keys()]
  return {
    add: async (added, max) => {
      for (const event of added) events.set(event.messageId, event)
      const dropped = ids().slice(0, Math.max(0, events.size - max))
      for (const id of dropped) events.delete(id)
      return dropped.length
    },
    oldest: async (limit) => [...events.values()].slice(0, limit),
    remove: async (removed) => {
      for (const id of removed) events.delete(id)
    },
    count: async () => events.size,
    clear: async () => events.clear(),
  }
}

export function memoryMetaStore(): MetaStore {
  const values = new Map<string, unknown>()
  return {
    get: async <T>(key: string) => values.get(key) as T | undefined,
    set: async (key, value) => {
      values.set(key, value)
    },
    update: async <T>(key: string, next: (current: T | undefined) => T) => {
      const value = next(values.get(key) as T | undefined)
      values.set(key, value)
      return value
    },
    clear: async () => values.clear(),
  }
}

// An IndexedDB open that is blocked never settles; past this we stop waiting for it.
const FIRST_ANSWER_MS = 3000

/**
 * Serves `primary` until one of its calls fails (private mode, quota exceeded, blocked), then
 * moves to `backup` for good, redoing the failed call there so nothing is lost on the way.
 */
export function withFallback<S extends object>(
  primary: () => S,
  backup: S,
  onFail: (reason: unknown) => void,
): S {
  let current: S | undefined
  let answered = false
  const fail = (reason: unknown) => {
    if (current !== backup) onFail(reason)
    current = backup
  }
  const wrapped = {} as Record<string, unknown>
  for (const name of Object.keys(backup)) {
    wrapped[name] = (...args: unknown[]) => {
      // A store that throws instead of rejecting (no indexedDB global) rejects here.
      const call = () => new Promise((resolve) => resolve((current as any)[name](...args)))
      try {
        current ??= primary()
      } catch (reason) {
        fail(reason)
      }
      if (current === backup) return call()
      let timer: ReturnType<typeof setTimeout> | undefined
      const attempt = call()
      const guarded = answered
        ? attempt
        : Promise.race([
            attempt,
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error('IndexedDB blocked')), FIRST_ANSWER_MS)
            }),
          ])
      return guarded.then(
        (value) => {
          clearTimeout(timer)
          answered = true
          return value
        },
        (reason) => {
          clearTimeout(timer)
          fail(reason)
          return call()
        },
      )
    }
  }
  return wrapped as S
}

export interface Stores {
  events: EventStore
  meta: MetaStore
}

export function openStores(name: string, onFail: (reason: unknown) => void): Stores {
  return {
    events: withFallback(() => idbEventStore(createStore(`${name}-events`, 'events')), memoryEventStore(), onFail),
    meta: withFallback(() => idbMetaStore(createStore(`${name}-meta`, 'meta')), memoryMetaStore(), onFail),
  }
}
