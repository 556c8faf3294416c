// People: search, filters (stage, segment, identified), sort, counts, pagination, CSV export.
import { api, apiPost, searches, type JourneyReport, type PeoplePage, type Segment, type Summary } from './api.js'
import { download, fmtNum, fmtTime, h, table, toCsv } from './dom.js'
import { go, type Route } from './router.js'

export const personName = (p: Pick<Summary, 'email' | 'userId' | 'identifiers'>): string =>
  p.email ?? p.userId ?? (p.identifiers.find((i) => i.kind === 'anonymousId')?.value ? `Anonymous ${p.identifiers.find((i) => i.kind === 'anonymousId')!.value.slice(0, 8)}…` : 'Anonymous')

const FILTERS = ['stage', 'segment', 'identified', 'sort'] as const

// A search term is often an email: it never goes into a URL (the address bar, browser history,
// bookmarks, the API request line and so server and proxy logs). The route carries an opaque
// id (`s=`) of the term (see `searches`), and the list is asked for by POST.

export async function peoplePage(route: Route): Promise<HTMLElement> {
  const f = Object.fromEntries(FILTERS.map((k) => [k, route.params.get(k) ?? ''])) as Record<(typeof FILTERS)[number], string>
  const searchId = route.params.get('s') ?? ''
  const q = searches.get(searchId)
  const cursor = route.params.get('cursor') ?? ''
  const query = { q, stage: f.stage, segment: f.segment, identified: f.identified, sort: f.sort || 'lastSeen' }
  const [page, report, segs] = await Promise.all([
    apiPost<PeoplePage>('/api/profiles/search', { ...query, cursor, limit: 25 }),
    api<JourneyReport>('/api/journey'),
    api<{ segments: Segment[] }>('/api/segments'),
  ])

  const select = (name: string, label: string, options: Array<[string, string]>, value: string) =>
    h('label', {}, label, h('select', { name }, options.map(([v, t]) => h('option', { value: v, selected: v === value }, t))))
  const form = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      onsubmit: (e: Event) => {
        e.preventDefault()
        const data = new FormData(e.target as HTMLFormElement)
        const params: Record<string, string> = {}
        for (const k of FILTERS) params[k] = String(data.get(k) ?? '')
        params.s = searches.add(String(data.get('q') ?? '').trim())
        go('people', params)
      },
    },
    h('label', { class: 'grow' }, 'Search', h('input', { name: 'q', type: 'search', value: q, placeholder: 'email, user id or anonymous id' })),
    select('stage', 'Stage', [['', 'any stage'], ...report.stages.map((s): [string, string] => [s.stage, s.name])], f.stage),
    select('segment', 'Segment', [['', 'any segment'], ...segs.segments.map((s): [string, string] => [s.id, `${s.name} (${s.count})`])], f.segment),
    select('identified', 'Identity', [['', 'everyone'], ['true', 'identified'], ['false', 'anonymous']], f.identified),
    select('sort', 'Sort', [['lastSeen', 'last seen'], ['created', 'newest profile']], query.sort),
    h('button', { type: 'submit' }, 'Apply'),
  )

  const rows = page.profiles.map((p) => [
    h('a', { href: `#/person/${encodeURIComponent(p.id)}` }, personName(p)),
    p.stageName,
    fmtNum(p.score),
    p.channel ?? '—',
    fmtTime(p.lastSeen),
    fmtNum(p.eventCount),
  ])
  const pager = h(
    'nav',
    { class: 'pager', 'aria-label': 'Pages' },
    cursor ? h('button', { type: 'button', onclick: () => history.back() }, '← Previous') : null,
    page.nextCursor
      ? h('button', { type: 'button', onclick: () => go('people', { ...f, s: searchId, cursor: page.nextCursor! }) }, 'Next →')
      : null,
  )
  const exportButton = h(
    'button',
    {
      type: 'button',
      onclick: async (e: Event) => {
        const b = e.target as HTMLButtonElement
        b.disabled = true
        try {
          await exportPeople(query)
        } finally {
          b.disabled = false
        }
      },
    },
    'Export CSV',
  )
  return h(
    'section',
    { 'aria-labelledby': 'people-title' },
    h('div', { class: 'title-row' }, h('h2', { id: 'people-title' }, 'People'), exportButton),
    form,
    h('p', { class: 'count', 'aria-live': 'polite' }, `${fmtNum(page.total)} ${page.total === 1 ? 'person' : 'people'}`),
    table('People', ['Person', 'Stage', 'Score', 'First-touch channel', 'Last seen', 'Events'], rows, 'No one matches these filters.'),
    pager,
  )
}

async function exportPeople(query: Record<string, string>): Promise<void> {
  const rows: unknown[][] = []
  let cursor: string | null = null
  do {
    const page: PeoplePage = await apiPost<PeoplePage>('/api/profiles/search', { ...query, cursor, limit: 200 })
    for (const p of page.profiles) {
      const anon = p.identifiers.filter((i) => i.kind === 'anonymousId').map((i) => i.value).join(' ')
      rows.push([p.id, p.email, p.userId, anon, p.stage, p.score, p.channel, p.segments.join(' '), p.firstSeen, p.lastSeen, p.identifiedAt, p.eventCount])
    }
    cursor = page.nextCursor
  } while (cursor)
  download('waymark-people.csv', toCsv(['id', 'email', 'userId', 'anonymousIds', 'stage', 'score', 'channel', 'segments', 'firstSeen', 'lastSeen', 'identifiedAt', 'events'], rows))
}
