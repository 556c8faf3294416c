// Journey: the funnel over a chosen period, then the tables that explain it.
import { api, qs, type JourneyReport, type Segment } from './api.js'
import { fmtNum, h, pct, table } from './dom.js'
import { go, type Route } from './router.js'

const DAY = 86_400_000
const PERIODS: Array<[string, string]> = [
  ['', 'all time'],
  ['7', 'first seen in the last 7 days'],
  ['30', 'first seen in the last 30 days'],
  ['90', 'first seen in the last 90 days'],
]

export async function journeyPage(route: Route): Promise<HTMLElement> {
  const days = route.params.get('days') ?? ''
  const from = days ? new Date(Date.now() - Number(days) * DAY).toISOString() : ''
  const [report, segs] = await Promise.all([api<JourneyReport>(`/api/journey${qs({ from })}`), api<{ segments: Segment[] }>('/api/segments')])
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
    'label',
    {},
    'Period ',
    h(
      'select',
      { onchange: (e: Event) => go('journey', { days: (e.target as HTMLSelectElement).value }) },
      PERIODS.map(([v, t]) => h('option', { value: v, selected: v === days }, t)),
    ),
  )
  return h(
    'section',
    { 'aria-labelledby': 'journey-title' },
    h('div', { class: 'title-row' }, h('h2', { id: 'journey-title' }, 'Journey'), period),
    h('p', { class: 'count' }, `${fmtNum(report.people)} people ${days ? `first seen in the last ${days} days` : 'in total'}`),
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
