// Attribute the bytes of a minified file to its original sources using its source map
// (v3, VLQ mappings): each generated segment owns the bytes up to the next segment on its line.
// Bytes no segment covers (wrapper, separators) are reported as "(unmapped)".
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const DIGIT = new Map([...B64].map((c, i) => [c, i]))

function decodeSegment(seg) {
  const out = []
  let value = 0
  let shift = 0
  for (const ch of seg) {
    const d = DIGIT.get(ch)
    value += (d & 31) << shift
    if (d & 32) shift += 5
    else {
      out.push(value & 1 ? -(value >>> 1) : value >>> 1)
      value = 0
      shift = 0
    }
  }
  return out
}

/** @returns {Array<{ source: string, bytes: number }>} sorted by bytes, largest first */
export function bytesBySource(code, map) {
  const lines = code.split('\n')
  const totals = new Map()
  const add = (k, n) => n > 0 && totals.set(k, (totals.get(k) || 0) + n)
  let source = 0
  const mapLines = map.mappings.split(';')
  for (let l = 0; l < lines.length; l++) {
    const lineLen = Buffer.byteLength(lines[l]) + (l < lines.length - 1 ? 1 : 0)
    const segs = []
    let col = 0
    for (const s of (mapLines[l] || '').split(',')) {
      if (!s) continue
      const f = decodeSegment(s)
      col += f[0]
      if (f.length >= 4) {
        source += f[1]
        segs.push([col, map.sources[source]])
      } else segs.push([col, null])
    }
    if (!segs.length) {
      add('(unmapped)', lineLen)
      continue
    }
    add('(unmapped)', segs[0][0])
    for (let i = 0; i < segs.length; i++) {
      const end = i + 1 < segs.length ? segs[i + 1][0] : lineLen
      // columns are UTF-16 offsets; minified output here is ASCII, so columns = bytes
      add(segs[i][1] ? segs[i][1].replace(/^(\.\.\/)+/, '') : '(unmapped)', end - segs[i][0])
    }
  }
  return [...totals].map(([source, bytes]) => ({ source, bytes })).sort((a, b) => b.bytes - a.bytes)
}
