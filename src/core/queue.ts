// The durable queue: events count as recorded once they are in the store.
import type { EventStore } from '../platform/storage'
import type { WireEvent } from '../types'
import type { Clock } from './delivery'
import type { Report } from './report'

export interface QueueOptions {
  store: EventStore
  maxQueue: number
  clock: Clock
  report: Report
  /** Told how many events were just made durable. */
  saved(count: number): void
}

export function createQueue(o: QueueOptions) {
  // Recorded by this tab, not yet in the store: a burst of calls is written in one transaction.
  let unsaved: WireEvent[] = []
  // Recorded by this tab, not yet acknowledged: what a leaving page still has to hand over.
  const unacknowledged = new Map<string, WireEvent>()
  let held = false
  let scheduled = false
  let saving: Promise<void> = Promise.resolve()
  const overflowed = (dropped: number) => o.report('queue_overflow', `${dropped} oldest dropped`)

  function save(): Promise<void> {
    scheduled = false
    if (held || !unsaved.length) return saving
    const events = unsaved
    unsaved = []
    saving = saving
      .then(() => o.store.add(events, o.maxQueue))
      .then(
        (dropped) => {
          if (dropped) overflowed(dropped)
          o.saved(events.length)
        },
        (reason) => o.report('storage_unavailable', `not stored: ${reason}`),
      )
    return saving
  }

  return {
    push(event: WireEvent) {
      unsaved.push(event)
      unacknowledged.set(event.messageId, event)
      // Bounded like the store: the oldest entries are the ones overflow dropped.
      if (unacknowledged.size > o.maxQueue) unacknowledged.delete(unacknowledged.keys().next().value as string)
      if (!held && !scheduled) {
        scheduled = true
        o.clock.later(save, 0)
      } else if (held && unsaved.length > 2 * o.maxQueue) {
        // Consent pending for long: the queue lives here alone, and is bounded like the store
        // (trimmed by the half, so the cost is spread over many calls).
        overflowed(unsaved.splice(0, unsaved.length - o.maxQueue).length)
      }
    },
    save,
    acknowledged(ids: string[]) {
      for (const id of ids) unacknowledged.delete(id)
    },
    unacknowledged: () => [...unacknowledged.values()],
    unsaved: () => unsaved,
    /** Hands the unsaved events to someone else, who becomes their only writer. */
    takeUnsaved() {
      const taken = unsaved
      unsaved = []
      return taken
    },
    /** Consent pending: keep events in memory only. */
    hold() {
      held = true
    },
    release() {
      held = false
      return save()
    },
    /** Consent denied: forget everything, stored or not. */
    wipe() {
      unsaved = []
      unacknowledged.clear()
      return saving.then(() => o.store.clear())
    },
  }
}

export type Queue = ReturnType<typeof createQueue>
