// Tells database trouble (answer 503 + Retry-After: the client keeps the batch and retries)
// apart from everything else. Nothing is acknowledged unless its transaction committed.

export class DatabaseUnavailableError extends Error {
  constructor(readonly cause: unknown) {
    super(`database unavailable: ${cause instanceof Error ? cause.message : String(cause)}`)
  }
}

const SQLITE_TRANSIENT = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL|NOMEM|READONLY)/

/** True when the error is about reaching/using the database, not about the data sent. */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string') {
    if (SQLITE_TRANSIENT.test(code)) return true
    if (code.startsWith('SQLITE_')) return false
    // PostgreSQL SQLSTATE classes: 08 connection, 53 resources, 57 operator intervention
    // (admin shutdown, terminate backend, cannot connect now), 58 system error.
    if (/^(08|53|57|58)/.test(code)) return true
    if (/^[0-9A-Z]{5}$/.test(code)) return false
    // Node socket errors: ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, ...
    if (code.startsWith('E')) return true
  }
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable|Connection ended/i.test(
    err.message,
  )
}

/** PostgreSQL says "try again": serialization failure, deadlock, or a unique race lost. */
export function isRetryableConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return code === '40001' || code === '40P01' || code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE'
}

/** SQLite's write lock is held by another connection (the writer thread). */
export function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY')
}
