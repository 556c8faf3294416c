import type { Migration } from './migration.js'

// Journey analytics kept in the database (see journey/worker.ts). Facts are kept per identifier
// key, so a merge only re-points identifiers; people's evaluations and the tables' sums are kept
// where indexed queries filter, sort and count them. An existing database starts with an empty
// watermark: the worker reads its events once, in the background, at start.
export const journey: Migration = {
  version: 3,
  name: 'journey',
  sql: (t) => [
    // One row. `scanned_to`: the highest event id read; `holes` (PostgreSQL): lower ids not yet
    // committed when it was read, rechecked until no transaction that could hold them is left.
    // `epoch` grows when the day or the config changes: people evaluated before it are redone.
    `CREATE TABLE journey_state (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      scanned_to BIGINT NOT NULL,
      holes TEXT NOT NULL,
      epoch BIGINT NOT NULL,
      epoch_day BIGINT NOT NULL,
      config_hash TEXT NOT NULL,
      keepers TEXT NOT NULL
    )`,
    `CREATE TABLE journey_matchers (
      id ${t.autoId},
      definition TEXT NOT NULL,
      active SMALLINT NOT NULL
    )`,
    // Rebuilds of facts for matchers or keepers added to a database that already has events.
    `CREATE TABLE journey_backfills (
      id ${t.autoId},
      matchers TEXT NOT NULL,
      keepers TEXT NOT NULL,
      cursor BIGINT NOT NULL,
      upto BIGINT NOT NULL
    )`,
    `CREATE TABLE journey_hits (
      key TEXT NOT NULL,
      matcher BIGINT NOT NULL,
      day BIGINT NOT NULL,
      n BIGINT NOT NULL,
      PRIMARY KEY (key, matcher, day)
    )`,
    `CREATE TABLE journey_touch (
      key TEXT PRIMARY KEY,
      channel TEXT NOT NULL,
      source TEXT,
      at BIGINT NOT NULL
    )`,
    `CREATE TABLE journey_items (
      key TEXT NOT NULL,
      kind TEXT NOT NULL,
      item TEXT NOT NULL,
      first_at BIGINT NOT NULL,
      first_identified SMALLINT NOT NULL,
      n BIGINT NOT NULL,
      PRIMARY KEY (key, kind, item)
    )`,
    `CREATE TABLE journey_people (
      profile_id TEXT PRIMARY KEY,
      stage_index INTEGER NOT NULL,
      score INTEGER NOT NULL,
      identified SMALLINT NOT NULL,
      channel TEXT,
      source TEXT,
      first_seen BIGINT NOT NULL,
      last_seen BIGINT NOT NULL,
      reasons TEXT NOT NULL,
      segments TEXT NOT NULL,
      contribution TEXT NOT NULL,
      stamp BIGINT NOT NULL
    )`,
    `CREATE INDEX journey_people_stage ON journey_people(stage_index, profile_id)`,
    `CREATE INDEX journey_people_stage_seen ON journey_people(stage_index, last_seen, profile_id)`,
    `CREATE INDEX journey_people_identified ON journey_people(identified, profile_id)`,
    `CREATE INDEX journey_people_last_seen ON journey_people(last_seen, profile_id)`,
    `CREATE INDEX journey_people_first_seen ON journey_people(first_seen)`,
    `CREATE INDEX journey_people_stamp ON journey_people(stamp)`,
    `CREATE TABLE journey_members (
      segment TEXT NOT NULL,
      profile_id TEXT NOT NULL,
      last_seen BIGINT NOT NULL,
      PRIMARY KEY (segment, profile_id)
    )`,
    `CREATE INDEX journey_members_seen ON journey_members(segment, last_seen, profile_id)`,
    `CREATE INDEX journey_members_profile ON journey_members(profile_id)`,
    // The tables' sums per UTC day of a person's first visit (day -1: all days together).
    `CREATE TABLE journey_rollup (
      day BIGINT NOT NULL,
      dim TEXT NOT NULL,
      item TEXT NOT NULL,
      a BIGINT NOT NULL,
      b BIGINT NOT NULL,
      c BIGINT NOT NULL,
      PRIMARY KEY (day, dim, item)
    )`,
    `CREATE TABLE journey_counts (
      name TEXT PRIMARY KEY,
      n BIGINT NOT NULL
    )`,
  ],
}
