// The client's identity rules (SPEC §5), in one place. Pure: ids come from the caller.
import type { Identity } from '../types'

// Values that some sites pass when they have no id; linking them would merge strangers.
const PLACEHOLDER = /^(anonymous|guest|null|undefined|none|nil|0|-1|\[object object\]|)$/i
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

export function normalizeEmail(value: unknown): string | undefined {
  const email = typeof value === 'string' ? value.trim().toLowerCase() : ''
  return EMAIL.test(email) ? email : undefined
}

export function normalizeUserId(value: unknown): string | undefined {
  const id = typeof value === 'string' || typeof value === 'number' ? String(value).trim() : ''
  return PLACEHOLDER.test(id) ? undefined : id
}

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
