import type { Migration } from './migration.js'

// Marketing analytics kept with the journey (journey/analytics.ts). Facts per identifier key
// (campaigns seen, orders), so a merge only re-points identifiers; what each person adds to the
// tables is kept on their journey row and added up where the tables read it.
export const analytics: Migration = {
  version: 5,
  name: 'analytics',
  sql: () => [
    // Each campaign (utm source, medium, name; '' when absent) an identifier's events carried,
    // per UTC day: the first and last time it was seen that day.
    `CREATE TABLE journey_campaigns (
      key TEXT NOT NULL,
      day BIGINT NOT NULL,
      source TEXT NOT NULL,
      medium TEXT NOT NULL,
      campaign TEXT NOT NULL,
      first_at BIGINT NOT NULL,
      last_at BIGINT NOT NULL,
      PRIMARY KEY (key, day, source, medium, campaign)
    )`,
    // One row per Order Completed event; amount in hundredths of the currency's unit.
    `CREATE TABLE journey_orders (
      key TEXT NOT NULL,
      message_id TEXT NOT NULL,
      at BIGINT NOT NULL,
      order_id TEXT,
      currency TEXT NOT NULL,
      amount BIGINT NOT NULL,
      PRIMARY KEY (key, message_id)
    )`,
    // Sums per UTC day of the moment counted (first visit, identification, becoming a customer,
    // an order), where journey_rollup sums per day of the person's first visit.
    `CREATE TABLE journey_daily (
      day BIGINT NOT NULL,
      dim TEXT NOT NULL,
      item TEXT NOT NULL,
      a BIGINT NOT NULL,
      b BIGINT NOT NULL,
      c BIGINT NOT NULL,
      PRIMARY KEY (day, dim, item)
    )`,
    `CREATE INDEX journey_daily_dim ON journey_daily(dim, day)`,
    // Per person and attribution model: first visit → identification / → becoming a customer,
    // for the campaign the person counts for; medians are read at an offset of these indexes.
    `CREATE TABLE journey_durations (
      profile_id TEXT NOT NULL,
      model TEXT NOT NULL,
      kind TEXT NOT NULL,
      campaign TEXT NOT NULL,
      first_seen BIGINT NOT NULL,
      ms BIGINT NOT NULL,
      PRIMARY KEY (profile_id, model, kind)
    )`,
    `CREATE INDEX journey_durations_ms ON journey_durations(model, kind, campaign, ms, first_seen)`,
    // Each table reads its own dimensions of the rollup: a period's campaign or score rows are
    // found without reading its pages and content (a site may have thousands of paths a day).
    `CREATE INDEX journey_rollup_dim ON journey_rollup(dim, day)`,
    // What the person adds to journey_daily and journey_durations, taken back when they change.
    `ALTER TABLE journey_people ADD COLUMN daily TEXT NOT NULL DEFAULT '[]'`,
    `ALTER TABLE journey_people ADD COLUMN durations TEXT NOT NULL DEFAULT '[]'`,
  ],
}
