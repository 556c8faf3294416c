// The tracker's parts on their own: the tabs protocol over an in-memory channel, consent's
// effects, and where the identity is kept. Time is the test clock: no sleeps.
import { afterEach, describe, expect, it } from 'vitest'
import { applyConsent, type ConsentEffects } from '../../src/core/consent'
import { identityStore } from '../../src/core/identity-store'
import { heirOf, joinTabs, type TabHandlers } from '../../src/core/tabs'
import { memoryMetaStore } from '../../src/platform/storage'
import type { ConsentState, Identity, WireEvent } from '../../src/types'
import { testClock, testTabs } from './helpers'

function tabOn(hub: ReturnType<typeof testTabs>, id: string, mayStore = () => true) {
  const seen = { identities: [] as Identity[], acknowledged: [] as string[][], adopted: [] as WireEvent[][] }
  const handlers: TabHandlers = {
    identity: (identity) => seen.identities.push(identity),
    acknowledged: (ids) => seen.acknowledged.push(ids),
    adopt: (events) => seen.adopted.push(events),
    mayStore,
  }
  return { ...joinTabs(hub.channel('waymark:site'), id, handlers), seen }
}

const events = (...ids: string[]) => ids.map((messageId) => ({ messageId }) as WireEvent)

describe('tabs', () => {
  it('the heir is the lowest live id, whatever the order the tabs were met in', () => {
    expect(heirOf(new Set(['01C', '01A', '01B']))).toBe('01A')
    expect(heirOf(new Set())).toBeUndefined()
  })

  it('tabs that may store meet each other (hello, hello back); a bye takes a tab out', async () => {
    const time = testClock()
    const hub = testTabs(time.clock)
    const a = tabOn(hub, '01A')
    const b = tabOn(hub, '01B')
    await time.advance(0)
    expect([...a.peers]).toEqual(['01B'])
    expect([...b.peers]).toEqual(['01A'])
    const c = tabOn(hub, '01C')
    await time.advance(0)
    expect([...c.peers].sort()).toEqual(['01A', '01B'])
    expect([...a.peers].sort()).toEqual(['01B', '01C'])
    b.bye()
    await time.advance(0)
    expect([...a.peers]).toEqual(['01C'])
    expect([...c.peers]).toEqual(['01A'])
  })

  it('a tab that may not store (consent pending) says no hello, so it is never named heir', async () => {
    const time = testClock()
    const hub = testTabs(time.clock)
    let granted = false
    const waiting = tabOn(hub, '01A', () => granted)
    const closing = tabOn(hub, '01B')
    await time.advance(0)
    expect(heirOf(closing.peers)).toBeUndefined()
    expect([...waiting.peers]).toEqual(['01B']) // it still hears the others
    granted = true
    waiting.greet()
    await time.advance(0)
    expect(heirOf(closing.peers)).toBe('01A')
  })

  it('left events reach the named heir alone, and only while it may store them', async () => {
    const time = testClock()
    const hub = testTabs(time.clock)
    let heirMayStore = true
    const heir = tabOn(hub, '01A', () => heirMayStore)
    const other = tabOn(hub, '01C')
    const closing = tabOn(hub, '01B')
    await time.advance(0)
    closing.post({ adopt: events('e1', 'e2'), heir: heirOf(closing.peers)! })
    await time.advance(0)
    expect(heir.seen.adopted).toEqual([events('e1', 'e2')])
    expect(other.seen.adopted).toEqual([])
    heirMayStore = false // denied in the meantime: it would drop them
    closing.post({ adopt: events('e3'), heir: '01A' })
    await time.advance(0)
    expect(heir.seen.adopted).toHaveLength(1)
  })

  it('identity changes and acknowledgements reach every other tab; a closed tab can still be called', async () => {
    const time = testClock()
    const hub = testTabs(time.clock)
    const a = tabOn(hub, '01A')
    const b = tabOn(hub, '01B')
    a.post({ identity: { anonymousId: 'X', email: 'a@b.co' } })
    a.post({ acknowledged: ['m1', 'm2'] })
    await time.advance(0)
    expect(b.seen.identities).toEqual([{ anonymousId: 'X', email: 'a@b.co' }])
    expect(b.seen.acknowledged).toEqual([['m1', 'm2']])
    expect(a.seen.identities).toEqual([]) // not to itself
    a.close()
    expect(hub.open()).toBe(1)
    expect(() => (a.post({ bye: '01A' }), a.bye(), a.greet())).not.toThrow()
  })

  it('without a channel (no BroadcastChannel) a tab is alone and every call still works', () => {
    const alone = joinTabs(undefined, '01A', { identity() {}, acknowledged() {}, adopt() {}, mayStore: () => true })
    expect(() => (alone.greet(), alone.post({ hello: '01A' }), alone.bye(), alone.close())).not.toThrow()
    expect(alone.peers.size).toBe(0)
  })
})

describe('consent effects', () => {
  const effectsOf = (state: ConsentState) => {
    const done: string[] = []
    const effects: ConsentEffects = { release: () => done.push('release'), hold: () => done.push('hold'), wipe: () => done.push('wipe') }
    applyConsent(state, effects)
    return done
  }

  it('granted releases; pending holds; denied holds and wipes', () => {
    expect(effectsOf('granted')).toEqual(['release'])
    expect(effectsOf('pending')).toEqual(['hold'])
    expect(effectsOf('denied')).toEqual(['hold', 'wipe'])
  })
})

describe('identity store', () => {
  afterEach(() => {
    localStorage.clear()
    document.cookie = 'wm_aid=; max-age=0; path=/'
  })

  it('a first visit gets the fresh identity; a remembered one is known at once on the next load', () => {
    const meta = memoryMetaStore()
    const fresh = { anonymousId: 'FRESH' }
    expect(identityStore(meta, 'site', undefined).copy(fresh)).toBe(fresh)
    identityStore(meta, 'site', undefined).remember({ anonymousId: 'KEPT', userId: 'u1' })
    expect(identityStore(meta, 'site', undefined).copy(fresh)).toEqual({ anonymousId: 'KEPT', userId: 'u1' })
    expect(identityStore(meta, 'other', undefined).copy(fresh)).toBe(fresh) // per storage name
  })

  it('load stores the fallback when allowed to keep, and only reads when not', async () => {
    const kept = memoryMetaStore()
    expect(await identityStore(kept, 'site').load(true, () => ({ anonymousId: 'NEW' }))).toEqual({ anonymousId: 'NEW' })
    expect(await kept.get('identity')).toEqual({ anonymousId: 'NEW' })
    const held = memoryMetaStore()
    expect(await identityStore(held, 'site').load(false, () => ({ anonymousId: 'NEW' }))).toEqual({ anonymousId: 'NEW' })
    expect(await held.get('identity')).toBeUndefined()
  })

  it("the subdomains' cookie outranks the origin's storage; forget clears every copy", async () => {
    document.cookie = 'wm_aid=SITEWIDE; path=/'
    const meta = memoryMetaStore()
    await meta.set('identity', { anonymousId: 'ORIGIN', email: 'a@b.co' })
    const store = identityStore(meta, 'site', 'example.com')
    expect(await store.load(true, () => ({ anonymousId: 'NEW' }))).toEqual({ anonymousId: 'SITEWIDE' })
    store.remember({ anonymousId: 'SITEWIDE' })
    store.forget()
    await Promise.resolve()
    expect(await meta.get('identity')).toBeUndefined()
    expect(localStorage.getItem('site:identity')).toBeNull()
  })
})
