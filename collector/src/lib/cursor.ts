// Opaque pagination cursors: a position as base64url JSON, checked on the way back in, since a
// client can send anything.
import { BadRequest } from './errors.js'

export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

export function decodeCursor<T>(cursor: string | undefined, check: (v: unknown) => v is T): T | null {
  if (!cursor) return null
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw new BadRequest('cursor is not valid')
  }
  if (!check(value)) throw new BadRequest('cursor is not valid')
  return value
}
