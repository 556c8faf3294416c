/**
 * Runs `fn` and returns what it returns, or undefined if it throws: nothing of ours may break the
 * host page (a malformed href or action, blocked or full storage: that one thing is not done).
 */
export function attempt<T>(fn: () => T): T | undefined {
  try {
    return fn()
  } catch {
    return undefined
  }
}
