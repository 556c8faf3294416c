// What counts as an identifier, and how it is written. Pure functions; graph.ts applies them.
import type { IdentifierKind } from '../db/schema.js'

export function identifierKey(kind: IdentifierKind, value: string): string {
  return `${kind}:${value}`
}

export function kindOfKey(key: string): IdentifierKind {
  return key.slice(0, key.indexOf(':')) as IdentifierKind
}

export function valueOfKey(key: string): string {
  return key.slice(key.indexOf(':') + 1)
}

/** The identifiers one event carries, before they are looked up. */
export interface IdentityTuple {
  anonymousId: string | null
  userId: string | null
  email: string | null
  /** alias: the id the user was known by before (an anonymousId or an earlier userId). */
  previousId: string | null
}

/**
 * The identifier an event is filed under (rule 1: one profile per event). The strongest
 * identifier wins, so an event sent after login follows the person, not the device.
 */
export function eventIdentityKey(t: IdentityTuple): string {
  if (t.userId) return identifierKey('userId', t.userId)
  if (t.email) return identifierKey('email', t.email)
  return identifierKey('anonymousId', t.anonymousId!)
}

/** Identifiers of a tuple, strongest first (previousId is resolved by the graph). */
export function tupleKeys(t: IdentityTuple): string[] {
  const keys: string[] = []
  if (t.userId) keys.push(identifierKey('userId', t.userId))
  if (t.email) keys.push(identifierKey('email', t.email))
  if (t.anonymousId) keys.push(identifierKey('anonymousId', t.anonymousId))
  return keys
}
