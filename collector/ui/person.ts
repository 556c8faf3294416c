// Person: identity, journey facts, and the stitched timeline grouped by session, with the
// identification moment and each device linked later in place, and every event recorded
// before its device joined the person marked. The timeline loads page by page (200 events), so
// a person with 10,000 events opens as fast as one with 20; it can be narrowed to kinds of
// events, and scroll depth and engaged time are folded into the page view they measure.
import { CONTENT_SHARED, PAGE_ENGAGED, SCROLL_DEPTH, TIMELINE_KINDS, timelineKind, touchOfEvent, type LinkedDevice, type TimelineKind } from '@waymark/contract'
import { api, qs, type Detail, type Device, type DevicesPage, type TimelineEvent, type TimelinePage, type Touch } from './api.js'
import { download, fmtClock, fmtNum, fmtTime, h, safeHref, table, toCsv } from './dom.js'
import { personName } from './people.js'
import { go, type Route } from './router.js'

const PAGE = 200
/** The filter's names for the timeline kinds. */
const KIND_LABELS: Record<TimelineKind, string> = { page: 'Pages', content: 'Content', form: 'Forms', link: 'Links', custom: 'Custom events', identity: 'Identity' }

const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {})
const str = (v: unknown): string | null => (typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : null)

export async function personPage(route: Route): Promise<HTMLElement> {
  const id = route.id!
  const order = route.params.get('order') === 'desc' ? 'desc' : 'asc'
  const asked = (route.params.get('kinds') ?? '').split(',').filter((k): k is TimelineKind => TIMELINE_KINDS.includes(k as TimelineKind))
  const kinds = asked.length ? asked.join(',') : ''
  const timelineUrl = (cursor?: string | null) => `/api/profiles/${encodeURIComponent(id)}/timeline${qs({ limit: PAGE, order, kinds, cursor })}`
  const [{ profile }, first] = await Promise.all([api<{ profile: Detail }>(`/api/profiles/${encodeURIComponent(id)}`), api<TimelinePage>(timelineUrl())])
  const j = profile.journey
  const anonIds = profile.identifiers.filter((i) => i.kind === 'anonymousId')
  // The earliest page view's touch, on any device: the same in the session it starts and in traits.
  const ft = profile.firstTouch

  const facts = h(
    'dl',
    { class: 'facts' },
    fact('Email', profile.email),
    fact('User id', profile.userId),
    fact('Profile id', profile.id),
    fact('First seen', fmtTime(profile.firstSeen)),
    fact('Last seen', fmtTime(profile.lastSeen)),
    fact('Identified', profile.identifiedAt ? fmtTime(profile.identifiedAt) : 'not yet (anonymous)'),
    fact('First-touch channel', ft?.channel ?? null),
    fact('First-touch source', ft?.source ? (ft.medium ? `${ft.source} / ${ft.medium}` : ft.source) : (ft?.referrer ?? null)),
    fact('First-touch campaign', ft?.campaign ?? null),
    fact('Landing page', ft?.landingPage ?? null),
    fact('Stage', j?.stageName ?? profile.stage),
    fact('Lead score', j ? fmtNum(j.score) : '—'),
    fact('Events', fmtNum(profile.eventCount)),
  )

  const reasons = j?.reasons.length
    ? table('Why this score', ['Rule', 'Events', 'Points'], j.reasons.map((r) => [r.label, fmtNum(r.count), String(r.points)]))
    : h('p', { class: 'muted' }, 'No scoring rule fired yet.')
  const segments = h(
    'ul',
    { class: 'chips', 'aria-label': 'Segments' },
    (j?.segments ?? []).map((s) => h('li', {}, h('a', { href: `#/people?segment=${encodeURIComponent(s.id)}` }, s.name))),
  )
  const deviceRow = (d: Device) => [
    h('code', {}, d.anonymousId),
    [d.browser, d.os, d.device].filter(Boolean).join(' · ') || '—',
    fmtNum(d.events),
    fmtTime(d.firstSeen),
    fmtTime(d.lastSeen),
  ]
  const shown: Device[] = j?.devices ?? anonIds.map((i) => ({ anonymousId: i.value, browser: null, os: null, device: null, events: i.eventCount, firstSeen: i.firstSeen, lastSeen: i.lastSeen }))
  const deviceTable = table('Linked anonymous ids and devices', ['Anonymous id', 'Device', 'Events', 'First seen', 'Last seen'], shown.map(deviceRow))
  // The profile carries the most recent devices only; the rest come a page at a time.
  const deviceCount = j?.deviceCount ?? anonIds.length
  const devicePages = { cursor: undefined as string | undefined, started: false }
  const moreDevices = h(
    'button',
    {
      type: 'button',
      class: 'more',
      hidden: deviceCount <= shown.length,
      onclick: async () => {
        moreDevices.disabled = true
        const page = await api<DevicesPage>(`/api/profiles/${encodeURIComponent(id)}/devices${qs({ limit: PAGE, cursor: devicePages.cursor })}`)
        const body = deviceTable.querySelector('tbody')!
        if (!devicePages.started) body.replaceChildren()
        devicePages.started = true
        body.append(...page.devices.map((d) => h('tr', {}, deviceRow(d).map((c) => h('td', {}, c)))))
        devicePages.cursor = page.nextCursor ?? undefined
        moreDevices.hidden = !page.nextCursor
        moreDevices.textContent = 'More devices'
        moreDevices.disabled = false
      },
    },
    `Show all ${fmtNum(deviceCount)} devices`,
  )
  const devices = h('section', { class: 'devices' }, deviceTable, moreDevices)
  // Each browser sends the first touch it saw itself: the person's, across devices, is shown.
  const traits = table(
    'Traits',
    ['Trait', 'Value', 'Updated'],
    Object.entries(profile.traits).map(([k, t]) =>
      k === 'firstTouch' && ft ? [k, fields(touchFields(ft)), fmtTime(ft.at)] : [k, fields(t.value), fmtTime(t.updatedAt)],
    ),
    'No traits.',
  )

  // Timeline
  const list = h('ol', { class: 'timeline', 'aria-label': 'Timeline' })
  const status = h('p', { class: 'muted', 'aria-live': 'polite' })
  const view = timelineView(list, order, j, kinds !== '')
  const state = { cursor: first.nextCursor }
  const render = (page: TimelineEvent[]) => {
    view.add(page, !state.cursor)
    status.textContent = kinds
      ? `${fmtNum(view.count())} events of the chosen kinds shown (of ${fmtNum(profile.eventCount)})`
      : `${fmtNum(view.count())} of ${fmtNum(profile.eventCount)} events shown`
    more.hidden = !state.cursor
  }
  const more = h(
    'button',
    {
      type: 'button',
      class: 'more',
      onclick: async () => {
        if (!state.cursor) return
        more.disabled = true
        const next = await api<TimelinePage>(timelineUrl(state.cursor))
        state.cursor = next.nextCursor
        render(next.events)
        more.disabled = false
      },
    },
    order === 'asc' ? 'Load later events' : 'Load earlier events',
  )
  render(first.events)
  const shownKinds = new Set(asked.length ? asked : TIMELINE_KINDS)
  const filter = h(
    'form',
    {
      class: 'filters kinds',
      'aria-label': 'Kinds of events',
      onsubmit: (e: Event) => {
        e.preventDefault()
        const data = new FormData(e.target as HTMLFormElement)
        const chosen = TIMELINE_KINDS.filter((k) => data.get(k) !== null)
        go('person', { order, kinds: chosen.length === TIMELINE_KINDS.length || !chosen.length ? '' : chosen.join(',') }, id)
      },
    },
    h('fieldset', {}, h('legend', {}, 'Show'), TIMELINE_KINDS.map((k) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: k, checked: shownKinds.has(k) }), KIND_LABELS[k]))),
    h('button', { type: 'submit' }, 'Filter'),
  )

  const exportTimeline = h('button', { type: 'button', onclick: () => exportEvents(id) }, 'Export timeline CSV')
  const orderLink = h('a', { href: `#/person/${encodeURIComponent(id)}${qs({ order: order === 'asc' ? 'desc' : 'asc', kinds })}` }, order === 'asc' ? 'Newest first' : 'Oldest first')

  return h(
    'article',
    { class: 'person', 'aria-labelledby': 'person-title' },
    h('div', { class: 'title-row' }, h('h2', { id: 'person-title' }, personName(profile)), h('span', { class: `stage stage-${j?.stage ?? profile.stage}` }, j?.stageName ?? profile.stage)),
    h('div', { class: 'grid' }, h('section', { class: 'card' }, h('h3', {}, 'Identity'), facts), h('section', { class: 'card' }, h('h3', {}, 'Lead score'), h('p', { class: 'score' }, j ? fmtNum(j.score) : '—'), reasons, h('h3', {}, 'Segments'), segments)),
    devices,
    traits,
    h('div', { class: 'title-row' }, h('h3', { id: 'timeline-title' }, 'Timeline'), h('span', { class: 'actions' }, orderLink, exportTimeline)),
    filter,
    list,
    status,
    more,
  )
}

/**
 * Events in a marker's own millisecond count as before it when they carried no identity (rule
 * 7), yet the API orders them by arrival: put those first (last, newest first), so the marker
 * separates the two groups exactly.
 */
export function aroundMarkers(events: TimelineEvent[], times: string[], order: 'asc' | 'desc'): TimelineEvent[] {
  const at = new Set(times)
  if (!events.some((e) => at.has(e.timestamp))) return events
  const out = [...events]
  for (let i = 0; i < out.length; ) {
    let k = i + 1
    while (k < out.length && out[k]!.timestamp === out[i]!.timestamp) k++
    if (at.has(out[i]!.timestamp)) {
      const same = out.slice(i, k)
      out.splice(i, k - i, ...same.filter((e) => e.beforeIdentified === (order === 'asc')), ...same.filter((e) => e.beforeIdentified !== (order === 'asc')))
    }
    i = k
  }
  return out
}

/** The address a page view was of, or a scroll depth / engaged time was measured on. */
const pageUrlOf = (e: TimelineEvent) => str(obj(e.properties).url) ?? str(obj(obj(e.context).page).url) ?? ''
const isMeasure = (e: TimelineEvent) => e.type === 'track' && (e.event === SCROLL_DEPTH || e.event === PAGE_ENGAGED)

/** What a page view's scroll depth and engaged time add up to: the deepest milestone, the sum of engaged time. */
class Measures {
  percent = 0
  seconds = 0
  add(e: TimelineEvent): void {
    const p = obj(e.properties)
    if (e.event === SCROLL_DEPTH && typeof p.percent === 'number') this.percent = Math.max(this.percent, p.percent)
    if (e.event === PAGE_ENGAGED && typeof p.engagedSeconds === 'number') this.seconds += p.engagedSeconds
  }
  text(): string {
    return [this.percent ? `scrolled to ${fmtNum(this.percent)} %` : '', this.seconds ? `engaged ${fmtNum(Math.round(this.seconds * 10) / 10)} s` : ''].filter(Boolean).join(' · ')
  }
}

interface PageRow {
  li: HTMLElement
  measures: Measures
  shown: HTMLElement | null
}

function showMeasures(row: PageRow): void {
  if (!row.shown) row.li.querySelector('.what')!.append(' ', (row.shown = h('span', { class: 'folded' })))
  row.shown.textContent = row.measures.text()
}

/**
 * The timeline as it loads, page after page: session groups, the markers (the identification,
 * each device linked later) where their moment falls, scroll depth and engaged time folded into
 * their page view (same device, same address; newest first, into the page view met after them).
 */
function timelineView(list: HTMLOListElement, order: 'asc' | 'desc', j: Detail['journey'], filtered: boolean) {
  const asc = order === 'asc'
  const markers: Array<{ at: string; el: () => HTMLElement }> = []
  if (j?.identification) markers.push({ at: j.identification.at, el: () => marker(j.identification!) })
  for (const d of j?.linkedDevices ?? []) markers.push({ at: d.at, el: () => deviceMarker(d) })
  markers.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0) * (asc ? 1 : -1))
  // A marker goes before the first event past its moment (in its millisecond: the first that is
  // not before it, as the badges say).
  const due = (e: TimelineEvent, at: string) => (asc ? e.timestamp > at || (e.timestamp === at && !e.beforeIdentified) : e.timestamp < at || (e.timestamp === at && e.beforeIdentified))
  let next = 0
  let count = 0
  let session: string | null | undefined
  let group: HTMLOListElement | null = null
  // Sessions of two devices interleave in time: a session's later parts are shown as continued.
  // Newest first, the part met last is the session's start: the parts met before it become the
  // continued ones, and a header follows its group's oldest event.
  type Part = { head: HTMLElement; event: TimelineEvent; continued: boolean }
  let part: Part | null = null
  const parts = new Map<string, Part[]>()
  const redraw = (p: Part) => {
    const next = sessionHeader(p.event, p.continued, filtered)
    p.head.replaceWith(next)
    p.head = next
  }
  const pages = new Map<string, PageRow>()
  const waiting = new Map<string, { rows: HTMLElement[]; measures: Measures }>()
  return {
    count: () => count,
    add(events: TimelineEvent[], end: boolean): void {
      const frag = document.createDocumentFragment()
      for (const e of aroundMarkers(events, markers.map((m) => m.at), order)) {
        while (next < markers.length && due(e, markers[next]!.at)) {
          frag.append(markers[next++]!.el())
          // The marker sits between events: a session it cuts through goes on below it.
          group = null
        }
        if (e.sessionId !== session || !group) {
          const met = e.sessionId === null ? [] : (parts.get(e.sessionId) ?? [])
          part = { head: h('div'), event: e, continued: asc && met.length > 0 }
          if (!asc) for (const p of met.filter((p) => !p.continued)) (p.continued = true), redraw(p)
          if (e.sessionId !== null) parts.set(e.sessionId, [...met, part])
          session = e.sessionId
          group = h('ol', { class: 'events' })
          part.head = sessionHeader(e, part.continued, filtered)
          frag.append(h('li', { class: 'session' }, part.head, group))
        } else if (!asc) {
          part!.event = e
          redraw(part!)
        }
        count++
        const key = `${e.anonymousId ?? ''}\u0000${pageUrlOf(e)}`
        if (isMeasure(e) && asc) {
          const row = pages.get(key)
          if (row) {
            row.measures.add(e)
            showMeasures(row)
            continue
          }
        }
        const li = eventItem(e)
        group.append(li)
        if (isMeasure(e) && !asc) {
          const w = waiting.get(key) ?? { rows: [], measures: new Measures() }
          w.rows.push(li)
          w.measures.add(e)
          waiting.set(key, w)
        } else if (e.type === 'page' || e.type === 'screen') {
          const row: PageRow = { li, measures: new Measures(), shown: null }
          if (asc) pages.set(key, row)
          const w = waiting.get(key)
          if (!asc && w) {
            waiting.delete(key)
            row.measures = w.measures
            showMeasures(row)
            for (const r of w.rows) {
              const box = r.parentElement
              r.remove()
              if (box && !box.childElementCount) box.parentElement?.remove()
            }
          }
        }
      }
      if (end) while (next < markers.length) frag.append(markers[next++]!.el())
      list.append(frag)
    },
  }
}

function fact(label: string, value: string | null): HTMLElement[] {
  return [h('dt', {}, label), h('dd', {}, value ?? '—')]
}

/** A touch's fields in reading order, without its time. */
function touchFields(t: Touch): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [label, value] of [
    ['channel', t.channel],
    ['source', t.source],
    ['medium', t.medium],
    ['campaign', t.campaign],
    ['term', t.term],
    ['content', t.content],
    ['referrer', t.referrer],
    ['landing page', t.landingPage],
  ] as const) {
    if (value) out[label] = value
  }
  return out
}

/** A value as text, an object as its fields (one per line, nested ones inside), never as raw JSON. */
function fields(value: unknown): Node | string {
  if (value === null || value === undefined) return '—'
  if (Array.isArray(value)) return value.every((v) => typeof v !== 'object' || v === null) ? value.join(', ') : h('ol', { class: 'fields' }, value.map((v) => h('li', {}, fields(v))))
  if (typeof value !== 'object') return String(value)
  return h('dl', { class: 'fields' }, Object.entries(value).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, fields(v))]))
}

function marker(i: NonNullable<NonNullable<Detail['journey']>['identification']>): HTMLElement {
  return h(
    'li',
    { class: 'marker', role: 'note' },
    h('strong', {}, `Identified as ${i.as}`),
    ` — ${fmtNum(i.earlierEvents)} earlier anonymous ${i.earlierEvents === 1 ? 'event' : 'events'} from ${fmtNum(i.devices)} ${i.devices === 1 ? 'device' : 'devices'} stitched`,
    h('span', { class: 'muted' }, ` · ${fmtTime(i.at)}`),
  )
}

function deviceMarker(d: LinkedDevice): HTMLElement {
  const what = [d.browser, d.os].filter(Boolean).join(' · ') || `anonymous id ${d.anonymousId}`
  return h(
    'li',
    { class: 'marker device-link', role: 'note' },
    h('strong', {}, `Device linked: ${what}`),
    ` — ${d.earlierEvents ? fmtNum(d.earlierEvents) : 'no'} earlier anonymous ${d.earlierEvents === 1 ? 'event' : 'events'}`,
    h('span', { class: 'muted' }, ` · ${fmtTime(d.at)}`),
  )
}

/** The session's start: its channel and source, landing page and device (a filtered timeline may not show its first event: no landing page then). */
function sessionHeader(e: TimelineEvent, continued: boolean, filtered: boolean): HTMLElement {
  const t = touchOfEvent(e)
  const channel = t.channel ?? 'direct'
  return h(
    'div',
    { class: 'session-head' },
    h('strong', {}, e.sessionId ? (continued ? 'Session, continued' : 'Session') : 'Outside a session'),
    ` ${fmtTime(e.timestamp)} · `,
    h('span', { class: 'channel' }, t.source ? `${channel} (${t.source})` : channel),
    t.campaign ? [' · campaign ', h('span', { class: 'campaign' }, t.campaign)] : null,
    t.landingPage && !continued && !filtered ? [' · landing ', h('code', {}, t.landingPage)] : null,
    [e.browser, e.os, e.device].some(Boolean) ? ` · ${[e.browser, e.os, e.device].filter(Boolean).join(' ')}` : null,
  )
}

/** What the event is, in one line: the page title and path, the content, the form, the link. */
export function describe(e: TimelineEvent): { kind: string; title: string; detail: string | null; href: string | null } {
  const p = obj(e.properties)
  const ctx = obj(e.context)
  const page = obj(ctx.page)
  if (e.type === 'page' || e.type === 'screen') {
    const title = str(p.title) ?? str(page.title) ?? e.name ?? str(p.path) ?? 'Page'
    return { kind: 'page', title, detail: str(p.path) ?? str(page.path), href: safeHref(str(p.url) ?? str(page.url)) }
  }
  if (e.type === 'identify') {
    const t = obj(e.traits)
    return { kind: 'identify', title: `Identify ${str(t.email) ?? e.email ?? e.userId ?? ''}`.trim(), detail: null, href: null }
  }
  if (e.type !== 'track') return { kind: e.type, title: e.type, detail: null, href: null }
  const ev = e.event ?? 'Event'
  const kind = isMeasure(e) ? 'measure' : timelineKind(e.type, ev)
  const detail =
    ev === CONTENT_SHARED
      ? [str(p.name), str(p.network) && `on ${str(p.network)}`].filter(Boolean).join(' ')
      : kind === 'content'
        ? [str(p.name), str(p.piece)].filter(Boolean).join(' — ')
        : kind === 'form'
          ? (str(p.name) ?? str(p.id))
          : kind === 'link'
            ? (str(p.url) ?? str(p.text))
            : ev === SCROLL_DEPTH
              ? `${str(p.percent) ?? '?'} %`
              : ev === PAGE_ENGAGED
                ? `${str(p.engagedSeconds) ?? '?'} s`
                : null
  return { kind, title: ev, detail: detail || null, href: kind === 'link' ? safeHref(str(p.url)) : null }
}

function eventItem(e: TimelineEvent): HTMLElement {
  const d = describe(e)
  const props = e.properties && Object.keys(e.properties).length ? e.properties : null
  return h(
    'li',
    { class: `event kind-${d.kind}${e.beforeIdentified ? ' before' : ''}` },
    h('time', { datetime: e.timestamp }, fmtClock(e.timestamp)),
    h('span', { class: 'kind' }, d.kind),
    h('span', { class: 'what' }, d.title, d.detail ? [' ', h('span', { class: 'detail' }, d.href ? h('a', { href: d.href, rel: 'noopener noreferrer', target: '_blank' }, d.detail) : d.detail)] : null),
    e.beforeIdentified ? h('span', { class: 'badge', title: 'recorded before its device joined this person' }, 'anonymous') : null,
    props ? propertiesBox(props) : null,
  )
}

/** Properties are laid out when first opened: most are never looked at, and 200 per page add up. */
function propertiesBox(props: Record<string, unknown>): HTMLElement {
  const box = h('details', {}, h('summary', {}, 'properties'))
  box.addEventListener('toggle', () => {
    if (box.open && box.childElementCount === 1) box.append(h('pre', {}, JSON.stringify(props, null, 2)))
  })
  return box
}

async function exportEvents(id: string): Promise<void> {
  const rows: unknown[][] = []
  let cursor: string | null = null
  do {
    const page: TimelinePage = await api<TimelinePage>(`/api/profiles/${encodeURIComponent(id)}/timeline${qs({ limit: 500, order: 'asc', cursor })}`)
    for (const e of page.events) {
      const d = describe(e)
      rows.push([e.timestamp, e.type, e.event ?? e.name, d.title, d.detail, e.sessionId, e.anonymousId, e.userId, e.email, e.beforeIdentified, e.messageId, e.properties])
    }
    cursor = page.nextCursor
  } while (cursor)
  download(`waymark-timeline-${id}.csv`, toCsv(['timestamp', 'type', 'event', 'title', 'detail', 'sessionId', 'anonymousId', 'userId', 'email', 'beforeIdentified', 'messageId', 'properties'], rows))
}
