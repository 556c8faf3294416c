// The timeline viewer at /ui: one HTML page and the bundle built by the root rollup
// config (collector/ui → collector/dist/ui/viewer.js). The page reads only /api/*.
// The Content-Security-Policy allows no inline script and no foreign source: a second wall
// behind the viewer's rule of rendering all data as text.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config.js'

const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

export async function uiRoutes(app: FastifyInstance, opts: { config: Config }): Promise<void> {
  const dir = opts.config.staticDirs.ui
  const page = (_req: unknown, reply: import('fastify').FastifyReply) =>
    reply.type('text/html; charset=utf-8').header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').send(HTML)
  app.get('/ui', page)
  app.get('/ui/', page)
  for (const [file, type] of [
    ['viewer.js', 'text/javascript; charset=utf-8'],
    ['viewer.js.map', 'application/json'],
  ] as const) {
    app.get(`/ui/${file}`, async (_req, reply) => {
      let body: Buffer
      try {
        body = await readFile(join(dir, file))
      } catch {
        return reply.code(404).send({ error: 'the viewer is not built: run `npm run build` at the repository root' })
      }
      return reply.type(type).header('x-content-type-options', 'nosniff').header('cache-control', 'no-cache').send(body)
    })
  }
}

const CSS = `
:root{--fg:#1b1f24;--muted:#5c6670;--line:#d8dee4;--bg:#f6f8fa;--card:#fff;--accent:#0b5cad;--before:#8a5a00;--before-bg:#fff6e0;--mark:#0a7a3d}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header.app{display:flex;align-items:center;gap:1rem;padding:.6rem 1rem;background:#10243e;color:#fff;flex-wrap:wrap}
header.app h1{font-size:1.05rem;margin:0}
#app{max-width:1200px;margin:0 auto;padding:1rem}
nav.top{display:flex;gap:1rem;align-items:center;margin-bottom:1rem;flex-wrap:wrap}
nav.top a{color:var(--accent);font-weight:600;text-decoration:none;padding:.3rem .1rem;border-bottom:2px solid transparent}
nav.top a[aria-current=page]{border-color:var(--accent)}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,summary:focus-visible,[tabindex]:focus-visible{outline:3px solid #f0a500;outline-offset:2px}
button{font:inherit;padding:.4rem .8rem;border:1px solid var(--accent);background:var(--accent);color:#fff;border-radius:6px;cursor:pointer}
button.link{background:none;color:var(--accent);border:none;text-decoration:underline;padding:.3rem}
button[disabled]{opacity:.6}
input,select{font:inherit;padding:.35rem .5rem;border:1px solid var(--line);border-radius:6px;background:#fff;max-width:100%}
label{display:flex;flex-direction:column;gap:.2rem;font-size:.85rem;color:var(--muted)}
.filters{display:flex;gap:.6rem;flex-wrap:wrap;align-items:flex-end;margin:.5rem 0}
.filters .grow{flex:1 1 16rem}
.title-row{display:flex;align-items:center;justify-content:space-between;gap:.6rem;flex-wrap:wrap}
.actions{display:flex;gap:.8rem;align-items:center}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.8rem 1rem;margin:.8rem 0}
.signin{max-width:28rem;display:flex;flex-direction:column;gap:.5rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,22rem),1fr));gap:0 1rem}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem .8rem;margin:0}
.facts dt{color:var(--muted)}.facts dd{margin:0;overflow-wrap:anywhere}
.score{font-size:2rem;font-weight:700;margin:.2rem 0}
.chips{list-style:none;padding:0;display:flex;gap:.4rem;flex-wrap:wrap}
.chips li{background:#e7f0fb;border-radius:999px;padding:.1rem .6rem}
.table-wrap{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:8px;margin:.8rem 0}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-weight:700;padding:.6rem .8rem}
th,td{text-align:left;padding:.4rem .8rem;border-top:1px solid var(--line);vertical-align:top;overflow-wrap:anywhere}
th{font-size:.8rem;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.count{color:var(--muted);margin:.2rem 0}
.pager{display:flex;gap:.6rem}
.muted{color:var(--muted)}.error{color:#b00020}
.stage{background:#10243e;color:#fff;border-radius:999px;padding:.15rem .7rem;font-size:.85rem}
.timeline,.events{list-style:none;padding:0;margin:0}
.session{background:var(--card);border:1px solid var(--line);border-radius:8px;margin:.6rem 0;overflow:hidden}
.session-head{background:#eef2f6;padding:.45rem .8rem;font-size:.9rem;overflow-wrap:anywhere}
.event{display:grid;grid-template-columns:6.5rem 5rem 1fr auto;gap:.2rem .6rem;padding:.35rem .8rem;border-top:1px solid var(--line);align-items:baseline}
.event time{color:var(--muted);font-variant-numeric:tabular-nums}
.event .kind{font-size:.75rem;text-transform:uppercase;color:var(--muted)}
.event .what{overflow-wrap:anywhere}.event .detail{color:var(--muted)}
.event details{grid-column:1/-1}.event pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f3f5f7;padding:.5rem;margin:.3rem 0;font-size:.8rem}
.event.before{background:var(--before-bg);box-shadow:inset 4px 0 0 var(--before)}
.badge{justify-self:start;font-size:.72rem;color:var(--before);border:1px solid var(--before);border-radius:4px;padding:0 .35rem}
.marker{margin:.8rem 0;padding:.6rem .8rem;border:2px solid var(--mark);border-radius:8px;background:#e8f7ee;color:#063d1f}
figure.figure{margin:.8rem 0}
figure.figure figcaption{font-weight:700;margin-bottom:.4rem}
.card h3{margin:.2rem 0 .5rem}
.card .table-wrap{border:none;margin:.4rem 0}
.chart{width:100%;min-height:2rem}
.chart .u-legend{font-size:.85rem;color:var(--muted)}
.chart-table summary{cursor:pointer;color:var(--accent);margin-top:.4rem}
label.inline{flex-direction:row;align-items:center;gap:.4rem}
.with-csv{margin:.8rem 0}.with-csv>.table-wrap,.with-csv>.card{margin-bottom:.2rem}
button.csv{font-size:.85rem}
table.wide td{white-space:nowrap;overflow-wrap:normal}
table.wide th{overflow-wrap:normal;min-width:4.5rem}
table.wide th,table.wide td{padding:.4rem .6rem}
tbody th{text-transform:none;letter-spacing:normal;font-size:inherit;color:inherit;font-weight:600;white-space:nowrap}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
table.wide td:first-child{white-space:normal;overflow-wrap:anywhere;min-width:8rem;max-width:22rem}
.marker.device-link{border-style:dashed;background:#eef6f1}
.event .folded{color:var(--muted);font-size:.88rem}
.fields{display:grid;grid-template-columns:max-content 1fr;gap:0 .6rem;margin:0;padding:0;list-style:none}
.fields dt{color:var(--muted)}.fields dd{margin:0}
.kinds fieldset{display:flex;flex-wrap:wrap;gap:.3rem 1rem;border:1px solid var(--line);border-radius:8px;padding:.3rem .8rem .5rem;margin:0}
.kinds legend{font-size:.85rem;color:var(--muted);padding:0 .3rem}
label.check{flex-direction:row;align-items:center;gap:.3rem;font-size:.9rem;color:var(--fg)}
.funnel{list-style:none;padding:0;margin:0;display:flex;flex-direction:column;gap:.5rem}
.funnel li{display:grid;grid-template-columns:10rem 1fr;gap:.2rem .8rem;align-items:center}
.funnel .bar-box{background:#eef2f6;border-radius:4px;height:1.4rem;overflow:hidden}
.funnel .bar{display:block;height:100%;background:linear-gradient(90deg,#0b5cad,#3b8ad9)}
.funnel .nums{grid-column:2;font-size:.85rem;color:var(--muted)}
.more{margin:.6rem 0}
.status{font-weight:600}.status-delivered{color:var(--mark)}.status-pending{color:var(--before)}.status-failed{color:#b00020}
button.resend{padding:.15rem .6rem;font-size:.85rem;white-space:nowrap}
.deliveries th,.deliveries td{overflow-wrap:normal;word-break:normal}.deliveries td a,.deliveries td code{overflow-wrap:anywhere}
.deliveries pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f3f5f7;padding:.4rem;margin:.3rem 0;font-size:.8rem;max-height:12rem;overflow:auto}
main[tabindex]:focus,main[tabindex]:focus-visible{outline:none}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:#fff;color:#000;padding:.3rem .6rem;z-index:9}
@media (max-width:640px){
  #app{padding:.5rem}
  .event{grid-template-columns:1fr auto;}
  .event time{grid-column:1}.event .kind{grid-column:2;text-align:right}.event .what{grid-column:1/-1}
  .facts{grid-template-columns:1fr}.facts dd{margin-bottom:.3rem}
}`

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Waymark — people and journeys</title>
<style>${CSS}</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="app"><h1>Waymark</h1><span>people, timelines and journeys</span></header>
<div id="app"><noscript>The viewer needs JavaScript.</noscript></div>
<script src="/ui/viewer.js" defer></script>
</body>
</html>
`
