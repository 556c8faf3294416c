// Every test starts with an empty IndexedDB (fake-indexeddb: the same API, in memory) and an
// empty localStorage, like a browser profile on its first visit.
import 'fake-indexeddb/auto'
import { IDBFactory } from 'fake-indexeddb'
import { beforeEach } from 'vitest'

beforeEach(() => {
  globalThis.indexedDB = new IDBFactory()
  globalThis.localStorage?.clear() // node-environment tests (SSR, package) have none
})
