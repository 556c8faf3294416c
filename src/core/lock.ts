// Only one tab of a site sends at a time, so no event goes out twice.
import type { MetaStore } from '../platform/storage'

/**
 * Runs `work` while holding the send lock; resolves false when another tab holds it. `work` is
 * told until when it may start requests: a lease is not renewed, so no request may start in its
 * second half (a request gives up after 30 s) lest another tab take it over mid-request.
 */
export type Lock = (work: (startBefore: number) => Promise<void>, wait: boolean) => Promise<boolean>

interface Lease {
  tab: string
  until: number
}

// Longer than one send with its retries; a tab that dies holding the lease frees it after this.
const LEASE_MS = 60_000

export function tabLock(name: string, meta: MetaStore, now: () => number, tab: string): Lock {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
  // Web Locks are released by the browser when a tab dies, mid-send or not.
  if (locks?.request) {
    return async (work, wait) => {
      let held = false
      await locks.request(name, { ifAvailable: !wait }, async (lock) => {
        if ((held = !!lock)) await work(Infinity)
      })
      return held
    }
  }
  // Without them: a lease in IndexedDB, taken in one transaction so two tabs cannot both win.
  return async (work) => {
    const lease = await meta.update<Lease>('lease', (held) => {
      const t = now()
      return held && held.tab !== tab && held.until > t ? held : { tab, until: t + LEASE_MS }
    })
    if (lease.tab !== tab) return false
    try {
      await work(lease.until - LEASE_MS / 2)
    } finally {
      await meta.update<Lease | undefined>('lease', (held) => (held?.tab === tab ? { tab, until: 0 } : held))
    }
    return true
  }
}
