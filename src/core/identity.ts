// The client's identity rules (docs/contract.md, Identity). Pure: ids come from the caller. What an
// email or a userId is comes from the contract the collector checks with, so an id accepted here
// is never refused there.
import type { Identity } from '../types'

export { normalizeEmail, normalizeUserId } from '@waymark/contract'

/** Identifiers a caller asks to identify with, already normalized. */
export interface Claim {
  email?: string
  userId?: string
}

/**
 * Rule 4: an identified browser that is handed a *different* email or userId belongs to a
 * different person now (shared device, logout without reset), so it starts a new anonymous
 * identity instead of linking the two people.
 */
export function conflicts(current: Identity, claim: Claim): boolean {
  return (
    (!!claim.email && !!current.email && claim.email !== current.email) ||
    (!!claim.userId && !!current.userId && claim.userId !== current.userId)
  )
}

/** The identity after an identify call; `newAnonymousId` is used only on a conflict. */
export function identifyWith(current: Identity, claim: Claim, newAnonymousId: string): Identity {
  const base = conflicts(current, claim) ? { anonymousId: newAnonymousId } : current
  return {
    anonymousId: base.anonymousId,
    userId: claim.userId || base.userId,
    email: claim.email || base.email,
  }
}
