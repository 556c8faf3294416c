import type { Migration } from './migration.js'

// Kept by journey keepers as events arrive (journey/shares.ts, journey/device-links.ts), so the
// share table and the Person page's device markers are indexed reads, never a pass over events.
// Identity keys in them go with the person on erasure (the keepers' `forget`).
export const shares: Migration = {
  version: 6,
  name: 'shares',
  sql: () => [
    // One row per share token: what was shared, on which network, by which identity key.
    `CREATE TABLE share_links (
      token TEXT PRIMARY KEY,
      content TEXT NOT NULL,
      network TEXT NOT NULL,
      sharer TEXT NOT NULL,
      at BIGINT NOT NULL
    )`,
    `CREATE INDEX share_links_sharer ON share_links(sharer)`,
    // Page views that arrived with a token, per arriving identity key and UTC day. A visit may
    // arrive before its share (queues, clocks): it waits here and is counted when the share comes.
    `CREATE TABLE share_visits (
      token TEXT NOT NULL,
      visitor TEXT NOT NULL,
      day BIGINT NOT NULL,
      first_at BIGINT NOT NULL,
      first_identified SMALLINT NOT NULL,
      n BIGINT NOT NULL,
      PRIMARY KEY (token, visitor, day)
    )`,
    `CREATE INDEX share_visits_visitor ON share_visits(visitor)`,
    `CREATE INDEX share_visits_day ON share_visits(day)`,
    // Shares and counted visits per UTC day (day -1: all days), by content and network.
    `CREATE TABLE share_totals (
      day BIGINT NOT NULL,
      content TEXT NOT NULL,
      network TEXT NOT NULL,
      shares BIGINT NOT NULL,
      visits BIGINT NOT NULL,
      PRIMARY KEY (day, content, network)
    )`,
    // When an anonymous id was first seen on an event with a userId or email: the moment its
    // device joined an identified person.
    `CREATE TABLE device_links (
      key TEXT PRIMARY KEY,
      at BIGINT NOT NULL
    )`,
  ],
}
