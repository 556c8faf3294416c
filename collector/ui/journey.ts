// Journey: the funnel over a chosen period, trends, then the tables that explain it (campaigns,
// revenue, score drivers, calls to action per segment, content, pages, channels). Every read
// starts at once; the page shows as soon as the funnel is there and each section fills in when
// its answer arrives. Switches inside a section (attribution, segment, day or week) reload that
// section only and are kept in the address.
import {
  api,
  qs,
  type CampaignReport,
  type JourneyReport,
  type RevenueReport,
  type ScoreDriversReport,
  type Segment,
  type SegmentCtaReport,
  type TrendsReport,
} from './api.js'
import { chart, COLORS } from './charts.js'
import { csvButton, fmtDuration, fmtMoney, fmtNum, h, pct, table } from './dom.js'
import { go, setParams, type Route } from './router.js'
import { sharesTable } from './shares.js'

const DAY = 86_400_000
const PRESETS: Array<[string, string]> = [
  ['', 'all time'],
  ['7', 'last 7 days'],
  ['30', 'last 30 days'],
  ['90', 'last 90 days'],
  ['custom', 'from – to dates'],
]
const isDate = (v: string | null): v is string => !!v && /^\d{4}-\d{2}-\d{2}$/.test(v)

type Period = { from: string; to: string }

export async function journeyPage(route: Route): Promise<HTMLElement> {
  // The period is a cohort for the funnel and the tables (people first seen in it, and how far
  // they got since); revenue and trends count what happened within it.
  const days = route.params.get('days') ?? ''
  const fromDate = route.params.get('from')
  const toDate = route.params.get('to')
  let from = ''
  let to = ''
  if (days === 'custom') {
    if (isDate(fromDate)) from = new Date(`${fromDate}T00:00:00Z`).toISOString()
    if (isDate(toDate)) to = new Date(new Date(`${toDate}T00:00:00Z`).getTime() + DAY).toISOString()
  } else if (/^\d+$/.test(days)) {
    // Whole UTC days (today and the N − 1 before it): the collector answers them from daily sums.
    from = new Date((Math.floor(Date.now() / DAY) - Number(days) + 1) * DAY).toISOString()
  }
  const period: Period = { from, to }
  const touch = route.params.get('touch') === 'last' ? 'last' : 'first'
  const interval = route.params.get('interval') === 'week' || route.params.get('interval') === 'day' ? route.params.get('interval')! : ''
  const ctaSegment = route.params.get('cta') ?? ''

  // Every read at once; the sections below take theirs as they come.
  const reportP = api<JourneyReport>(`/api/journey${qs(period)}`)
  const segsP = api<{ segments: Segment[] }>('/api/segments')
  const sections = {
    trends: trendsSection(period, interval),
    campaigns: campaignsSection(period, touch),
    revenue: later('Revenue', 'revenue-title', api<RevenueReport>(`/api/journey/revenue${qs(period)}`), revenueBody),
    score: later('Score drivers', 'score-title', api<ScoreDriversReport>(`/api/journey/score${qs(period)}`), scoreBody),
    ctas: ctaSection(period, ctaSegment, reportP, segsP),
    shares: h('div', { class: 'shares-slot' }),
  }
  fill(sections.shares, sharesTable(period), (table) => [table])
  const [report, segs] = await Promise.all([reportP, segsP])
  const periodText = days === 'custom' ? `first seen ${isDate(fromDate) ? `from ${fromDate}` : ''} ${isDate(toDate) ? `to ${toDate}` : ''}`.trim() : days ? `first seen in the last ${days} days` : 'in total'

  const form = h(
    'form',
    {
      class: 'filters',
      'aria-label': 'Period',
      onsubmit: (e: Event) => {
        e.preventDefault()
        const data = new FormData(e.target as HTMLFormElement)
        let preset = String(data.get('days') ?? '')
        if (!preset && (data.get('from') || data.get('to'))) preset = 'custom'
        go('journey', preset === 'custom' ? { days: preset, from: String(data.get('from') ?? ''), to: String(data.get('to') ?? '') } : { days: preset })
      },
    },
    h('label', {}, 'Period', h('select', { name: 'days' }, PRESETS.map(([v, t]) => h('option', { value: v, selected: v === days }, t)))),
    h('label', {}, 'From', h('input', { type: 'date', name: 'from', value: isDate(fromDate) ? fromDate : '' })),
    h('label', {}, 'To', h('input', { type: 'date', name: 'to', value: isDate(toDate) ? toDate : '' })),
    h('button', { type: 'submit' }, 'Show'),
  )
  return h(
    'section',
    { 'aria-labelledby': 'journey-title' },
    h('div', { class: 'title-row' }, h('h2', { id: 'journey-title' }, 'Journey'), form),
    h('p', { class: 'count' }, `${fmtNum(report.people)} ${report.people === 1 ? 'person' : 'people'} ${periodText}`),
    catchingUp(report.status),
    funnelSection(report),
    sections.trends,
    sections.campaigns,
    sections.revenue,
    sections.score,
    sections.ctas,
    table(
      'Segments',
      ['Segment', 'Members', 'Defined in'],
      segs.segments.map((s) => [h('a', { href: `#/people?segment=${encodeURIComponent(s.id)}` }, s.name), fmtNum(s.count), s.origin === 'api' ? 'API' : 'config']),
    ),
    withCsv(
      table(
        'Content consumers who became known and customers',
        ['Content', 'People who saw it', 'Identified', 'Saw it before identifying', 'Customers', 'Saw it before becoming a customer'],
        report.content.map((r) => [r.name, fmtNum(r.consumers), fmtNum(r.known), fmtNum(r.becameKnown), fmtNum(r.customers), fmtNum(r.becameCustomer)]),
        'No content impressions yet (mark blocks with data-wm-content).',
        'wide',
      ),
      'waymark-content.csv',
      ['content', 'consumers', 'identified', 'sawBeforeIdentifying', 'customers', 'sawBeforeBecomingCustomer'],
      report.content.map((r) => [r.name, r.consumers, r.known, r.becameKnown, r.customers, r.becameCustomer]),
    ),
    sections.shares,
    withCsv(
      table(
        'Pages that led to identification and to customers',
        ['Page', 'Visitors', 'Identified', 'Visited before identifying', 'Customers', 'Visited before becoming a customer'],
        report.pages.map((r) => [h('code', {}, r.path), fmtNum(r.visitors), fmtNum(r.known), fmtNum(r.becameKnown), fmtNum(r.customers), fmtNum(r.becameCustomer)]),
        undefined,
        'wide',
      ),
      'waymark-pages.csv',
      ['path', 'visitors', 'identified', 'visitedBeforeIdentifying', 'customers', 'visitedBeforeBecomingCustomer'],
      report.pages.map((r) => [r.path, r.visitors, r.known, r.becameKnown, r.customers, r.becameCustomer]),
    ),
    withCsv(
      table(
        'Channels (first touch)',
        ['Channel', 'Visitors', 'Leads', 'Customers'],
        report.channels.map((r) => [r.channel, fmtNum(r.visitors), fmtNum(r.leads), fmtNum(r.customers)]),
        undefined,
        'wide',
      ),
      'waymark-channels.csv',
      ['channel', 'visitors', 'leads', 'customers'],
      report.channels.map((r) => [r.channel, r.visitors, r.leads, r.customers]),
    ),
  )
}

/** A line while the analytics are behind the events: a new rule's history being read, or people being re-evaluated. */
function catchingUp(s: JourneyReport['status']): HTMLElement | string {
  const parts: string[] = []
  if (s.readTo < s.lastEventId) parts.push(`${fmtNum(s.lastEventId - s.readTo)} new events still to read`)
  for (const b of s.backfills) parts.push(`history for a new rule or segment ${pct(b.total ? b.done / b.total : 1)} read`)
  if (s.stale > 0) parts.push(`${fmtNum(s.stale)}${s.stale > 10_000 ? '+' : ''} people being re-evaluated`)
  return parts.length ? h('p', { class: 'count', role: 'status' }, `Updating: ${parts.join('; ')}. Figures may move until it is done.`) : ''
}

/** A section whose body is filled when `answer` arrives (and again by its controls). */
function card(title: string, id: string, controls: HTMLElement | null = null): { section: HTMLElement; body: HTMLElement } {
  const body = h('div', { class: 'section-body', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'))
  const section = h('section', { class: 'card', 'aria-labelledby': id }, h('div', { class: 'title-row' }, h('h3', { id }, title), controls), body)
  return { section, body }
}

function fill<T>(body: HTMLElement, answer: Promise<T>, render: (value: T) => Array<HTMLElement | string>): void {
  body.setAttribute('aria-busy', 'true')
  answer.then(
    (value) => body.replaceChildren(...render(value)),
    (err: Error) => body.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Could not load: ${err.message}`)),
  ).finally(() => body.setAttribute('aria-busy', 'false'))
}

function later<T>(title: string, id: string, answer: Promise<T>, render: (value: T) => Array<HTMLElement | string>): HTMLElement {
  const { section, body } = card(title, id)
  fill(body, answer, render)
  return section
}

/** A select that reloads its section: the choice is kept in the address without reloading the page. */
function chooser(label: string, name: string, options: Array<[string, string]>, value: string, onChange: (v: string) => void): HTMLElement {
  const select = h('select', { name, onchange: (e: Event) => {
    const v = (e.target as HTMLSelectElement).value
    setParams({ [name]: v })
    onChange(v)
  } }, options.map(([v, t]) => h('option', { value: v, selected: v === value }, t)))
  return h('label', { class: 'inline' }, label, select)
}

function withCsv(el: HTMLElement, file: string, header: string[], rows: unknown[][]): HTMLElement {
  return rows.length ? h('div', { class: 'with-csv' }, el, csvButton(file, header, rows)) : el
}

function funnelSection(report: JourneyReport): HTMLElement {
  const figure = chart({
    title: 'Funnel: people who reached each stage',
    summary: report.stages.map((s) => `${s.name} ${fmtNum(s.reached)}`).join(', ') + '.',
    kind: 'bars',
    x: report.stages.map((s) => s.name),
    series: [{ label: 'Reached', values: report.stages.map((s) => s.reached) }],
    table: {
      header: ['Stage', 'Reached', 'Here now', 'From the previous stage'],
      rows: report.stages.map((s) => [s.name, fmtNum(s.reached), fmtNum(s.count), s.conversion === null ? '—' : pct(s.conversion)]),
    },
  })
  figure.classList.add('funnel')
  // The funnel's figures stay in view: they are the page's headline.
  figure.querySelector('details')!.open = true
  return figure
}

function trendsSection(period: Period, interval: string): HTMLElement {
  const control = chooser('Per', 'interval', [['', 'day or week'], ['day', 'day'], ['week', 'week']], interval, (v) => load(v))
  const { section, body } = card('Trends', 'trends-title', control)
  const load = (v: string) => fill(body, api<TrendsReport>(`/api/journey/trends${qs({ ...period, interval: v })}`), trendsBody)
  load(interval)
  return section
}

function trendsBody(t: TrendsReport): HTMLElement[] {
  if (t.buckets.length === 0) return [h('p', { class: 'muted' }, 'Nothing in this period yet.')]
  const per = t.interval === 'week' ? 'week' : 'day'
  const x = t.buckets.map((b) => Date.parse(b.start) / 1000)
  const start = (b: TrendsReport['buckets'][number]) => (b.days > 1 ? `${b.start.slice(0, 10)} (${b.days} days)` : b.start.slice(0, 10))
  const total = (k: 'visitors' | 'leads' | 'customers') => t.buckets.reduce((n, b) => n + b[k], 0)
  const out = [
    chart({
      title: `New visitors, leads and customers per ${per}`,
      summary: `${fmtNum(total('visitors'))} new visitors, ${fmtNum(total('leads'))} new leads and ${fmtNum(total('customers'))} new customers over ${t.buckets.length} ${per}s.`,
      kind: 'time',
      x,
      series: [
        { label: 'New visitors', values: t.buckets.map((b) => b.visitors) },
        { label: 'New leads', values: t.buckets.map((b) => b.leads) },
        { label: 'New customers', values: t.buckets.map((b) => b.customers) },
      ],
      table: { header: [per === 'week' ? 'Week from' : 'Day', 'New visitors', 'New leads', 'New customers'], rows: t.buckets.map((b) => [start(b), fmtNum(b.visitors), fmtNum(b.leads), fmtNum(b.customers)]) },
    }),
  ]
  if (t.currencies.length) {
    out.push(
      chart({
        title: `Revenue per ${per}`,
        summary: t.currencies.map((c) => `${fmtMoney(t.buckets.reduce((n, b) => n + (b.revenue[c] ?? 0), 0), c)} in all`).join(', ') + '.',
        kind: 'time',
        x,
        series: t.currencies.map((c, i) => ({ label: c || 'no currency', values: t.buckets.map((b) => b.revenue[c] ?? 0), color: COLORS[(i + 3) % COLORS.length] })),
        table: {
          header: [per === 'week' ? 'Week from' : 'Day', 'Orders', ...t.currencies.map((c) => `Revenue ${c || '(no currency)'}`)],
          rows: t.buckets.map((b) => [start(b), fmtNum(b.orders), ...t.currencies.map((c) => fmtMoney(b.revenue[c] ?? 0, c))]),
        },
      }),
    )
  }
  // Leads by the stage they are in now, per bucket of identification (the first stage is the anonymous one: no lead is in it).
  const stages = t.stages.filter((s) => t.buckets.some((b) => b.leadsByStage[s.id]))
  if (stages.length) {
    out.push(
      chart({
        title: `Leads per ${per} of identification, by the stage they are in now`,
        summary: stages.map((s) => `${s.name} ${fmtNum(t.buckets.reduce((n, b) => n + (b.leadsByStage[s.id] ?? 0), 0))}`).join(', ') + '.',
        kind: 'time',
        x,
        series: stages.map((s, i) => ({ label: s.name, values: t.buckets.map((b) => b.leadsByStage[s.id] ?? 0), color: COLORS[(i + 1) % COLORS.length] })),
        table: { header: [per === 'week' ? 'Week from' : 'Day', ...stages.map((s) => s.name)], rows: t.buckets.map((b) => [start(b), ...stages.map((s) => fmtNum(b.leadsByStage[s.id] ?? 0))]) },
      }),
    )
  }
  out.push(
    csvButton(
      `waymark-trends-${per}.csv`,
      ['start', 'days', 'visitors', 'leads', 'customers', 'orders', ...t.currencies.map((c) => `revenue ${c}`), ...t.stages.map((s) => `leads now ${s.id}`)],
      t.buckets.map((b) => [b.start, b.days, b.visitors, b.leads, b.customers, b.orders, ...t.currencies.map((c) => b.revenue[c] ?? 0), ...t.stages.map((s) => b.leadsByStage[s.id] ?? 0)]),
    ),
  )
  return out
}

function campaignsSection(period: Period, touch: string): HTMLElement {
  const control = chooser('Attribution', 'touch', [['first', 'first touch'], ['last', 'last touch before the conversion']], touch, (v) => load(v))
  const { section, body } = card('Campaigns', 'campaigns-title', control)
  const load = (v: string) => fill(body, api<CampaignReport>(`/api/journey/campaigns${qs({ ...period, touch: v })}`), campaignsBody)
  load(touch)
  return section
}

const orNone = (v: string | null) => v ?? '—'
const money = (list: CampaignReport['campaigns'][number]['revenue']) => (list.length ? list.map((m) => fmtMoney(m.amount, m.currency)).join(' · ') : '—')

function campaignsBody(r: CampaignReport): Array<HTMLElement | string> {
  const how =
    r.touch === 'first'
      ? 'Each person counts for the campaign of their first visit; all their orders too.'
      : 'Each person counts for the last campaign before they became a customer (leads: before identifying; others: their latest); each order for the last campaign before it.'
  const noCampaign = (x: CampaignReport['campaigns'][number]) => x.source === null && x.medium === null && x.campaign === null
  return [
    h('p', { class: 'muted' }, how),
    table(
      `Campaigns by ${r.touch} touch`,
      ['Source', 'Medium', 'Campaign', 'Visitors', 'Leads', 'Customers', 'Visitor → lead', 'Lead → customer', 'Revenue', 'Orders', 'Median to lead', 'Median to customer'],
      r.campaigns.map((x) => [
        noCampaign(x) ? h('em', {}, 'no campaign') : orNone(x.source),
        orNone(x.medium),
        orNone(x.campaign),
        fmtNum(x.visitors),
        fmtNum(x.leads),
        fmtNum(x.customers),
        pct(x.leadRate),
        pct(x.closeRate),
        money(x.revenue),
        fmtNum(x.orders),
        fmtDuration(x.medianToLeadMs),
        fmtDuration(x.medianToCustomerMs),
      ]),
      'No visitors in this period.',
      'wide',
    ),
    r.campaigns.length
      ? csvButton(
          `waymark-campaigns-${r.touch}-touch.csv`,
          ['source', 'medium', 'campaign', 'visitors', 'leads', 'customers', 'leadRate', 'closeRate', 'customerRate', 'revenue', 'orders', 'medianToLeadMs', 'medianToCustomerMs'],
          r.campaigns.map((x) => [x.source, x.medium, x.campaign, x.visitors, x.leads, x.customers, x.leadRate, x.closeRate, x.customerRate, x.revenue.map((m) => `${m.amount} ${m.currency}`.trim()).join(' '), x.orders, x.medianToLeadMs, x.medianToCustomerMs]),
        )
      : '',
  ]
}

function revenueBody(r: RevenueReport): Array<HTMLElement | string> {
  return [
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'New customers'),
      h('dd', {}, fmtNum(r.newCustomers)),
      h('dt', {}, 'First orders'),
      h('dd', {}, fmtNum(r.firstOrders)),
      h('dt', {}, 'Became repeat customers (second order)'),
      h('dd', {}, fmtNum(r.repeatCustomers)),
    ),
    table(
      'Revenue from orders placed in the period',
      ['Currency', 'Revenue', 'Orders', 'Average order', 'From people already customers'],
      r.currencies.map((c) => [c.currency || '(none)', fmtMoney(c.revenue, c.currency), fmtNum(c.orders), c.averageOrderValue === null ? '—' : fmtMoney(c.averageOrderValue, c.currency), `${fmtMoney(c.fromExistingCustomers, c.currency)} (${pct(c.revenue ? c.fromExistingCustomers / c.revenue : null)})`]),
      'No orders in this period (Order Completed with revenue, total or value).',
      'wide',
    ),
    r.currencies.length
      ? csvButton('waymark-revenue.csv', ['currency', 'revenue', 'orders', 'averageOrderValue', 'fromExistingCustomers'], r.currencies.map((c) => [c.currency, c.revenue, c.orders, c.averageOrderValue, c.fromExistingCustomers]))
      : '',
  ]
}

function scoreBody(r: ScoreDriversReport): Array<HTMLElement | string> {
  return [
    h('p', { class: 'muted' }, `What the ${fmtNum(r.leads)} leads’ scores are made of: ${fmtNum(r.points)} points in all.`),
    table(
      'Score drivers',
      ['Rule', 'Points', 'Share of all points', 'Events counted', 'Leads it gave points to'],
      r.rules.map((x) => [x.label, fmtNum(x.points), pct(x.share), fmtNum(x.events), fmtNum(x.leads)]),
      'No lead has points yet.',
      'wide',
    ),
    r.rules.length ? csvButton('waymark-score-drivers.csv', ['rule', 'label', 'points', 'share', 'events', 'leads'], r.rules.map((x) => [x.rule, x.label, x.points, x.share, x.events, x.leads])) : '',
  ]
}

function ctaSection(period: Period, segment: string, reportP: Promise<JourneyReport>, segsP: Promise<{ segments: Segment[] }>): HTMLElement {
  const holder = h('span', {})
  const { section, body } = card('Calls to action', 'ctas-title', holder)
  const load = (id: string) => {
    // Everyone: the funnel's own CTA table; a segment: its members' clicks.
    const answer: Promise<SegmentCtaReport> = id
      ? api<SegmentCtaReport>(`/api/journey/ctas${qs({ ...period, segment: id })}`)
      : reportP.then((r) => ({ segment: { id: '', name: 'Everyone' }, period: r.period, members: r.people, ctas: r.ctas }))
    fill(body, answer, ctaBody)
  }
  segsP.then(
    (s) => holder.replaceWith(chooser('Segment', 'cta', [['', 'everyone'], ...s.segments.map((x): [string, string] => [x.id, x.name])], segment, load)),
    () => undefined,
  )
  load(segment)
  return section
}

function ctaBody(r: SegmentCtaReport): Array<HTMLElement | string> {
  return [
    table(
      r.segment.id ? `Calls to action of “${r.segment.name}” (${fmtNum(r.members)} members)` : `Calls to action (${fmtNum(r.members)} people)`,
      ['CTA', 'Kind', 'Clicks', 'People', 'Of the members', 'Clicked before identifying'],
      r.ctas.map((x) => [x.label, x.kind, fmtNum(x.clicks), fmtNum(x.people), pct(r.members ? x.people / r.members : null), `${fmtNum(x.beforeIdentification)} (${pct(x.people ? x.beforeIdentification / x.people : null)})`]),
      'No calls to action clicked by these people.',
      'wide',
    ),
    r.ctas.length
      ? csvButton(`waymark-ctas${r.segment.id ? `-${r.segment.id}` : ''}.csv`, ['cta', 'kind', 'clicks', 'people', 'beforeIdentification'], r.ctas.map((x) => [x.label, x.kind, x.clicks, x.people, x.beforeIdentification]))
      : '',
  ]
}
