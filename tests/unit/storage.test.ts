// The chunked event store: one record per write of up to 100 events, keyed [first messageId, count].
import { createStore } from 'idb-keyval'
import { describe, expect, it } from 'vitest'
import { idbEventStore } from '../../src/platform/storage'
import type { WireEvent } from '../../src/types'

const event = (id: string) => ({ type: 'track', event: 'E', messageId: id, anonymousId: 'A', timestamp: '', context: {} }) as unknown as WireEvent
const ids = (events: WireEvent[]) => events.map((e) => e.messageId)

describe('chunked event store', () => {
  it('an event stored twice (two tabs, one hand-over) is read once and removed everywhere', async () => {
    const store = idbEventStore(createStore('t-events', 'events'))
    await store.add([event('01A'), event('01B'), event('01C')], 100)
    await store.add([event('01B')], 100) // the same event, written again by another tab
    await store.add([event('01D')], 100)
    expect(ids(await store.oldest(10))).toEqual(['01A', '01B', '01C', '01D'])
    await store.remove(['01A', '01B'])
    expect(ids(await store.oldest(10))).toEqual(['01C', '01D'])
    expect(await store.count()).toBe(2)
  })

  it('removes from the middle of a chunk and keeps order; trims the oldest beyond max', async () => {
    const store = idbEventStore(createStore('t-events', 'events'))
    const many = Array.from({ length: 250 }, (_, i) => event(`01${String(i).padStart(4, '0')}`))
    expect(await store.add(many, 240)).toBe(10)
    expect(await store.count()).toBe(240)
    await store.remove(['010050', '010150'])
    const left = ids(await store.oldest(1000))
    expect(left).toHaveLength(238)
    expect(left[0]).toBe('010010')
    expect(left).not.toContain('010050')
    expect([...left].sort()).toEqual(left)
  })
})
