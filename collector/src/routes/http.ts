// What every route answers the same way: who is asking (write key, admin token) and how a
// database outage is told (503 + Retry-After: the client keeps what it sent and retries).
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply } from 'fastify'

/** Seconds a client should wait before retrying when the database cannot be reached. */
export const UNAVAILABLE_RETRY_AFTER = 5

/** The user part of `Authorization: Basic base64(user:password)`: how Segment clients send a write key. */
export function basicAuthUser(header: string | undefined): string | null {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '')
  if (!m) return null
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon === -1 ? decoded : decoded.slice(0, colon)
}

/** Compares a presented secret with ours in constant time; digests first, so its length leaks neither. */
export function safeEqual(a: string, b: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(a), digest(b))
}

/** The answer while the database cannot be reached. */
export function unavailable(reply: FastifyReply, body: Record<string, unknown>, retryAfter = UNAVAILABLE_RETRY_AFTER): FastifyReply {
  return reply.code(503).header('Retry-After', String(retryAfter)).send(body)
}
