// Webhooks: each subscription with its recent deliveries (status, attempts, the receiver's last
// answer, the next try) and a Resend button per delivery.
import { api, apiPost, type DeliveriesPage, type WebhookDelivery, type WebhookList, type WebhookSubscription, type WebhookTriggers } from './api.js'
import { fmtTime, h, table } from './dom.js'

const RECENT = 20

/** Pure: a subscription's triggers in words. */
export function describeTriggers(t: WebhookTriggers): string {
  const parts: string[] = []
  if (t['person.identified']) parts.push('person identified')
  if (t['stage.entered']) parts.push(`stage entered: ${t['stage.entered'].join(', ')}`)
  if (t['segment.entered']) parts.push(`segment entered: ${t['segment.entered'].join(', ')}`)
  if (t['segment.left']) parts.push(`segment left: ${t['segment.left'].join(', ')}`)
  if (t.event) parts.push(`events: ${t.event.join(', ')}`)
  return parts.join(' · ')
}

/** Pure: what the delivery is about, in words ("stage.entered known"). */
export function deliverySubject(d: Pick<WebhookDelivery, 'type' | 'payload'>): string {
  const x = d.payload.data
  const name = x.stage ?? x.segment ?? x.event
  return name ? `${d.type} ${name}` : d.type
}

/** Pure: the receiver's last answer, short ("HTTP 500", "network error: ECONNREFUSED", "—"). */
export function lastAnswer(d: Pick<WebhookDelivery, 'lastStatus' | 'lastError' | 'status'>): string {
  if (d.status === 'delivered') return d.lastStatus === null ? 'delivered' : `HTTP ${d.lastStatus}`
  return d.lastError ?? (d.lastStatus === null ? '—' : `HTTP ${d.lastStatus}`)
}

function deliveriesSection(w: WebhookSubscription): HTMLElement {
  const box = h('div', { class: 'deliveries' }, h('p', { class: 'muted' }, 'Loading deliveries…'))
  const load = async (note = '') => {
    const page = await api<DeliveriesPage>(`/api/webhooks/${encodeURIComponent(w.id)}/deliveries?limit=${RECENT}`)
    const rows = page.deliveries.map((d) => {
      const resend = h(
        'button',
        {
          type: 'button',
          class: 'resend',
          'aria-label': `Resend ${d.id}`,
          onclick: async () => {
            resend.setAttribute('disabled', '')
            try {
              await apiPost(`/api/webhooks/${encodeURIComponent(w.id)}/deliveries/${encodeURIComponent(d.id)}/resend`, {})
              await load(`${d.id} is queued to be sent again.`)
            } catch (err) {
              resend.removeAttribute('disabled')
              status.textContent = `Could not resend ${d.id}: ${(err as Error).message}`
            }
          },
        },
        'Resend',
      )
      const answer = d.lastBody
        ? h('details', {}, h('summary', {}, lastAnswer(d)), h('pre', {}, d.lastBody))
        : lastAnswer(d)
      return [
        fmtTime(d.createdAt),
        deliverySubject(d),
        h('a', { href: `#/person/${encodeURIComponent(d.profileId)}` }, d.payload.data.person.email ?? d.profileId),
        h('span', { class: `status status-${d.status}` }, d.status),
        String(d.attempts),
        answer,
        d.status === 'pending' ? fmtTime(d.nextAttemptAt) : '—',
        h('code', {}, d.id),
        resend,
      ]
    })
    const status = h('p', { class: 'count', role: 'status' }, note)
    box.replaceChildren(
      status,
      table(`Recent deliveries of ${w.id}`, ['Made', 'What', 'Person', 'Status', 'Attempts', 'Last answer', 'Next try', 'Delivery id', ''], rows, 'No deliveries yet.'),
    )
  }
  load().catch((err) => box.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Could not load deliveries: ${(err as Error).message}`)))
  return box
}

export async function webhooksPage(): Promise<HTMLElement> {
  const { webhooks } = await api<WebhookList>('/api/webhooks')
  return h(
    'section',
    { 'aria-labelledby': 'webhooks-title' },
    h('h2', { id: 'webhooks-title' }, 'Webhooks'),
    h('p', { class: 'count' }, `${webhooks.length} ${webhooks.length === 1 ? 'subscription' : 'subscriptions'}`),
    webhooks.length === 0
      ? h('p', { class: 'muted' }, 'No webhooks yet: add them to the journey config file or with POST /api/webhooks.')
      : webhooks.map((w) =>
          h(
            'section',
            { class: 'card webhook', 'aria-label': `Webhook ${w.id}` },
            h('h3', {}, w.id),
            h(
              'dl',
              { class: 'facts' },
              h('dt', {}, 'Target'),
              h('dd', {}, h('code', {}, w.url)),
              h('dt', {}, 'Sent on'),
              h('dd', {}, describeTriggers(w.triggers)),
              h('dt', {}, 'Defined in'),
              h('dd', {}, w.source === 'api' ? 'API' : 'config file'),
              h('dt', {}, 'Since'),
              h('dd', {}, fmtTime(w.createdAt)),
            ),
            deliveriesSection(w),
          ),
        ),
  )
}
