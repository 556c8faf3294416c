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

export function idbEventStore(db: UseStore): EventStore {
  return {
    add: (events, max) =>
      db('readwrite', (store) => {
        let dropped = 0
        for (const event of events) store.put(event, event.messageId)
        store.count().onsuccess = function () {
          dropped = Math.max(0, this.result - max)
          if (dropped) {
            store.getAllKeys(null, dropped).onsuccess = function () {
              store.delete(IDBKeyRange.upperBound(this.result[dropped - 1]))
            }
          }
        }
        return promisifyRequest(store.transaction).then(() => dropped)
      }),
    oldest: (limit) => db('readonly', (store) => promisifyRequest(store.getAll(null, limit))),
    remove: (ids) =>
      db('readwrite', (store) => {
        for (const id of ids) store.delete(id)
        return promisifyRequest(store.transaction)
      }),
    count: () => db('readonly', (store) => promisifyRequest(store.count())),
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
              timer = setTimeout(() => reject(new Error('IndexedDB did not answer')), FIRST_ANSWER_MS)
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
