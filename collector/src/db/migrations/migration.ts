// The shape of one numbered migration: SQL for each dialect, applied by ./index.ts.

/** Column types that differ between SQLite and PostgreSQL. */
export interface DialectTypes {
  autoId: string
  json: string
  patternOps: string
}

export interface Migration {
  version: number
  name: string
  sql: (t: DialectTypes) => string[]
}
