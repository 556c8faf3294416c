// Every autotracker, by name, in the order they must install: redaction and enrichment first (so
// the identify of an e-mail link and the first page view already carry session and campaign), the
// e-mail and share parameters removed before the first page view, page views last.
import type { Autotracker } from '../types'
import { attribution } from './attribution'
import { content } from './content'
import { emailLinks } from './email-links'
import { engagedTime } from './engaged-time'
import { forms } from './forms'
import { links } from './links'
import { pageViews } from './page-views'
import { redact } from './redact'
import { scrollDepth } from './scroll-depth'
import { sessions } from './sessions'
import { shares } from './shares'
import { trackClicks } from './track-clicks'

export interface AutotrackOptions {
  /** Names to install (default: all of AUTOTRACKERS); `redact` is always installed. */
  only?: string[]
  /** Names to leave out. */
  except?: string[]
  /** Query parameter of e-mail links. Default 'wm_email'. */
  emailParam?: string
  /** Identify from a submitted e-mail field. Default true. */
  identifyFromForms?: boolean
  /** Session inactivity timeout, ms. Default 30 minutes. */
  sessionTimeout?: number
}

export const AUTOTRACKERS = ['sessions', 'attribution', 'emails', 'shares', 'engagement', 'scroll', 'content', 'clicks', 'links', 'forms', 'pages']

/** The autotrackers chosen by `options`, in installation order. */
export function autotrack(o: AutotrackOptions = {}): Autotracker[] {
  const all = [
    sessions({ timeout: o.sessionTimeout }),
    attribution(),
    emailLinks({ param: o.emailParam }),
    shares(),
    engagedTime(),
    scrollDepth(),
    content(),
    trackClicks(),
    links(),
    forms({ identify: o.identifyFromForms }),
    pageViews(),
  ]
  return [redact(), ...all.filter((_, i) => (o.only ?? AUTOTRACKERS).includes(AUTOTRACKERS[i]) && !o.except?.includes(AUTOTRACKERS[i]))]
}
