// createTracker: wires the core (queue, identity, delivery) to the platform adapters.
import { applyConsent, CONSENT_STATES } from './core/consent'
import { createDelivery, type Clock } from './core/delivery'
import { draft, plain, stamp } from './core/events'
import { identifyWith, normalizeEmail, normalizeUserId } from './core/identity'
import { identityStore } from './core/identity-store'
import { tabLock } from './core/lock'
import { createQueue } from './core/queue'
import type { Report } from './core/report'
import { broadcastChannel, heirOf, joinTabs, type TabChannel } from './core/tabs'
import { ulidFactory } from './core/ulid'
import { fetchTransport, type Transport } from './platform/network'
import { doNotTrack, environment, hasWindow, onHide, pageContext } from './platform/page'
import { openStores, type Stores } from './platform/storage'
import type {
  ConsentState,
  EventDraft,
  Identity,
  IdentifyInput,
  Properties,
  Tracker,
  TrackerHost,
  TrackerOptions,
  WireEvent,
} from './types'
import { VERSION } from './version'

/** What the tracker needs from the outside world; tests replace any part. */
export interface Platform {
  clock: Clock
  transport: Transport
  stores: Stores
  /** The channel to the site's other tabs (by name); none: this tab is alone. */
  channel: (name: string) => TabChannel | undefined
}

const systemClock: Clock = {
  now: () => Date.now(),
  later: (run, ms) => {
    const timer = setTimeout(run, ms)
    return () => clearTimeout(timer)
  },
  random: Math.random,
}

const noop = () => {}

/** A tracker that records nothing: for server-side rendering, Do Not Track, unusable options. */
export function inertTracker(): Tracker {
  return {
    page: noop,
    track: noop,
    identify: noop,
    alias: noop,
    reset: noop,
    consent: noop,
    flush: async () => ({ sent: 0, pending: 0 }),
    user: () => ({ anonymousId: '' }),
    ready: async () => ({ anonymousId: '' }),
    shutdown: async () => {},
    shareUrl: (_network, url = '') => url,
  }
}

export function createTracker(options: TrackerOptions, platform: Partial<Platform> = {}): Tracker {
  if (!hasWindow()) return inertTracker()
  const log = (...args: unknown[]) => options.debug && console.info('[waymark]', ...args)
  const report: Report = (code, message, messageIds) => {
    log(code, message)
    try {
      options.onError?.({ code, message, ...(messageIds && { messageIds }) })
    } catch {
      // the host's callback must not break the SDK either
    }
  }
  try {
    if (!options?.collector || !options.writeKey) {
      report('invalid_call', 'collector and writeKey are required')
      return inertTracker()
    }
    if (options.respectDoNotTrack && doNotTrack()) {
      log('Do Not Track: nothing recorded')
      return inertTracker()
    }
    return startTracker(options, platform, log, report)
  } catch (reason) {
    report('invalid_call', `createTracker failed: ${reason}`)
    return inertTracker()
  }
}

function startTracker(
  options: TrackerOptions,
  platform: Partial<Platform>,
  log: (...args: unknown[]) => void,
  report: Report,
): Tracker {
  const o = { batchSize: 50, flushInterval: 2000, maxQueue: 10_000, storageName: 'waymark', ...options }
  // Batches of no event (0, or NaN from a mistyped data- attribute) would never send anything.
  if (!(o.batchSize >= 1)) o.batchSize = 50
  const clock = platform.clock ?? systemClock
  const newId = ulidFactory()
  // Set once storage failed: this tab's queue is then in its memory, where no other tab sees it.
  let memoryOnly = false
  const stores =
    platform.stores ??
    openStores(o.storageName, (reason) => {
      memoryOnly = true
      report('storage_unavailable', `memory only: ${reason}`)
    })
  const env = environment(VERSION)
  const enrichers: ((event: EventDraft) => void)[] = []
  const consentListeners: ((state: ConsentState) => void)[] = []
  const cleanups: (() => void)[] = []
  let consent: ConsentState = o.consent ?? 'granted'
  // The state the latest consent() call asked for: it applies once the calls before it have run,
  // but an event recorded after it must already follow it.
  let consentAsked = consent
  const kept = identityStore(stores.meta, o.storageName, o.cookieDomain)
  // Known at once: a page left before IndexedDB answers still records under it.
  const known = kept.copy({ anonymousId: newId() })
  let identity: Identity = known

  const tab = newId()
  const queue = createQueue({
    store: stores.events,
    maxQueue: o.maxQueue,
    clock,
    report,
    saved: (count) => delivery.schedule(count >= o.batchSize ? 0 : o.flushInterval),
  })
  const delivery = createDelivery({
    url: `${o.collector.replace(/\/+$/, '')}/v1/batch`,
    writeKey: o.writeKey,
    batchSize: o.batchSize,
    flushInterval: o.flushInterval,
    store: stores.events,
    transport: platform.transport ?? fetchTransport,
    lock: tabLock(`waymark:${o.storageName}`, stores.meta, clock.now, tab),
    clock,
    canSend: () => consent === 'granted',
    report,
    acknowledged: (ids) => {
      queue.acknowledged(ids)
      tabs.post({ acknowledged: ids })
    },
  })
  if (consent !== 'granted') queue.hold()

  // Calls made before the stored identity is known wait here, in order, until it is known or
  // the page hides (then the identity known at once has to do).
  let waiting: (() => void)[] | undefined = []
  const whenReady = (step: () => void) => (waiting ? waiting.push(step) : guard(step))
  const runWaiting = () => {
    const steps = waiting ?? []
    waiting = undefined
    steps.forEach(guard)
  }
  const guard = (step: () => void) => {
    try {
      step()
    } catch (reason) {
      report('invalid_call', `${reason}`)
    }
  }

  // Read after the calls made in the same tick (the loader stub's replay): a consent('pending')
  // among them must find nothing written.
  const ready = Promise.resolve()
    .then(() => kept.load(consentAsked === 'granted', () => identity))
    .then((stored) => {
      // Unless a call run early (the page hid first) or another tab changed it since we read it:
      // their change is on its way to storage too.
      if (identity === known) identity = stored
      if (consentAsked === 'granted') kept.remember(identity)
    })
    .catch((reason) => report('storage_unavailable', `identity not loaded: ${reason}`))
    .then(() => {
      runWaiting()
      delivery.drain(false) // what earlier page loads left behind
    })

  function setIdentity(next: Identity) {
    identity = next
    if (consent !== 'granted') return
    kept.save(identity)
    tabs.post({ identity })
    kept.remember(identity)
  }

  // The site's other live tabs: identity changes and acknowledgements reach them, and a closing
  // tab can leave its last events to one of them.
  const tabs = joinTabs((platform.channel ?? broadcastChannel)(`waymark:${o.storageName}`), tab, {
    identity: (next) => (identity = next),
    acknowledged: (ids) => {
      queue.acknowledged(ids)
      delivery.settle(ids)
    },
    adopt: (events) => stores.events.add(events, o.maxQueue).then(() => delivery.schedule(0), noop),
    mayStore: () => consent === 'granted',
  })

  /** Captures an event at call time; identity and storage follow once ready. */
  function record(fields: Pick<WireEvent, 'type'> & Partial<EventDraft>, beforeRecord?: (event: EventDraft) => void) {
    if (consentAsked === 'denied') return
    const event = draft(fields, newId(clock.now()), clock.now(), { ...env, page: pageContext() })
    for (const step of enrichers) step(event)
    whenReady(() => {
      beforeRecord?.(event)
      const wire = stamp(event, identity)
      const kept = o.beforeSend ? plain(o.beforeSend(wire)) : wire
      if (kept) {
        // Storage is keyed by it: a write without one would fail and move the queue to memory.
        // (Throws, and is reported, when beforeSend returned no object.)
        kept.messageId ||= wire.messageId
        queue.push(kept)
      }
    })
  }

  const invalid = (message: string) => report('invalid_call', message)

  const tracker: Tracker = {
    page(name, properties) {
      record({ type: 'page', name, properties: { ...pageContext(), ...properties } })
    },
    track(event, properties) {
      if (typeof event !== 'string' || !event) return invalid('track needs an event name')
      record({ type: 'track', event, properties: properties ?? {} })
    },
    identify(input, traits) {
      const claim: IdentifyInput =
        typeof input === 'string' ? (input.includes('@') ? { email: input } : { userId: input }) : (input ?? {})
      const email = normalizeEmail(claim.email) ?? undefined
      const userId = normalizeUserId(claim.userId) ?? undefined
      if ((claim.email && !email) || (claim.userId && !userId) || !(email || userId)) {
        return invalid('identify needs a valid email or userId') // never echoed: it may be an email
      }
      const allTraits: Properties = { ...claim.traits, ...traits }
      if (email) allTraits.email = email
      record({ type: 'identify', userId, traits: allTraits }, () => {
        const next = identifyWith(identity, { email, userId }, newId())
        if (next.anonymousId !== identity.anonymousId) log('another person: new anonymousId')
        setIdentity(next)
      })
    },
    alias(userId, previousId) {
      const id = normalizeUserId(userId)
      if (!id) return invalid('alias needs a userId')
      record({ type: 'alias', userId: id }, (event) => {
        event.previousId = previousId || identity.userId || identity.anonymousId
        setIdentity({ ...identity, userId: id })
      })
    },
    reset() {
      whenReady(() => setIdentity({ anonymousId: newId() }))
    },
    consent(state) {
      if (!CONSENT_STATES.includes(state)) return invalid(`consent must be one of ${CONSENT_STATES}`)
      consentAsked = state
      whenReady(() => {
        consent = state
        applyConsent(state, {
          release() {
            setIdentity(identity)
            queue.release()
            delivery.schedule(0) // what earlier pages left stored, even if nothing waited here
            tabs.greet()
          },
          hold() {
            queue.hold()
            tabs.bye()
          },
          wipe() {
            queue.wipe().catch(noop)
            kept.forget()
            identity = { anonymousId: newId() }
          },
        })
        consentListeners.forEach((listener) => guard(() => listener(state)))
      })
    },
    async flush() {
      const before = delivery.sent()
      await ready
      await queue.save()
      await delivery.drain(true) // an explicit flush does not wait out a retry backoff
      const stored = consent === 'granted' ? await stores.events.count() : 0
      return { sent: delivery.sent() - before, pending: stored + queue.unsaved().length }
    },
    user() {
      const { anonymousId, userId, email } = identity
      return { anonymousId, ...(userId && { userId }), ...(email && { email }) }
    },
    ready: () => new Promise((resolve) => whenReady(() => resolve(tracker.user()))),
    async shutdown() {
      const result = await tracker.flush()
      log('shut down, pending:', result.pending)
      delivery.stop()
      cleanups.forEach((cleanup) => cleanup())
      tabs.bye()
      tabs.close()
    },
  }

  const host: TrackerHost = {
    tracker,
    enrich: (step) => enrichers.push(step),
    now: clock.now,
    options: o,
    consent: () => consent,
    onConsent: (listener) => consentListeners.push(listener),
  }
  // One autotracker failing to install costs that autotracker only.
  for (const install of o.autotrack ?? []) {
    guard(() => {
      const uninstall = install(host)
      if (uninstall) cleanups.push(uninstall)
    })
  }
  // Started denied: what earlier pages stored is wiped as on a denial (autotrackers' state too).
  if (consent === 'denied') tracker.consent(consent)
  // Registered after the autotrackers, so what they record as the page hides (engaged time)
  // is part of what is handed over.
  cleanups.push(
    onHide(
      (leaving) => {
        if (waiting) {
          // Left before IndexedDB answered: what was recorded goes under the identity known now,
          // kept for the next page load (storing a new id in IndexedDB may not outlive the page).
          runWaiting()
          if (consent === 'granted') kept.remember(identity)
        }
        if (consent !== 'granted') return
        const heir = heirOf(tabs.peers)
        if (heir && !memoryOnly) {
          // Another tab lives on and sends what is stored: one of them takes over what is not
          // stored yet, as its only writer (two writers would store the events twice, and a
          // keepalive request here would race that tab the same way). A queue in this tab's
          // memory is seen by no other tab: it leaves here.
          tabs.post({ adopt: queue.takeUnsaved(), heir })
        } else {
          queue.save()
          delivery.sendBeforeExit(queue.unacknowledged())
        }
        if (leaving) tabs.bye()
      },
      tabs.greet,
    ),
  )
  return guarded(tracker, report)
}

const inert = inertTracker() as unknown as Record<string, () => unknown>

/** The host page sees a tracker whose methods never throw. */
function guarded(tracker: Tracker, report: Report): Tracker {
  const safe = {} as Record<string, unknown>
  for (const [name, method] of Object.entries(tracker) as [string, (...args: unknown[]) => unknown][]) {
    safe[name] = (...args: unknown[]) => {
      const fail = (reason: unknown) => {
        report('invalid_call', `${name} failed: ${reason}`)
        return inert[name]()
      }
      try {
        const result = method(...args)
        return result instanceof Promise ? result.catch(fail) : result
      } catch (reason) {
        return fail(reason)
      }
    }
  }
  return safe as unknown as Tracker
}
