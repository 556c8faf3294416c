// Re-exports for process.test.ts, plus a sendBatch that takes an explicit Authorization.
export * from './helpers.js'
export { startCollector } from '../src/server.js'
import { post, type Sent } from './helpers.js'

export async function sendBatch(url: string, batch: unknown[], extra: Record<string, unknown> = {}, auth?: string): Promise<Sent> {
  return post(url, '/v1/batch', { batch, sentAt: new Date().toISOString(), ...extra }, auth ? { auth } : {})
}
