// Person: identity, journey facts, and the stitched timeline grouped by session, with the
// identification moment in place and the events before it marked. The timeline loads page by
// page (200 events), so a person with 10,000 events opens as fast as one with 20.
import { eventKind, PAGE_ENGAGED, SCROLL_DEPTH } from '@waymark/contract'
import { api, qs, type Detail, type Device, type DevicesPage, type TimelineEvent, type TimelinePage } from './api.js'
import { download, fmtClock, fmtNum, fmtTime, h, safeHref, table, toCsv } from './dom.js'
import { personName } from './people.js'
import type { Route } from './router.js'

const PAGE = 200

const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {})
const str = (v: unknown): string | null => (typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : null)

export async function personPage(route: Route): Promise<HTMLElement> {
  const id = route.id!
  const order = route.params.get('order') === 'desc' ? 'desc' : 'asc'
  const [{ profile }, first] = await Promise.all([
    api<{ profile: Detail }>(`/api/profiles/${encodeURIComponent(id)}`),
    api<TimelinePage>(`/api/profiles/${encodeURIComponent(id)}/timeline${qs({ limit: PAGE, order })}`),
  ])
  const j = profile.journey
  const anonIds = profile.identifiers.filter((i) => i.kind === 'anonymousId')
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
    fact('First-touch channel', j?.channel ?? '—'),
    fact('First-touch source', j?.source ?? ft?.source ?? ft?.referrer ?? '—'),
    fact('Landing page', ft?.landingPage ?? '—'),
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
  const traits = table(
    'Traits',
    ['Trait', 'Value', 'Updated'],
    Object.entries(profile.traits).map(([k, t]) => [k, typeof t.value === 'string' ? t.value : JSON.stringify(t.value), fmtTime(t.updatedAt)]),
    'No traits.',
  )

  // Timeline
  const list = h('ol', { class: 'timeline', 'aria-label': 'Timeline' })
  const status = h('p', { class: 'muted', 'aria-live': 'polite' })
  const state = { cursor: first.nextCursor, session: undefined as string | null | undefined, markerShown: false, count: 0, group: null as HTMLOListElement | null }
  // Sessions of two devices interleave in time: a session met again is shown as continued.
  const sessionsSeen = new Set<string>()
  const render = (page: TimelineEvent[]) => {
    const frag = document.createDocumentFragment()
    for (const e of aroundIdentification(page, first.identifiedAt, order)) {
      const asc = order === 'asc'
      if (j?.identification && !state.markerShown && (asc ? !e.beforeIdentified : e.beforeIdentified)) {
        if (asc || state.count > 0) {
          frag.append(marker(j.identification))
          // The marker sits between events: a session it cuts through goes on below it.
          state.group = null
        }
        state.markerShown = true
      }
      if (e.sessionId !== state.session || !state.group) {
        const continued = e.sessionId !== null && sessionsSeen.has(e.sessionId)
        if (e.sessionId !== null) sessionsSeen.add(e.sessionId)
        state.session = e.sessionId
        state.group = h('ol', { class: 'events' })
        frag.append(h('li', { class: 'session' }, sessionHeader(e, continued), state.group))
      }
      state.group.append(eventItem(e))
      state.count++
    }
    list.append(frag)
    status.textContent = `${fmtNum(state.count)} of ${fmtNum(profile.eventCount)} events shown`
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
        const next = await api<TimelinePage>(`/api/profiles/${encodeURIComponent(id)}/timeline${qs({ limit: PAGE, order, cursor: state.cursor })}`)
        state.cursor = next.nextCursor
        render(next.events)
        more.disabled = false
      },
    },
    order === 'asc' ? 'Load later events' : 'Load earlier events',
  )
  render(first.events)

  const exportTimeline = h('button', { type: 'button', onclick: () => exportEvents(id) }, 'Export timeline CSV')
  const orderLink = h('a', { href: `#/person/${encodeURIComponent(id)}?order=${order === 'asc' ? 'desc' : 'asc'}` }, order === 'asc' ? 'Newest first' : 'Oldest first')

  return h(
    'article',
    { class: 'person', 'aria-labelledby': 'person-title' },
    h('div', { class: 'title-row' }, h('h2', { id: 'person-title' }, personName(profile)), h('span', { class: `stage stage-${j?.stage ?? profile.stage}` }, j?.stageName ?? profile.stage)),
    h('div', { class: 'grid' }, h('section', { class: 'card' }, h('h3', {}, 'Identity'), facts), h('section', { class: 'card' }, h('h3', {}, 'Lead score'), h('p', { class: 'score' }, j ? fmtNum(j.score) : '—'), reasons, h('h3', {}, 'Segments'), segments)),
    devices,
    traits,
    h('div', { class: 'title-row' }, h('h3', { id: 'timeline-title' }, 'Timeline'), h('span', { class: 'actions' }, orderLink, exportTimeline)),
    list,
    status,
    more,
  )
}

/**
 * Events in the identification's own millisecond count as before it when they carried no
 * identity (rule 7), yet the API orders them by arrival: put those first (last, newest first),
 * so the marker separates the two groups exactly.
 */
export function aroundIdentification(events: TimelineEvent[], identifiedAt: string | null, order: 'asc' | 'desc'): TimelineEvent[] {
  if (!identifiedAt || !events.some((e) => e.timestamp === identifiedAt)) return events
  const same = events.filter((e) => e.timestamp === identifiedAt)
  const sorted = [...same.filter((e) => e.beforeIdentified === (order === 'asc')), ...same.filter((e) => e.beforeIdentified !== (order === 'asc'))]
  let k = 0
  return events.map((e) => (e.timestamp === identifiedAt ? sorted[k++]! : e))
}

function fact(label: string, value: string | null): HTMLElement[] {
  return [h('dt', {}, label), h('dd', {}, value ?? '—')]
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

function sessionHeader(e: TimelineEvent, continued: boolean): HTMLElement {
  const ctx = obj(e.context)
  const campaign = obj(ctx.campaign)
  const page = obj(ctx.page)
  const channel = str(campaign.channel) ?? 'direct'
  const source = str(campaign.source)
  const landing = str(page.path) ?? str(page.url)
  return h(
    'div',
    { class: 'session-head' },
    h('strong', {}, e.sessionId ? (continued ? 'Session, continued' : 'Session') : 'Outside a session'),
    ` ${fmtTime(e.timestamp)} · `,
    h('span', { class: 'channel' }, source ? `${channel} (${source})` : channel),
    landing && !continued ? [' · landing ', h('code', {}, landing)] : null,
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
  const kind = eventKind(ev)
  const detail =
    kind === 'content'
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
    e.beforeIdentified ? h('span', { class: 'badge', title: 'happened before this person was identified' }, 'anonymous') : null,
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
