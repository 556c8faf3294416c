// Consent as asked and as applied. A consent() call applies once the calls queued before it have
// run (they were made under the earlier state), but an event recorded after the call must
// already follow it: so the state asked for is known at once, and the applied one follows.
import type { ConsentState } from '../types'

export const CONSENT_STATES: ConsentState[] = ['granted', 'denied', 'pending']

/** What applying a consent state does to the stored data and the queue. */
export interface ConsentEffects {
  /** Granted: store what was held, keep the identity, send. */
  release(): void
  /** Pending or denied: keep events in memory only. */
  hold(): void
  /** Denied: drop queued and stored events and every stored trace of the visitor. */
  wipe(): void
}

export function applyConsent(state: ConsentState, effects: ConsentEffects): void {
  if (state === 'granted') return effects.release()
  effects.hold()
  if (state === 'denied') effects.wipe()
}
