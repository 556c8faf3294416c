// The npm entry. Importing it touches no browser global, so server-side rendering is safe.
export { createTracker, inertTracker, type Platform } from './tracker'
export { normalizeEmail } from './core/identity'
export type { Clock } from './core/delivery'
export type { Transport, Reply } from './platform/network'
export type { EventStore, MetaStore, Stores } from './platform/storage'
export { memoryEventStore, memoryMetaStore } from './platform/storage'
export * from './types'
export { VERSION } from './version'
