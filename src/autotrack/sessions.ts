// Sessions: `context.sessionId` on every event. One session is shared by all tabs (localStorage);
// a new one starts after `timeout` ms without any event in any tab, or when the visitor arrives
// with campaign parameters other than the session's. The hot path reads and writes memory only:
// storage is read and written at most every 5 s, or when the session looks expired.
import type { Autotracker } from '../types'
import { campaignParams } from './attribution'
import { readLocal } from '../platform/local-storage'
import { on } from '../platform/listen'
import { consentedSave } from './util'

interface Session {
  id: string
  /** last activity, ms */
  t: number
  /** campaign parameters the session started with */
  c: string
}

export interface SessionOptions {
  /** Inactivity (ms) after which the next event starts a new session. Default 30 minutes. */
  timeout?: number
  /** localStorage key. Default 'wm_session'. */
  key?: string
}

const WRITE_EVERY = 5000

export function sessions({ timeout = 30 * 60_000, key = 'wm_session' }: SessionOptions = {}): Autotracker {
  return (host) => {
    const { enrich, now } = host
    const save = consentedSave(host, key)
    const params = campaignParams(location.search)
    const campaign = Object.keys(params).length ? JSON.stringify(params) : ''
    const live = (s: Session | null | undefined, t: number): s is Session => !!s && t - s.t <= timeout
    let session = readLocal<Session>(key)
    let written = 0
    // arriving from another campaign: the first event starts a new session, whatever the tabs have
    let restart = !!campaign && campaign !== session?.c
    // the newest live session any tab knows wins (ULIDs sort by creation time)
    const adopt = (t: number) => {
      const stored = readLocal<Session>(key)
      if (live(stored, t) && (!live(session, t) || stored.id > session.id)) session = stored
    }
    enrich((event) => {
      const t = now()
      if (restart || !live(session, t) || t - written > WRITE_EVERY) {
        if (restart) session = undefined
        else adopt(t)
        // the core already made a ULID for this event: a new session takes it
        if (!live(session, t)) session = { id: event.messageId, t, c: campaign }
        restart = false
        written = session.t = t
        save(session)
      }
      session!.t = t
      event.context.sessionId = session!.id
    })
    return on(window, 'storage', (event: StorageEvent) => event.key === key && adopt(now()))
  }
}
