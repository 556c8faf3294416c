// The three statements of the event write path, as fixed SQL texts. Each group's rows, per-identifier
// statistics and traits travel as parameters (row values, or one JSON array), so every
// statement is prepared once — on SQLite by the writer thread, on PostgreSQL as a named statement
// — instead of being compiled afresh with one placeholder per value for every group.
import { IDENTITY_LOCK } from '../identity/graph.js'
import type { EventRow } from './normalize.js'

export const COLUMNS = [
  'message_id', 'source', 'type', 'event', 'name', 'identity_key', 'anonymous_id', 'user_id', 'email',
  'previous_id', 'session_id', 'timestamp', 'original_timestamp', 'sent_at', 'received_at', 'properties',
  'traits', 'context', 'browser', 'os', 'device', 'is_bot', 'ip',
] as const satisfies ReadonlyArray<keyof EventRow>

const JSON_COLUMNS: ReadonlySet<string> = new Set(['properties', 'traits', 'context'])
const BIGINT_COLUMNS: ReadonlySet<string> = new Set(['timestamp', 'original_timestamp', 'sent_at', 'received_at'])

/** One stats entry: [key, count, first, last, firstTouch, firstTouchAt, lastTouch, lastTouchAt]. */
export type StatsEntry = [string, number, number, number, string | null, number | null, string | null, number | null]
/** One trait: [identifierKey, name, JSON value, updatedAt]. */
export type TraitEntry = [string, string, string, number]

export interface WriteStatements {
  /** SQLite: one row's values (COLUMNS order). PostgreSQL: $1 = JSON array of such rows; returns message_id. */
  insert: string
  /** One JSON array of StatsEntry; returns the keys it updated. */
  stats: string
  /** One JSON array of TraitEntry. */
  traits: string
}

// Every SET expression reads the row as it was before the UPDATE, in both databases.
const firstTouchWins = `s.fta IS NOT NULL AND (identifiers.first_touch_at IS NULL OR identifiers.first_touch_at > s.fta)`
const lastTouchWins = `s.lta IS NOT NULL AND (identifiers.last_touch_at IS NULL OR identifiers.last_touch_at <= s.lta)`
const statsUpdate = (source: string, lockedOnly = '') => `UPDATE identifiers SET
  event_count = identifiers.event_count + s.n,
  first_seen = CASE WHEN identifiers.first_seen IS NULL OR identifiers.first_seen > s.f THEN s.f ELSE identifiers.first_seen END,
  last_seen = CASE WHEN identifiers.last_seen IS NULL OR identifiers.last_seen < s.l THEN s.l ELSE identifiers.last_seen END,
  first_touch = CASE WHEN ${firstTouchWins} THEN s.ft ELSE identifiers.first_touch END,
  first_touch_at = CASE WHEN ${firstTouchWins} THEN s.fta ELSE identifiers.first_touch_at END,
  last_touch = CASE WHEN ${lastTouchWins} THEN s.lt ELSE identifiers.last_touch END,
  last_touch_at = CASE WHEN ${lastTouchWins} THEN s.lta ELSE identifiers.last_touch_at END
FROM (${source}) AS s
WHERE identifiers.key = s.k${lockedOnly}
RETURNING identifiers.key`

// Last write wins per trait, by corrected event time: a late, older identify cannot overwrite a newer value.
const traitsUpsert = (source: string) => `INSERT INTO traits (identifier_key, name, value, updated_at) ${source}
ON CONFLICT (identifier_key, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
WHERE excluded.updated_at >= traits.updated_at`

const pgInsert = `INSERT INTO events (${COLUMNS.join(', ')})
SELECT ${COLUMNS.map((c) => `r.${c}${JSON_COLUMNS.has(c) ? '::jsonb' : ''}`).join(', ')}
FROM jsonb_to_recordset($1::jsonb) AS r(${COLUMNS.map((c) => `${c} ${BIGINT_COLUMNS.has(c) ? 'bigint' : c === 'is_bot' ? 'smallint' : 'text'}`).join(', ')})
ON CONFLICT (message_id) DO NOTHING
RETURNING message_id`
const pgStats = (param: string) =>
  `SELECT value->>0 AS k, (value->>1)::bigint AS n, (value->>2)::bigint AS f, (value->>3)::bigint AS l, value->>4 AS ft, (value->>5)::bigint AS fta, value->>6 AS lt, (value->>7)::bigint AS lta FROM jsonb_array_elements(${param}::jsonb)`

/**
 * PostgreSQL statistics: no deadlock by construction. Linking (identity/graph.ts) re-points
 * identifier rows in the order its events come, under the identity lock held exclusively; so the
 * statistics first take that lock shared (the one-time filter runs before any row is locked),
 * then lock their rows in key order (LockRows above the sort; NO KEY, as the UPDATE itself
 * would), whatever join the planner picks.
 * Statistics thus never hold a row a link waits for, and wait on each other in one order.
 * (Updated in join order without the lock, a statistics update and a merge deadlocked.)
 */
const pgLockedStats = (param: string) => `lk AS (SELECT pg_advisory_xact_lock_shared(${IDENTITY_LOCK})),
st AS (${pgStats(param)}),
locked AS (SELECT key FROM identifiers WHERE key IN (SELECT k FROM st) AND EXISTS (SELECT 1 FROM lk) ORDER BY key FOR NO KEY UPDATE)`
const pgStatsUpdate = statsUpdate('SELECT * FROM st', ' AND identifiers.key IN (SELECT key FROM locked)')

/**
 * PostgreSQL, the usual group in one statement (one round trip, no BEGIN/COMMIT): the events
 * ($1) and their statistics computed as if all are new ($2), all or nothing. $3 is the number
 * of events, $4 the anonymousId keys that must exist. If some event was a duplicate or an
 * anonymous identifier vanished (an erasure), the division by zero fails the whole statement
 * (SQLSTATE 22012, ALL_OR_NOTHING_REFUSED) and the group is written by the exact, transactional path.
 */
export const PG_ALL_OR_NOTHING = `WITH ins AS (${pgInsert}),
${pgLockedStats('$2')},
upd AS (${pgStatsUpdate})
SELECT 1 / (CASE WHEN (SELECT count(*) FROM ins) = $3
  AND (SELECT count(*) FROM upd WHERE upd.key = ANY($4::text[])) = cardinality($4::text[]) THEN 1 ELSE 0 END) AS ok`
export const ALL_OR_NOTHING_REFUSED = '22012'

/** SQLite's writer thread also creates new browsers (rule 1): a profile (id, created_at), then its identifier (key, value, profile_id, created_at). */
export interface SqliteStatements extends WriteStatements {
  profile: string
  browser: string
}

export const STATEMENTS: { sqlite: SqliteStatements; postgres: WriteStatements } = {
  sqlite: {
    profile: 'INSERT INTO profiles (id, created_at) VALUES (?, ?)',
    browser: `INSERT INTO identifiers (key, kind, value, profile_id, created_at) VALUES (?, 'anonymousId', ?, ?, ?)`,
    insert: `INSERT INTO events (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')}) ON CONFLICT (message_id) DO NOTHING`,
    stats: statsUpdate(
      `SELECT value->>0 AS k, value->>1 AS n, value->>2 AS f, value->>3 AS l, value->>4 AS ft, value->>5 AS fta, value->>6 AS lt, value->>7 AS lta FROM json_each(?)`,
    ),
    // "WHERE true" tells SQLite's parser that ON CONFLICT belongs to the INSERT.
    traits: traitsUpsert(`SELECT value->>0, value->>1, value->>2, value->>3 FROM json_each(?) WHERE true`),
  },
  postgres: {
    insert: pgInsert,
    stats: `WITH ${pgLockedStats('$1')}
${pgStatsUpdate}`,
    traits: traitsUpsert(`SELECT value->>0, value->>1, value->>2, (value->>3)::bigint FROM jsonb_array_elements($1::jsonb)`),
  },
}
