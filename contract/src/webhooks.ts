// Webhooks (docs/webhooks.md): the subscriptions and deliveries the admin API answers with and
// the viewer shows, and the body every delivery carries, as receivers read it.

/** What a subscription can be told about. */
export const WEBHOOK_TRIGGERS = ['stage.entered', 'segment.entered', 'segment.left', 'person.identified', 'event'] as const
export type WebhookTrigger = (typeof WEBHOOK_TRIGGERS)[number]

/** Limits on one subscription, so no subscription costs much on every journey step. */
export const WEBHOOK_LIMITS = { subscriptions: 50, idsPerTrigger: 50, urlLength: 2000, eventNameLength: 200 } as const

/**
 * Which changes a subscription is sent: stage ids entered, segment ids entered or left,
 * identification, and track event names (exact, as sent).
 */
export interface WebhookTriggers {
  'stage.entered'?: string[]
  'segment.entered'?: string[]
  'segment.left'?: string[]
  'person.identified'?: boolean
  event?: string[]
}

export interface WebhookSubscription {
  id: string
  url: string
  triggers: WebhookTriggers
  /** `config`: from the journey config file (change it there); `api`: created through POST /api/webhooks. */
  source: 'config' | 'api'
  createdAt: string
}

/** The answer to POST /api/webhooks: the only time the secret is shown. */
export interface WebhookCreated {
  webhook: WebhookSubscription & { secret: string }
}

export interface WebhookList {
  webhooks: WebhookSubscription[]
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed'

export interface WebhookDelivery {
  /** msg_…: the `webhook-id` header, the same on every attempt. */
  id: string
  webhookId: string
  type: WebhookTrigger
  profileId: string
  status: DeliveryStatus
  attempts: number
  createdAt: string
  lastAttemptAt: string | null
  /** The receiver's last HTTP status, null when it gave none (network error, timeout). */
  lastStatus: number | null
  /** Why the last attempt did not succeed, or why the delivery stopped. */
  lastError: string | null
  /** The start of the receiver's last answer (at most 1 KB). */
  lastBody: string | null
  /** While pending: when the next attempt is due. */
  nextAttemptAt: string | null
  deliveredAt: string | null
  payload: WebhookPayload
}

export interface DeliveriesPage {
  deliveries: WebhookDelivery[]
  nextCursor: string | null
}

export interface WebhookPerson {
  profileId: string
  email: string | null
  userId: string | null
  identifiedAt: string | null
  stage: string
  score: number
  segments: string[]
  /** The first touch: channel and source of the person's earliest campaign. */
  firstTouch: { channel: string | null; source: string | null }
  firstSeen: string | null
  lastSeen: string | null
}

/** The body of every delivery (signed as the Standard Webhooks convention says). */
export interface WebhookPayload {
  /** The delivery id, as in the `webhook-id` header. */
  id: string
  type: WebhookTrigger
  /** When the change happened: the causing event's time, or the moment time moved the person. */
  timestamp: string
  data: {
    webhook: string
    /** The stage entered, the segment entered or left, or the event name. */
    stage?: string
    segment?: string
    event?: string
    person: WebhookPerson
    /** The event that moved the person; null when time did (a window closing, a score decaying). */
    cause: { messageId: string; type: string; event: string | null; timestamp: string; receivedAt: string } | null
    /** `event` triggers: the event's properties. */
    properties?: Record<string, unknown>
  }
}
