// The Journey page's marketing tables as the read API answers them (docs/viewer.md says how each
// number is counted). Periods: the campaign, CTA and score tables count people first seen in the
// period (a cohort, as the funnel); revenue and trends count the moments inside it, by UTC day.

/** A period as answered: ISO instants, null for an open end. */
export interface PeriodAnswer {
  from: string | null
  to: string | null
}

/** `first`: the campaign of a person's first visit; `last`: the last one before their conversion. */
export type Attribution = 'first' | 'last'

export interface Money {
  /** ISO 4217 code as sent, upper-cased; '' when the orders carried none. */
  currency: string
  /** In the currency's unit (49.9 is 49.90). */
  amount: number
}

export interface CampaignRow {
  /** utm_source, utm_medium, utm_campaign; all three null: people who came through no campaign. */
  source: string | null
  medium: string | null
  campaign: string | null
  visitors: number
  /** Of the visitors, the identified ones. */
  leads: number
  /** Of the visitors, those in the customer stage or beyond. */
  customers: number
  /** leads / visitors, customers / leads, customers / visitors; null when dividing by 0. */
  leadRate: number | null
  closeRate: number | null
  customerRate: number | null
  /** Revenue of the orders attributed to the campaign, per currency. */
  revenue: Money[]
  orders: number
  /** Median time from first visit to identification, over the leads; to becoming a customer, over the customers whose moment is known. */
  medianToLeadMs: number | null
  medianToCustomerMs: number | null
}

/** `GET /api/journey/campaigns?touch=first|last&from=&to=`. */
export interface CampaignReport {
  touch: Attribution
  period: PeriodAnswer
  campaigns: CampaignRow[]
}

export interface CtaRow {
  label: string
  kind: 'content' | 'track'
  clicks: number
  people: number
  beforeIdentification: number
}

/** `GET /api/journey/ctas?segment=&from=&to=`: the calls to action of one segment's members. */
export interface SegmentCtaReport {
  segment: { id: string; name: string }
  period: PeriodAnswer
  /** Members first seen in the period (the denominator of each row's share). */
  members: number
  ctas: CtaRow[]
}

export interface ScoreDriver {
  rule: string
  label: string
  /** Points the rule gives the leads now (after decay), one decimal. */
  points: number
  /** points / all points the rules give the leads (negative for a rule with negative points); null when there are none. */
  share: number | null
  /** Events counted (after each rule's `max`). */
  events: number
  /** Leads the rule gave points to. */
  leads: number
}

/** `GET /api/journey/score?from=&to=`: what raises the score of the leads (identified people). */
export interface ScoreDriversReport {
  period: PeriodAnswer
  leads: number
  /** Sum of the rules' points over the leads, one decimal. */
  points: number
  rules: ScoreDriver[]
}

export interface RevenueRow {
  currency: string
  revenue: number
  orders: number
  averageOrderValue: number | null
  /** Revenue of orders placed by people who already were customers (an earlier order, or the customer stage reached before). */
  fromExistingCustomers: number
}

/** `GET /api/journey/revenue?from=&to=`: orders placed in the period (whole UTC days). */
export interface RevenueReport {
  period: PeriodAnswer
  currencies: RevenueRow[]
  /** People whose first order is in the period. */
  firstOrders: number
  /** People whose second order is in the period: they became repeat customers (2+ orders). */
  repeatCustomers: number
  /** People who became customers in the period. */
  newCustomers: number
}

export interface TrendBucket {
  /** First UTC day of the bucket (a Monday for weeks, clipped to the period). */
  start: string
  days: number
  visitors: number
  leads: number
  customers: number
  orders: number
  /** Per currency. */
  revenue: Record<string, number>
  /** The leads identified in the bucket, by the stage they are in now. */
  leadsByStage: Record<string, number>
}

/** `GET /api/journey/trends?from=&to=&interval=day|week`. */
export interface TrendsReport {
  period: PeriodAnswer
  interval: 'day' | 'week'
  stages: Array<{ id: string; name: string }>
  currencies: string[]
  buckets: TrendBucket[]
}
