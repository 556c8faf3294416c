import type { Migration } from './migration.js'

// Segments created through the API. Segments from the journey config file are not
// stored: the file is their source of truth. `definition` is the checked condition as JSON.
export const segments: Migration = {
  version: 2,
  name: 'segments',
  sql: (t) => [
    `CREATE TABLE segments (
      id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64 AND id = lower(id)),
      name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      description TEXT,
      definition ${t.json} NOT NULL,
      created_at BIGINT NOT NULL
    )`,
  ],
}
