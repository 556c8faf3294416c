// The `waymark/autotrack` entry: each autotracker on its own, so a build carries only those it
// imports. Pass them to createTracker({ autotrack: [...] }); order matters, see docs/autotrack.md
// (or use `autotrack()` for all of them, in the right order).
export { autotrack, AUTOTRACKERS, type AutotrackOptions } from './all'
export { attribution, campaignParams, CLICK_IDS, touchOf, type AttributionOptions, type CampaignParams, type Touch } from './attribution'
export { content } from './content'
export { emailLinks } from './email-links'
export { engagedTime } from './engaged-time'
export { forms } from './forms'
export { links, DOWNLOADS } from './links'
export { pageViews } from './page-views'
export { redact } from './redact'
export { redactEmails, REDACTED } from './redact-emails'
export { scrollDepth, SCROLL_MILESTONES } from './scroll-depth'
export { sessions, type SessionOptions } from './sessions'
export { shares } from './shares'
export { trackClicks } from './track-clicks'
