// Versioned migrations, applied in order at start. Each runs in its own transaction and is
// recorded in schema_migrations; on PostgreSQL an advisory lock lets several collector
// processes start at once without racing.
//
// Not Kysely's Migrator: on SQLite it runs migrations outside any transaction (its SQLite
// adapter reports no transactional DDL) and takes no lock, so a start interrupted halfway
// through a migration, or two processes starting on one file, leaves a schema that is neither
// version. Here SQLite takes BEGIN IMMEDIATE: a migration is applied whole or not at all.
import { sql } from 'kysely'
import type { Db, Dialect } from '../schema.js'
import { initial } from './001_initial.js'
import { segments } from './002_segments.js'
import { journey } from './003_journey.js'
import { webhooks } from './004_webhooks.js'
import { analytics } from './005_analytics.js'
import { shares } from './006_shares.js'
import { conflictKeys } from './007_conflict_keys.js'

import type { DialectTypes, Migration } from './migration.js'

export type { DialectTypes, Migration }

export const migrations: Migration[] = [initial, segments, journey, webhooks, analytics, shares, conflictKeys]

const TYPES: Record<Dialect, DialectTypes> = {
  sqlite: { autoId: 'INTEGER PRIMARY KEY AUTOINCREMENT', json: 'TEXT', patternOps: '' },
  postgres: { autoId: 'BIGSERIAL PRIMARY KEY', json: 'JSONB', patternOps: 'text_pattern_ops' },
}

/** Arbitrary constant naming the migration advisory lock on PostgreSQL. */
const MIGRATION_LOCK = 72_617_001

export async function migrate(db: Db, dialect: Dialect): Promise<number[]> {
  return db.connection().execute(async (conn) => {
    if (dialect === 'postgres') await sql`SELECT pg_advisory_lock(${MIGRATION_LOCK})`.execute(conn)
    try {
      await sql`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`.execute(conn)
      const done = new Set(
        (await conn.selectFrom('schema_migrations').select('version').execute()).map((r) => Number(r.version)),
      )
      const applied: number[] = []
      for (const m of migrations) {
        if (done.has(m.version)) continue
        await sql.raw(dialect === 'sqlite' ? 'BEGIN IMMEDIATE' : 'BEGIN').execute(conn)
        try {
          for (const statement of m.sql(TYPES[dialect])) await sql.raw(statement).execute(conn)
          await conn
            .insertInto('schema_migrations')
            .values({ version: m.version, name: m.name, applied_at: Date.now() })
            .execute()
          await sql.raw('COMMIT').execute(conn)
        } catch (err) {
          await sql.raw('ROLLBACK').execute(conn)
          throw err
        }
        applied.push(m.version)
      }
      return applied
    } finally {
      if (dialect === 'postgres') await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`.execute(conn)
    }
  })
}
