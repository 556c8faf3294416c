// DOM helpers. Every piece of data reaches the page as a text node or an attribute value set
// through the DOM API — never through innerHTML — because event properties, page titles and
// URLs are whatever a visitor's browser (or an attacker) sent.

type Child = Node | string | number | null | undefined | false
type Attrs = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Array<Child | Child[]>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v)
    else if (k === 'class') el.className = String(v)
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  append(el, children)
  return el
}

export function append(el: Element, children: Array<Child | Child[]>): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c)
  }
}

export function clear(el: Element): void {
  el.replaceChildren()
}

/** Only http(s) and same-site links become hrefs; anything else (javascript:, data:) stays text. */
export function safeHref(url: unknown): string | null {
  if (typeof url !== 'string') return null
  try {
    const u = new URL(url, location.href)
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null
  } catch {
    return null
  }
}

// One formatter each: toLocaleString() builds a new one per call, which a 200-event page feels.
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' })
const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' })
export const fmtTime = (iso: string | null | undefined): string => (iso ? dateTimeFormat.format(new Date(iso)) : '—')
export const fmtClock = (iso: string): string => timeFormat.format(new Date(iso))
const numberFormat = new Intl.NumberFormat()
export const fmtNum = (n: number | null | undefined): string => (n === null || n === undefined ? '—' : numberFormat.format(n))
export const pct = (r: number | null | undefined): string => (r === null || r === undefined ? '—' : `${Math.round(r * 1000) / 10} %`)

/** A duration in the two largest units that matter: 45 s, 12 min, 3 h 10 min, 2 d 3 h. */
export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—'
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s} s`
  const m = Math.round(s / 60)
  if (m < 60) return `${m} min`
  const hours = Math.floor(m / 60)
  if (hours < 24) return m % 60 ? `${hours} h ${m % 60} min` : `${hours} h`
  const d = Math.floor(hours / 24)
  return hours % 24 ? `${d} d ${hours % 24} h` : `${d} d`
}

const plainAmount = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 })
const moneyFormats = new Map<string, (n: number) => string>()
/** An amount in its currency when the code is one the browser knows, else the number and the code as sent. */
export function fmtMoney(amount: number, currency: string): string {
  let f = moneyFormats.get(currency)
  if (!f) {
    let format = plainAmount
    let suffix = ''
    try {
      if (currency) format = new Intl.NumberFormat(undefined, { style: 'currency', currency })
    } catch {
      suffix = ` ${currency}`
    }
    f = (n) => `${format.format(n)}${suffix}`
    if (moneyFormats.size < 100) moneyFormats.set(currency, f)
  }
  return f(amount)
}

/** CSV with quoting, and a leading ' on cells a spreadsheet would run as a formula. */
export function toCsv(header: string[], rows: unknown[][]): string {
  const cell = (v: unknown) => {
    let s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
  }
  return [header, ...rows].map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n'
}

export function download(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }))
  const a = h('a', { href: url, download: name })
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

/** A button that downloads `rows` as a CSV file. */
export function csvButton(name: string, header: string[], rows: unknown[][]): HTMLElement {
  return h('button', { type: 'button', class: 'link csv', onclick: () => download(name, toCsv(header, rows)) }, `Download CSV (${name})`)
}

/** A table with a caption, in a scroll box so narrow screens scroll it instead of the page; `wide`: figures never wrap (the box scrolls). */
export function table(caption: string, header: string[], rows: Child[][], empty = 'Nothing yet.', cls: 'wide' | null = null): HTMLElement {
  if (rows.length === 0) return h('section', { class: 'card' }, h('h3', {}, caption), h('p', { class: 'muted' }, empty))
  return h(
    'div',
    { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption },
    h(
      'table',
      { class: cls },
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, header.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))),
    ),
  )
}
