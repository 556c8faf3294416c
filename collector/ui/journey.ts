// Journey: the funnel over a chosen period, then the tables that explain it.
import { api, qs, type JourneyReport, type Segment } from './api.js'
import { fmtNum, h, pct, table } from './dom.js'
import { go, type Route } from './router.js'
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

export async function journeyPage(route: Route): Promise<HTMLElement> {
  // The period is a cohort: people first seen in it, and how far they got since.
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
  const [report, segs, shares] = await Promise.all([api<JourneyReport>(`/api/journey${qs({ from, to })}`), api<{ segments: Segment[] }>('/api/segments'), sharesTable({ from, to })])
  const periodText = days === 'custom' ? `first seen ${isDate(fromDate) ? `from ${fromDate}` : ''} ${isDate(toDate) ? `to ${toDate}` : ''}`.trim() : days ? `first seen in the last ${days} days` : 'in total'
  const max = Math.max(1, ...report.stages.map((s) => s.reached))

  const funnel = h(
    'ol',
    { class: 'funnel', 'aria-label': 'Funnel: people who reached each stage' },
    report.stages.map((s) => {
      const bar = h('span', { class: 'bar' })
      // A width from a number we computed, not from event data.
      bar.style.width = `${Math.max(1, (s.reached / max) * 100)}%`
      return h(
        'li',
        {},
        h('span', { class: 'stage-name' }, s.name),
        h('span', { class: 'bar-box' }, bar),
        h('span', { class: 'nums' }, `${fmtNum(s.reached)} reached · ${fmtNum(s.count)} here now`, s.conversion === null ? '' : ` · ${pct(s.conversion)} from the previous stage`),
      )
    }),
  )
  const period = h(
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
    h('div', { class: 'title-row' }, h('h2', { id: 'journey-title' }, 'Journey'), period),
    h('p', { class: 'count' }, `${fmtNum(report.people)} ${report.people === 1 ? 'person' : 'people'} ${periodText}`),
    catchingUp(report.status),
    h('section', { class: 'card' }, h('h3', {}, 'Funnel'), funnel),
    table(
      'Segments',
      ['Segment', 'Members', 'Defined in'],
      segs.segments.map((s) => [h('a', { href: `#/people?segment=${encodeURIComponent(s.id)}` }, s.name), fmtNum(s.count), s.origin === 'api' ? 'API' : 'config']),
    ),
    table(
      'Content consumers who became known',
      ['Content', 'People who saw it', 'Identified', 'Saw it before identifying'],
      report.content.map((r) => [r.name, fmtNum(r.consumers), fmtNum(r.known), fmtNum(r.becameKnown)]),
      'No content impressions yet (mark blocks with data-wm-content).',
    ),
    shares,
    table(
      'Pages that led to identification',
      ['Page', 'Visitors', 'Identified', 'Visited before identifying'],
      report.pages.map((r) => [h('code', {}, r.path), fmtNum(r.visitors), fmtNum(r.known), fmtNum(r.becameKnown)]),
    ),
    table(
      'Channels (first touch)',
      ['Channel', 'Visitors', 'Leads', 'Customers'],
      report.channels.map((r) => [r.channel, fmtNum(r.visitors), fmtNum(r.leads), fmtNum(r.customers)]),
    ),
    table(
      'Calls to action',
      ['CTA', 'Kind', 'Clicks', 'People', 'Clicked before identifying'],
      report.ctas.map((r) => [r.label, r.kind, fmtNum(r.clicks), fmtNum(r.people), `${fmtNum(r.beforeIdentification)} (${pct(r.people ? r.beforeIdentification / r.people : null)})`]),
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
