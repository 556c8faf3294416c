// Identity rules (docs/contract.md, Identity): what an identifier is, written once so that an id
// the SDK accepts is one the collector stores. Before, the two disagreed and a browser that
// called identify('unknown') had every later event refused by the collector.

/** Longest anonymousId, userId or previousId the collector stores. */
export const MAX_ID_LENGTH = 256
/** Longest email (RFC 5321's path limit). */
export const MAX_EMAIL_LENGTH = 254
/**
 * Most anonymous ids (browsers, devices) one person gathers. Anyone holding the public write key
 * could otherwise attach any number to a person; beyond it a link is refused and recorded as a
 * conflict, and the new id stays a person of its own.
 */
export const MAX_ANONYMOUS_IDS = 1000

/**
 * No id at all: missing, null, or empty text (Segment-compatible browser libraries send
 * `"userId": ""` on every anonymous event). Absent, not a placeholder: the event keeps its
 * other id instead of being refused.
 */
export const isAbsentId = (value: unknown): boolean => value === undefined || value === null || (typeof value === 'string' && value.trim() === '')

/**
 * Values that clients send when they have no real id (stringified null, a default, a bug).
 * Linking on them would merge unrelated people, so they are refused, as PostHog does. Compared
 * trimmed and lower-cased.
 */
// One string split at load: 27 bytes lighter in the SDK's gzip than an array of literals.
export const PLACEHOLDER_IDS: ReadonlySet<string> = new Set(
  'anonymous,guest,null,undefined,none,nil,nan,0,-1,true,false,[object object],id,user_id,userid,anonymous_id,anonymousid,distinct_id,distinctid,email,not_authenticated,unknown'.split(','),
)

export const isPlaceholderId = (value: string): boolean => PLACEHOLDER_IDS.has(value.trim().toLowerCase())

/** One @ between two non-empty parts, no whitespace. Linear: no part can match two ways. */
const EMAIL = /^[^\s@]+@[^\s@]+$/

/** Trimmed and lower-cased; null for something that is not an email. */
export function normalizeEmail(value: unknown): string | null {
  if (typeof value !== 'string') return null
  const email = value.trim().toLowerCase()
  return email.length <= MAX_EMAIL_LENGTH && EMAIL.test(email) ? email : null
}

/**
 * A userId as the caller gave it (a number becomes its decimal text), trimmed; null for a
 * placeholder, an absent or an over-long value, which the collector would refuse or ignore.
 */
export function normalizeUserId(value: unknown): string | null {
  const id = typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)) ? String(value).trim() : ''
  return id.length <= MAX_ID_LENGTH && !isAbsentId(id) && !isPlaceholderId(id) ? id : null
}

/**
 * Did an event happen before its person was identified? Before the identifying millisecond, yes;
 * after it, no; in that millisecond, yes when the event carried no userId or email (it was
 * recorded anonymously). The timeline's badge, the journey's "before identification" counts and
 * the Person page's marker counts all follow this one rule (the SQL forms say so beside them);
 * the timeline and the markers measure a device linked later against its own link.
 */
export function isBeforeIdentification(at: number, identified: boolean, identifiedAt: number | null): boolean {
  if (identifiedAt === null || at < identifiedAt) return true
  return at === identifiedAt && !identified
}
