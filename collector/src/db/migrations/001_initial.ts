import type { Migration } from './migration.js'

// One schema for both databases; `t` supplies the few types that differ.
export const initial: Migration = {
  version: 1,
  name: 'initial',
  sql: (t) => [
    `CREATE TABLE profiles (
      id TEXT PRIMARY KEY,
      created_at BIGINT NOT NULL,
      user_id TEXT UNIQUE,
      email TEXT UNIQUE CHECK (email = lower(trim(email))),
      identified_at BIGINT,
      merged_into TEXT REFERENCES profiles(id) ON DELETE CASCADE CHECK (merged_into <> id),
      CHECK ((user_id IS NULL AND email IS NULL) OR identified_at IS NOT NULL),
      CHECK (merged_into IS NULL OR (user_id IS NULL AND email IS NULL))
    )`,
    `CREATE INDEX profiles_merged_into ON profiles(merged_into)`,
    `CREATE TABLE identifiers (
      key TEXT PRIMARY KEY,
      kind TEXT NOT NULL CHECK (kind IN ('anonymousId', 'userId', 'email')),
      value TEXT NOT NULL CHECK (length(value) > 0),
      profile_id TEXT NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
      created_at BIGINT NOT NULL,
      event_count BIGINT NOT NULL DEFAULT 0 CHECK (event_count >= 0),
      first_seen BIGINT,
      last_seen BIGINT,
      first_touch TEXT,
      first_touch_at BIGINT,
      last_touch TEXT,
      last_touch_at BIGINT,
      UNIQUE (kind, value),
      CHECK (key = kind || ':' || value)
    )`,
    `CREATE INDEX identifiers_profile ON identifiers(profile_id)`,
    `CREATE INDEX identifiers_value ON identifiers(value ${t.patternOps})`,
    `CREATE TABLE traits (
      identifier_key TEXT NOT NULL REFERENCES identifiers(key) ON DELETE CASCADE,
      name TEXT NOT NULL,
      value TEXT NOT NULL,
      updated_at BIGINT NOT NULL,
      PRIMARY KEY (identifier_key, name)
    )`,
    `CREATE TABLE events (
      id ${t.autoId},
      message_id TEXT NOT NULL UNIQUE,
      source TEXT NOT NULL,
      type TEXT NOT NULL CHECK (type IN ('page', 'screen', 'track', 'identify', 'alias', 'group')),
      event TEXT CHECK (type <> 'track' OR event IS NOT NULL),
      name TEXT,
      identity_key TEXT NOT NULL,
      anonymous_id TEXT,
      user_id TEXT,
      email TEXT,
      previous_id TEXT,
      session_id TEXT,
      timestamp BIGINT NOT NULL,
      original_timestamp BIGINT,
      sent_at BIGINT,
      received_at BIGINT NOT NULL,
      properties ${t.json},
      traits ${t.json},
      context ${t.json},
      browser TEXT,
      os TEXT,
      device TEXT,
      is_bot SMALLINT NOT NULL CHECK (is_bot IN (0, 1)),
      ip TEXT,
      CHECK (anonymous_id IS NOT NULL OR user_id IS NOT NULL)
    )`,
    // Timelines read newest-first per identifier; this index makes that a range scan.
    `CREATE INDEX events_identity_time ON events(identity_key, timestamp, id)`,
    `CREATE TABLE identity_conflicts (
      id ${t.autoId},
      created_at BIGINT NOT NULL,
      message_id TEXT,
      identifier_key TEXT NOT NULL,
      profile_id TEXT,
      other_profile_id TEXT,
      reason TEXT NOT NULL
    )`,
    `CREATE INDEX identity_conflicts_profile ON identity_conflicts(profile_id)`,
    `CREATE INDEX identity_conflicts_other ON identity_conflicts(other_profile_id)`,
  ],
}
