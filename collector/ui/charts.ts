// Charts with uPlot (small, canvas, no dependencies). A canvas says nothing to a screen reader or
// a keyboard: every chart is a figure whose caption names it, with the table of its figures in a
// disclosure right under it (a keyboard reaches its summary; the table itself scrolls by keys).
import uPlot from 'uplot'
import uplotCss from 'uplot/dist/uPlot.min.css'
import { h } from './dom.js'

type Child = Node | string | number | null | undefined | false

export const COLORS = ['#0b5cad', '#0a7a3d', '#b3541e', '#7a3db8', '#8a5a00', '#2f6f73', '#b0235f', '#5c6670']

let styled = false
/** uPlot's own stylesheet, once (the page's CSP allows inline styles and no other source). */
function style(): void {
  if (styled) return
  styled = true
  document.head.append(h('style', {}, uplotCss))
}

export interface Series {
  label: string
  values: Array<number | null>
  color?: string
}

export interface ChartSpec {
  /** The figure's caption. */
  title: string
  /** What the chart shows, for screen readers (the table holds the figures). */
  summary: string
  kind: 'time' | 'bars'
  /** `time`: UTC day starts (epoch seconds); `bars`: category names. */
  x: number[] | string[]
  series: Series[]
  /** The table behind the chart. */
  table: { header: string[]; rows: Child[][] }
  height?: number
}

const HEIGHT = 240

/** A figure with the chart, a legend and its table; the chart follows the figure's width. */
export function chart(spec: ChartSpec): HTMLElement {
  style()
  const box = h('div', { class: 'chart', role: 'img', 'aria-label': `${spec.title}: ${spec.summary} The table below holds the figures.` })
  const details = h(
    'details',
    { class: 'chart-table' },
    h('summary', {}, 'The figures as a table'),
    h(
      'div',
      { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': `${spec.title} (table)` },
      h(
        'table',
        { class: 'wide' },
        // The figure's caption says it above; the table keeps its name for screen readers.
        h('caption', { class: 'sr-only' }, spec.title),
        h('thead', {}, h('tr', {}, spec.table.header.map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, spec.table.rows.map((r) => h('tr', {}, r.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', {}, c)))))),
      ),
    ),
  )
  const figure = h('figure', { class: 'card figure' }, h('figcaption', {}, spec.title), box, details)
  const height = spec.height ?? HEIGHT
  const plot = new uPlot(optionsOf(spec, 600, height), dataOf(spec), box)
  // Drawn at the figure's width once it is in the page, and again when that width changes.
  const resize = new ResizeObserver(() => {
    const width = Math.floor(box.clientWidth)
    if (width > 0 && width !== plot.width) plot.setSize({ width, height })
    if (!figure.isConnected) resize.disconnect()
  })
  resize.observe(box)
  return figure
}

function dataOf(spec: ChartSpec): uPlot.AlignedData {
  const x = spec.kind === 'bars' ? spec.x.map((_, i) => i) : (spec.x as number[])
  return [x, ...spec.series.map((s) => s.values)]
}

/** Ticks on the buckets themselves (a day or a week each), as many as fit one label every 64 px. */
function bucketTicks(u: uPlot): number[] {
  const xs = u.data[0] as number[]
  const step = Math.max(1, Math.ceil(xs.length / Math.max(2, Math.floor(u.width / 64))))
  return xs.filter((_, i) => i % step === 0)
}

/** A category name cut to the room of its bar (about 7 px a character); the table has it whole. */
function fit(name: string, room: number): string {
  const chars = Math.max(3, Math.floor(room / 7) - 1)
  return name.length <= chars ? name : `${name.slice(0, chars - 1)}…`
}

const STEPS = [1, 2, 5].flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9].map((p) => m * p)).sort((a, b) => a - b)

const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 })

function optionsOf(spec: ChartSpec, width: number, height: number): uPlot.Options {
  const bars = spec.kind === 'bars'
  const names = bars ? (spec.x as string[]) : []
  const series: uPlot.Series[] = [
    bars ? { label: 'Stage', value: (_u, i) => (i === null ? '—' : (names[i] ?? '')) } : { label: 'Day', value: (_u, t) => (t === null ? '—' : new Date(t * 1000).toISOString().slice(0, 10)) },
    ...spec.series.map((s, i): uPlot.Series => {
      const color = s.color ?? COLORS[i % COLORS.length]!
      return bars
        ? { label: s.label, stroke: color, fill: `${color}cc`, width: 0, paths: uPlot.paths.bars!({ size: [0.7 / spec.series.length, 80], align: 0 }), points: { show: false } }
        : // The first series is shaded, so a line drawn over it leaves it visible.
          { label: s.label, stroke: color, width: 2, ...(i === 0 ? { fill: `${color}1f` } : {}), points: { show: spec.x.length <= 60, size: 5, fill: color } }
    }),
  ]
  return {
    width,
    height,
    // Buckets are UTC days: ticks too, whatever the viewer's time zone.
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    series,
    legend: { show: !bars },
    cursor: { drag: { x: false, y: false }, points: { show: !bars } },
    scales: {
      // One bucket alone: half a day either side of it.
      x: bars ? { time: false, range: [-0.5, names.length - 0.5] } : { time: true, range: (_u, min, max) => (min === max ? [min - 43_200, max + 43_200] : [min, max]) },
      y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
    },
    axes: [
      bars
        ? { splits: () => names.map((_, i) => i), values: (u, splits) => splits.map((i) => fit(names[i] ?? '', u.width / names.length)), grid: { show: false } }
        : { splits: bucketTicks, values: (_u, splits) => splits.map((t) => new Date(t * 1000).toISOString().slice(5, 10)) },
      // Counts and amounts: whole-number steps.
      { incrs: STEPS, values: (_u, splits) => splits.map((v) => compact.format(v)), size: 50 },
    ],
  }
}
