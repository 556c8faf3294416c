// Sessions: `context.sessionId` on every event. One session is shared by all tabs (localStorage);
// a new one starts after `timeout` ms without any event in any tab, or when the visitor arrives
// with campaign parameters other than the session's. The hot path reads and writes memory only:
// storage is read and written at most every 5 s, or when the session looks expired.
import { ulid } from 'ulid'
import type { Autotracker } from '../types'
import { campaignParams } from './attribution'
import { consentedSave, load, on } from './util'

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
    let session = load<Session>(key)
    let written = 0
    const write = (t: number) => {
      written = t
      save(session)
    }
    const fresh = (t: number) => !!session && t - session.t <= timeout
    const start = (t: number) => {
      session = { id: ulid(t), t, c: campaign }
      write(t)
    }
    const first = now()
    if (!fresh(first) || (campaign && campaign !== session!.c)) start(first)

    // the newest live session any tab knows wins (ULIDs sort by creation time)
    const adopt = (t: number) => {
      const stored = load<Session>(key)
      if (stored && t - stored.t <= timeout && (!fresh(t) || stored.id > session!.id)) session = stored
    }
    enrich((event) => {
      const t = now()
      if (!fresh(t) || t - written > WRITE_EVERY) {
        adopt(t)
        if (!fresh(t)) start(t)
        session!.t = t
        write(t)
      }
      session!.t = t
      event.context.sessionId = session!.id
    })
    return on(window, 'storage', (event: StorageEvent) => event.key === key && adopt(now()))
  }
}
