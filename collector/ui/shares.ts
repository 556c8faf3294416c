// The share table on the Journey page: per content and network, the shares, the visits their
// links brought and the people those visits brought who became known (GET /api/journey/shares,
// for the page's period: shares and visits made on its days).
import { api, qs, type ShareReport } from './api.js'
import { fmtNum, h, pct, table } from './dom.js'

export async function sharesTable(period: { from: string; to: string }): Promise<HTMLElement> {
  const report = await api<ShareReport>(`/api/journey/shares${qs(period)}`)
  const rows = report.rows.map((r) => [
    r.content,
    r.network,
    fmtNum(r.shares),
    fmtNum(r.referredVisits),
    fmtNum(r.people),
    h('span', {}, fmtNum(r.becameKnown), h('span', { class: 'muted' }, ` (${pct(r.people ? r.becameKnown / r.people : null)})`)),
  ])
  return h(
    'section',
    { class: 'shares' },
    table('Shares', ['Content', 'Network', 'Shares', 'Referred visits', 'People brought', 'Became known'], rows, 'No shares yet (mark share buttons with data-wm-share).'),
  )
}
