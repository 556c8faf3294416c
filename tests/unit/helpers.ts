// Deterministic time and a scriptable collector for SDK tests.
import type { TabChannel, TabMessage } from '../../src/core/tabs'
import type { Clock, Reply, Transport, WireEvent } from '../../src/index'

/** Lets storage work (fake-indexeddb runs on real timers) finish. */
export const idle = async (rounds = 8) => {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setTimeout(resolve, 1))
}

/** A clock that only moves when the test says so; timers fire in time order. */
export function testClock(start = Date.parse('2026-11-22T10:00:00.000Z')) {
  let now = start
  let timers: { at: number; run: () => void }[] = []
  const clock: Clock = {
    now: () => now,
    later(run, ms) {
      const timer = { at: now + ms, run }
      timers.push(timer)
      return () => {
        timers = timers.filter((t) => t !== timer)
      }
    },
    random: () => 0.5,
  }
  async function advance(ms: number) {
    const end = now + ms
    await idle()
    for (;;) {
      const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0]
      if (!due) break
      timers = timers.filter((t) => t !== due)
      now = Math.max(now, due.at)
      due.run()
      await idle()
    }
    now = end
    await idle()
  }
  return { clock, advance, pendingTimers: () => timers.length }
}

export interface Request {
  events: WireEvent[]
  body: { batch: WireEvent[]; sentAt: string; writeKey: string }
  keepalive: boolean
  at: number
  status?: number
}

type Answer = Partial<Reply> | Error

/** A collector stand-in: records every request, answers 200 unless told otherwise. */
export function testCollector(now: () => number = Date.now) {
  const requests: Request[] = []
  let answer: (request: Request) => Answer = (request) => ({
    status: 200,
    body: JSON.stringify({ accepted: request.events.length, duplicates: 0, rejected: [] }),
  })
  const transport: Transport = async (_url, body, keepalive) => {
    const parsed = JSON.parse(body)
    const request = { events: parsed.batch, body: parsed, keepalive, at: now() }
    requests.push(request)
    const reply = answer(request)
    if (reply instanceof Error) throw reply
    const full = { status: 200, retryAfter: null, body: '', ...reply }
    request.status = full.status
    return full
  }
  return {
    transport,
    requests,
    answer(next: (request: Request) => Answer) {
      answer = next
    },
    /** Events in requests that were answered 2xx, in order. */
    delivered: () => requests.filter((r) => r.status! < 300).flatMap((r) => r.events),
    names: () =>
      requests.filter((r) => r.status! < 300).flatMap((r) => r.events.map((e) => e.event ?? e.name ?? e.type)),
  }
}

/** The events waiting in IndexedDB for a storage name, oldest first. */
export async function storedEvents(storageName = 'waymark'): Promise<WireEvent[]> {
  const { createStore, values } = await import('idb-keyval')
  // Stored in chunks: arrays of events keyed [first messageId, count].
  return (await values<WireEvent[]>(createStore(`${storageName}-events`, 'events'))).flat()
}

/**
 * The site's tabs, in memory: what one tab posts reaches every other open channel of the same
 * name, at the next turn of `clock` (as a BroadcastChannel delivers it later, never to itself).
 */
export function testTabs(clock: Clock) {
  const open = new Set<TabChannel & { name: string }>()
  const posted: TabMessage[] = []
  const channel = (name: string): TabChannel => {
    const self: TabChannel & { name: string } = {
      name,
      onmessage: null,
      postMessage(data) {
        posted.push(structuredClone(data))
        for (const other of open) {
          if (other !== self && other.name === name) clock.later(() => other.onmessage?.({ data: structuredClone(data) }), 0)
        }
      },
      close: () => void open.delete(self),
    }
    open.add(self)
    return self
  }
  return { channel, posted, open: () => open.size }
}
