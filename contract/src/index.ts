// The one place for what the SDK, the collector and the viewer must agree on. No dependencies and
// no I/O: the SDK inlines what it uses (rollup), the viewer only its types.
export * from './identity.js'
export * from './vocabulary.js'
export type * from './read-api.js'
export * from './webhooks.js'
export type * from './analytics-api.js'
