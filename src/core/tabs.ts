// The tabs of one site keep one identity and one queue between them by telling each other, over
// a channel (BroadcastChannel by default, injected by tests), what changed. A closing tab leaves
// the events it could not store yet to exactly one live tab: its heir, which every tab computes
// the same way, so two tabs never both store (and send) them.
import type { Identity, WireEvent } from '../types'

/** What one tab tells the others. */
export type TabMessage =
  /** This tab's identity changed (identify, alias, reset, consent). */
  | { identity: Identity }
  /** The collector acknowledged these events: no tab sends them again. */
  | { acknowledged: string[] }
  /** A tab that may store events is here; the others answer with their own hello. */
  | { hello: string }
  /** That tab left, or may no longer store events. */
  | { bye: string }
  /** A closing tab's unstored events, for the heir alone. */
  | { adopt: WireEvent[]; heir: string }

export interface TabChannel {
  postMessage(message: TabMessage): void
  onmessage: ((event: { data: TabMessage }) => void) | null
  close(): void
}

export const broadcastChannel = (name: string): TabChannel | undefined =>
  typeof BroadcastChannel === 'function' ? (new BroadcastChannel(name) as unknown as TabChannel) : undefined

/** The heir among the live tabs: the lowest id, so every tab agrees without asking. */
export const heirOf = (peers: ReadonlySet<string>): string | undefined => [...peers].sort()[0]

export interface TabHandlers {
  identity(identity: Identity): void
  acknowledged(ids: string[]): void
  /** Events left to this tab by a closing one, to store as their only writer. */
  adopt(events: WireEvent[]): void
  /** Whether this tab may store events now: only such a tab says hello (a pending, denied or shut-down heir would drop them). */
  mayStore(): boolean
}

/**
 * Joins the other tabs: answers their messages with `on`, and says hello. Returns the live
 * peers (kept up to date) and how to speak.
 */
export function joinTabs(channel: TabChannel | undefined, tab: string, on: TabHandlers) {
  const peers = new Set<string>()
  const post = (message: TabMessage) => channel?.postMessage(message)
  const greet = () => on.mayStore() && post({ hello: tab })
  if (channel) {
    channel.onmessage = ({ data }) => {
      if ('identity' in data) on.identity(data.identity)
      if ('acknowledged' in data) on.acknowledged(data.acknowledged)
      if ('hello' in data && !peers.has(data.hello)) {
        peers.add(data.hello)
        greet() // so the newcomer knows us too
      }
      if ('bye' in data) peers.delete(data.bye)
      if ('adopt' in data && data.heir === tab && data.adopt.length && on.mayStore()) on.adopt(data.adopt)
    }
    greet()
  }
  return {
    peers,
    post,
    greet,
    bye: () => post({ bye: tab }),
    /** Calls made after this still work; a closed channel would throw. */
    close() {
      channel?.close()
      channel = undefined
    },
  }
}
