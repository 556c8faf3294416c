import type { Migration } from './migration.js'

// Erasing a person deletes the conflicts recorded for each of their identifiers: without this
// index each erasure read every conflict ever recorded, and anyone with the public write key can
// record conflicts.
export const conflictKeys: Migration = {
  version: 7,
  name: 'conflict_keys',
  sql: () => [`CREATE INDEX identity_conflicts_key ON identity_conflicts(identifier_key)`],
}
