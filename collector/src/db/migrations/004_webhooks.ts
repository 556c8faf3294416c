import type { Migration } from './migration.js'

// Webhooks (see webhooks/): subscriptions, and the outbox of deliveries written in the journey
// worker's transaction together with the change that causes them.
export const webhooks: Migration = {
  version: 4,
  name: 'webhooks',
  sql: (t) => [
    // `from_event`: the highest event id stored when the subscription was made. Changes caused
    // by events up to it are history, never sent. `triggers` is the checked JSON object.
    `CREATE TABLE webhook_subscriptions (
      id TEXT PRIMARY KEY,
      url TEXT NOT NULL,
      secret TEXT NOT NULL,
      triggers TEXT NOT NULL,
      source TEXT NOT NULL CHECK (source IN ('config', 'api')),
      created_at BIGINT NOT NULL,
      from_event BIGINT NOT NULL
    )`,
    // `seq` orders a person's deliveries; `id` (msg_…) is what the receiver sees, the same on
    // every attempt. `payload` is the exact body signed and sent. A claim holds `lease_until`
    // so no two processes send one delivery at once.
    `CREATE TABLE webhook_deliveries (
      seq ${t.autoId},
      id TEXT NOT NULL UNIQUE,
      subscription_id TEXT NOT NULL,
      person_key TEXT NOT NULL,
      kind TEXT NOT NULL,
      payload TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
      attempts INTEGER NOT NULL,
      created_at BIGINT NOT NULL,
      next_attempt_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL,
      lease_until BIGINT NOT NULL,
      lease_owner TEXT,
      last_attempt_at BIGINT,
      last_status INTEGER,
      last_error TEXT,
      last_body TEXT,
      delivered_at BIGINT
    )`,
    // Due rows, oldest first; a person's earlier pending delivery; a subscription's history;
    // finished rows by age, for the retention sweep.
    `CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at, seq) WHERE status = 'pending'`,
    `CREATE INDEX webhook_deliveries_person ON webhook_deliveries(subscription_id, person_key, seq) WHERE status = 'pending'`,
    `CREATE INDEX webhook_deliveries_list ON webhook_deliveries(subscription_id, seq)`,
    `CREATE INDEX webhook_deliveries_finished ON webhook_deliveries(created_at) WHERE status <> 'pending'`,
    // The journey's epoch at the last change of config or facts (not of the day): a person
    // evaluated before it who changes without an event of their own changed because the
    // definitions did, which is history, not news (journey/people.ts changesOf).
    `ALTER TABLE journey_state ADD COLUMN changed_epoch BIGINT NOT NULL DEFAULT 0`,
  ],
}
