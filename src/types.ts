// The typed contract of the SDK: options in, events out. Nothing here runs.
import type { Campaign } from '@waymark/contract'

export type ConsentState = 'granted' | 'denied' | 'pending'

export type Properties = Record<string, unknown>

export interface PageContext {
  url: string
  path: string
  search: string
  title: string
  referrer: string
}

export type { Campaign }

export interface EventContext {
  library: { name: 'waymark'; version: string }
  page?: PageContext
  campaign?: Campaign
  sessionId?: string
  userAgent?: string
  locale?: string
  timezone?: string
  screen?: { width: number; height: number; density: number }
  [key: string]: unknown
}

/** One event in the Segment-spec shape it travels in (docs/contract.md, Wire format). */
export interface WireEvent {
  type: 'page' | 'track' | 'identify' | 'alias'
  messageId: string
  anonymousId: string
  userId?: string
  previousId?: string
  event?: string
  name?: string
  properties?: Properties
  traits?: Properties
  timestamp: string
  context: EventContext
}

/** An event as recorded at call time, before the identity is stamped on it. */
export type EventDraft = Omit<WireEvent, 'anonymousId'>

export interface Identity {
  anonymousId: string
  userId?: string
  email?: string
}

export type ErrorCode =
  | 'storage_unavailable' // IndexedDB blocked, missing or over quota: the queue lives in memory
  | 'queue_overflow' // maxQueue reached: the oldest events were dropped
  | 'unauthorized' // the collector refused the write key: sending stopped, events kept
  | 'rejected' // the collector (or the size limit) refused an event for good
  | 'network' // a send failed and will be retried
  | 'invalid_call' // a public method was called with input it cannot use

export interface WaymarkError {
  code: ErrorCode
  message: string
  /** messageIds concerned, when the error is about events. */
  messageIds?: string[]
}

export interface TrackerOptions {
  /** Base URL; batches go to POST {collector}/v1/batch. */
  collector: string
  writeKey: string
  /** Most events per request. Default 50. */
  batchSize?: number
  /** Longest wait (ms) before recorded events are sent. Default 2000. */
  flushInterval?: number
  /** Most events kept waiting; beyond it the oldest are dropped and reported. Default 10000. */
  maxQueue?: number
  /** Initial consent. Default 'granted'. */
  consent?: ConsentState
  /** Treat Do Not Track and Global Privacy Control as a refusal. Default false. */
  respectDoNotTrack?: boolean
  /** Prefix of the IndexedDB databases; one queue and one identity per name. Default 'waymark'. */
  storageName?: string
  /** Also keep the anonymous id in a first-party cookie on this domain (e.g. '.example.com'). */
  cookieDomain?: string
  /** Last look at each event before it is stored: return it (changed or not), or null to drop it. */
  beforeSend?: (event: WireEvent) => WireEvent | null | undefined
  /** Log what the SDK does to the console. Default false. */
  debug?: boolean
  /** Called with every problem the SDK meets; it never throws into the page instead. */
  onError?: (error: WaymarkError) => void
  /** Automatic trackers to install (see the autotrack modules). Default none. */
  autotrack?: Autotracker[]
  /** With the forms autotracker: a submitted form's email field identifies the visitor. Default true. */
  identifyFromForms?: boolean
}

export interface Tracker {
  page(name?: string, properties?: Properties): void
  track(event: string, properties?: Properties): void
  identify(emailOrUserId: string | IdentifyInput, traits?: Properties): void
  alias(userId: string, previousId?: string): void
  reset(): void
  consent(state: ConsentState): void
  flush(): Promise<FlushResult>
  user(): Identity
  /** Resolves with the identity once the stored one is loaded and every earlier call applied. */
  ready(): Promise<Identity>
  shutdown(): Promise<void>
  /**
   * With the shares autotracker: `url` (default: this page) with a new share token, for a link
   * the page builds itself (a "copy link" button); the share is recorded as `Content Shared`
   * on `network`, for the content `name` (default: the page's title).
   */
  shareUrl?(network: string, url?: string, name?: string): string
}

export interface IdentifyInput {
  email?: string
  userId?: string
  traits?: Properties
}

export interface FlushResult {
  sent: number
  pending: number
}

/** What an autotracker gets to work with. */
export interface TrackerHost {
  tracker: Tracker
  /** Adds to every event recorded from now on, at call time (before identity and beforeSend). */
  enrich(step: (event: EventDraft) => void): void
  now(): number
  options: Readonly<TrackerOptions>
  /** The consent state now: an autotracker keeps nothing in storage unless it is 'granted'. */
  consent(): ConsentState
  /** Told of every consent change: on 'denied' an autotracker wipes what it kept. */
  onConsent(listener: (state: ConsentState) => void): void
}

/** An automatic tracker: installs itself, returns how to uninstall. */
export type Autotracker = (host: TrackerHost) => (() => void) | void
