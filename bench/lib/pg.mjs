// Whether PostgreSQL answers at `url`: the benches measure it only then.
import pg from 'pg'

export async function pgAnswers(url) {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 })
  try {
    await c.connect()
    await c.end()
    return true
  } catch {
    return false
  }
}
