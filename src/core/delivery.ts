// Delivery: moves stored events to the collector and deletes them only once acknowledged.
import type { EventStore } from '../platform/storage'
import type { Reply, Transport } from '../platform/network'
import type { WireEvent } from '../types'
import { encodeBatches, idsOf, MAX_BATCH_BYTES, MAX_BEACON_BYTES, type EncodedBatch } from './events'
import type { Lock } from './lock'
import type { Report } from './report'

export interface Clock {
  now(): number
  /** Runs `run` after `ms`; returns a cancel function. */
  later(run: () => void, ms: number): () => void
  random(): number
}

export interface DeliveryOptions {
  url: string
  writeKey: string
  batchSize: number
  flushInterval: number
  store: EventStore
  transport: Transport
  lock: Lock
  clock: Clock
  /** False while consent is not granted: nothing leaves the page then. */
  canSend(): boolean
  report: Report
  /** Told of every acknowledged messageId. */
  acknowledged(ids: string[]): void
}

/** What one reply means for the events it answered. */
export type Verdict = 'delivered' | 'retry' | 'split' | 'halt'

export function verdict(status: number): Verdict {
  if (status >= 200 && status < 300) return 'delivered'
  // The key or the address is wrong: sending more would fail the same way; keep the events.
  if (status === 401 || status === 403 || status === 404) return 'halt'
  if (status === 408 || status === 429 || status >= 500) return 'retry'
  // 400, 413, 422…: something in the batch is refused. Halve it until the culprit stands alone.
  return 'split'
}

// Far more than one tab's acknowledgements in the moments around a tab's death.
const MAX_SETTLED = 10_000

const BASE_DELAY_MS = 1000
const MAX_DELAY_MS = 60_000

/** Exponential backoff with jitter, never sooner than the collector's Retry-After. */
export function backoff(failures: number, retryAfter: string | null, now: number, random: number): number {
  const exponential = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (failures - 1)) * (0.5 + random / 2)
  const seconds = Number(retryAfter)
  const asked = retryAfter === null ? 0 : isNaN(seconds) ? Date.parse(retryAfter) - now : seconds * 1000
  return Math.max(exponential, asked || 0)
}

function rejectedIds(reply: Reply, events: WireEvent[]): string[] {
  try {
    const rejected: { index?: number; messageId?: string }[] = JSON.parse(reply.body).rejected || []
    return rejected.map((r) => r.messageId || events[r.index as number]?.messageId).filter(Boolean) as string[]
  } catch {
    return [] // a Segment-compatible endpoint need not answer in JSON
  }
}

export function createDelivery(o: DeliveryOptions) {
  const { clock, store } = o
  const inFlight = new Set<string>()
  // Acknowledged lately, by this tab or another: a tab that died before its removal committed
  // leaves them stored, and they must not go out again.
  const settled = new Set<string>()
  // Events the collector accepted: not those dropped as too large or refused.
  let sent = 0
  let failures = 0
  let retryAt = 0
  let halted = false
  let cancelTimer: (() => void) | undefined
  let timerAt = Infinity
  let running: Promise<void> | undefined
  let rerun: Promise<void> | undefined

  function schedule(ms: number) {
    // Nothing is sent inside a backoff, so no timer may fire before it ends.
    const at = Math.max(clock.now() + ms, retryAt)
    if (at >= timerAt) return
    cancelTimer?.()
    timerAt = at
    cancelTimer = clock.later(() => {
      timerAt = Infinity
      drain(false)
    }, at - clock.now())
  }

  async function drop(events: WireEvent[], why: string) {
    const ids = idsOf(events)
    o.acknowledged(ids)
    await store.remove(ids)
    o.report('rejected', `dropped, ${why}`, ids)
  }

  async function send(batch: EncodedBatch, keepalive: boolean): Promise<Verdict> {
    const ids = idsOf(batch.events)
    ids.forEach((id) => inFlight.add(id))
    let reply: Reply | undefined
    try {
      reply = await o.transport(o.url, batch.body, keepalive)
    } catch (reason) {
      o.report('network', `${reason}`)
    }
    const result = reply ? verdict(reply.status) : 'retry'
    if (result === 'delivered') {
      failures = 0
      // Delivered from this moment on, whatever storage is still doing: a page that leaves
      // before the removal commits must not hand these events over again.
      settle(ids)
      o.acknowledged(ids)
      const refused = new Set(rejectedIds(reply!, batch.events))
      sent += ids.length - refused.size
      if (refused.size) {
        o.report('rejected', `${refused.size} refused`, [...refused])
      }
      await store.remove(ids).finally(() => ids.forEach((id) => inFlight.delete(id)))
      return result
    }
    ids.forEach((id) => inFlight.delete(id))
    if (result === 'retry') {
      retryAt = clock.now() + backoff(++failures, reply?.retryAfter ?? null, clock.now(), clock.random())
      schedule(retryAt - clock.now())
    } else if (result === 'halt') {
      halted = true
      o.report('unauthorized', `${reply!.status}: sending stopped`)
    }
    return result
  }

  async function sendStored(startBefore: number) {
    let limit = o.batchSize
    let cleared = false
    while (!halted && o.canSend()) {
      // Woken inside a backoff, or the lock's time is up: a timer goes on (after the backoff).
      if (clock.now() < retryAt || clock.now() >= startBefore) return schedule(0)
      const read = await store.oldest(limit)
      const stale = idsOf(read.filter((e) => settled.has(e.messageId)))
      if (stale.length) await store.remove(stale)
      const events = read.filter((e) => !inFlight.has(e.messageId) && !settled.has(e.messageId))
      if (!events.length) {
        if (stale.length && !cleared) {
          cleared = true // look past them once; never spin on a removal that did not take
          continue
        }
        return
      }
      const { batches, oversized } = encodeBatches(events, o.writeKey, new Date(clock.now()).toISOString(), MAX_BATCH_BYTES)
      if (oversized.length) await drop(oversized, 'over 32 KB')
      const batch = batches[0]
      // Consent may have been withdrawn while storage answered: the loop then ends here.
      if (!batch || !o.canSend()) continue
      const result = await send(batch, false)
      if (result === 'split' && batch.events.length === 1) await drop(batch.events, 'refused')
      else if (result === 'split') limit = Math.ceil(batch.events.length / 2)
      else if (result === 'delivered') limit = o.batchSize
      else return
    }
  }

  /**
   * Sends what is stored, in this tab if no other tab is sending. `now` (an explicit flush)
   * waits for the lock and skips the retry backoff.
   */
  function drain(now: boolean): Promise<void> {
    if (!o.canSend()) return Promise.resolve()
    // Once more after the run in progress (it may have read the store before these events
    // arrived), however many ask while it runs.
    if (running && !now) {
      rerun ??= running.then(() => {
        rerun = undefined
        return drain(false)
      })
      return rerun
    }
    const run = (running ?? Promise.resolve())
      .then(() => {
        if (now) retryAt = 0 // after the attempt before us, which may have set a backoff
        return o.lock(sendStored, now)
      })
      // Another tab is sending; our events may have arrived after it read the store.
      .then((sent) => {
        if (!sent) schedule(o.flushInterval)
      })
      .catch((reason) => o.report('storage_unavailable', `${reason}`))
      .finally(() => {
        if (running === run) running = undefined
      })
    return (running = run)
  }

  /**
   * The page is going away: hand `events` to keepalive requests now, without waiting for
   * storage or the lock. They stay stored until acknowledged, so a page that dies before the
   * answer resends them on the next load (the collector's messageId dedupe drops the copy).
   */
  function sendBeforeExit(events: WireEvent[]) {
    if (halted || !o.canSend()) return
    const waiting = events.filter((e) => !inFlight.has(e.messageId))
    const now = new Date(clock.now()).toISOString()
    for (const batch of encodeBatches(waiting, o.writeKey, now, MAX_BEACON_BYTES).batches) {
      send(batch, true).catch(() => {}) // the page is leaving: nobody is left to tell
    }
  }

  /** Remembers acknowledged ids (bounded: the oldest are forgotten first). */
  function settle(ids: string[]) {
    for (const id of ids) settled.add(id)
    for (const id of settled) {
      if (settled.size <= MAX_SETTLED) break
      settled.delete(id)
    }
  }

  return {
    drain,
    schedule,
    sendBeforeExit,
    settle,
    sent: () => sent,
    stop: () => {
      halted = true
      cancelTimer?.()
    },
  }
}

export type Delivery = ReturnType<typeof createDelivery>
