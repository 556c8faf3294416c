// Pure parts of the viewer (collector/ui): ordering around the identification, CSV cells,
// event descriptions. The DOM parts are tested in real Chromium (tests/browser/viewer.test.ts).
import { describe, expect, it } from 'vitest'
import { toCsv } from '../ui/dom.js'
import { aroundMarkers, describe as describeEvent } from '../ui/person.js'
import { deliverySubject, describeTriggers, lastAnswer } from '../ui/webhooks.js'

const ev = (timestamp: string, beforeIdentified: boolean, messageId: string) =>
  ({ messageId, timestamp, beforeIdentified, type: 'track', event: 'X', properties: null, context: null }) as any

describe('aroundMarkers', () => {
  const T = '2026-11-22T10:00:00.000Z'
  const L = '2026-11-22T10:05:00.000Z'
  const events = [
    ev('2026-11-22T09:59:59.000Z', true, 'a'),
    ev(T, false, 'identify'),
    ev(T, true, 'engaged'),
    ev('2026-11-22T10:00:01.000Z', false, 'b'),
    ev(L, false, 'link'),
    ev(L, true, 'phone page'),
    ev(L, true, 'phone scroll'),
  ]
  it("puts same-millisecond anonymous events before each marker's event (oldest first)", () => {
    expect(aroundMarkers(events, [T, L], 'asc').map((e) => e.messageId)).toEqual(['a', 'engaged', 'identify', 'b', 'phone page', 'phone scroll', 'link'])
  })
  it('and after it when newest first', () => {
    const desc = [...events].reverse()
    expect(aroundMarkers(desc, [T, L], 'desc').map((e) => e.messageId)).toEqual(['link', 'phone scroll', 'phone page', 'b', 'identify', 'engaged', 'a'])
  })
  it('leaves pages without those milliseconds alone', () => {
    expect(aroundMarkers(events, [], 'asc')).toBe(events)
    expect(aroundMarkers(events, ['2026-11-22T11:00:00.000Z'], 'asc')).toBe(events)
  })
})

describe('toCsv', () => {
  it('quotes, doubles quotes, and defuses spreadsheet formulas', () => {
    expect(toCsv(['a', 'b'], [['x,y', 'say "hi"'], ['=HYPERLINK("http://evil")', { k: 1 }], [null, '-2']])).toBe(
      'a,b\r\n"x,y","say ""hi"""\r\n"\'=HYPERLINK(""http://evil"")","{""k"":1}"\r\n,\'-2\r\n',
    )
  })
})

describe('event descriptions', () => {
  it('names content, forms and links from their properties; only http(s) links get an href', () => {
    const g = globalThis as any
    g.location ??= { href: 'http://127.0.0.1/ui' }
    expect(describeEvent({ ...ev('t', false, 'm'), event: 'Content Clicked', properties: { name: 'Hero', piece: 'Autumn' } })).toMatchObject({ kind: 'content', detail: 'Hero — Autumn' })
    expect(describeEvent({ ...ev('t', false, 'm'), event: 'Form Submitted', properties: { id: 'newsletter' } })).toMatchObject({ kind: 'form', detail: 'newsletter' })
    expect(describeEvent({ ...ev('t', false, 'm'), event: 'File Downloaded', properties: { url: 'javascript:alert(1)' } })).toMatchObject({ kind: 'link', href: null })
    expect(describeEvent({ ...ev('t', false, 'm'), event: 'File Downloaded', properties: { url: 'https://x.example/a.pdf' } }).href).toBe('https://x.example/a.pdf')
    expect(describeEvent({ ...ev('t', false, 'm'), type: 'page', event: null, properties: { title: 'Pricing', path: '/pricing' } })).toMatchObject({ kind: 'page', title: 'Pricing', detail: '/pricing' })
    expect(describeEvent({ ...ev('t', false, 'm'), event: 'Content Shared', properties: { name: 'Guide', network: 'linkedin', token: 'k' } })).toMatchObject({ kind: 'content', detail: 'Guide on linkedin' })
    expect(describeEvent({ ...ev('t', false, 'm'), event: 'Signup Clicked', properties: {} })).toMatchObject({ kind: 'custom', detail: null })
    expect(describeEvent({ ...ev('t', false, 'm'), event: 'Scroll Depth', properties: { percent: 75 } })).toMatchObject({ kind: 'measure', detail: '75 %' })
  })
})

describe('webhooks page words', () => {
  it('says what a subscription is sent, what a delivery is about and the last answer', () => {
    expect(describeTriggers({ 'person.identified': true, 'stage.entered': ['known', 'customer'], event: ['Order Completed'] })).toBe(
      'person identified · stage entered: known, customer · events: Order Completed',
    )
    expect(describeTriggers({ 'segment.entered': ['hot-leads'], 'segment.left': ['hot-leads'] })).toBe('segment entered: hot-leads · segment left: hot-leads')
    expect(deliverySubject({ type: 'stage.entered', payload: { data: { stage: 'known' } } } as any)).toBe('stage.entered known')
    expect(deliverySubject({ type: 'person.identified', payload: { data: {} } } as any)).toBe('person.identified')
    expect(lastAnswer({ status: 'delivered', lastStatus: 204, lastError: null })).toBe('HTTP 204')
    expect(lastAnswer({ status: 'pending', lastStatus: 503, lastError: 'HTTP 503' })).toBe('HTTP 503')
    expect(lastAnswer({ status: 'pending', lastStatus: null, lastError: 'network error: ECONNREFUSED' })).toBe('network error: ECONNREFUSED')
    expect(lastAnswer({ status: 'pending', lastStatus: null, lastError: null })).toBe('—')
  })
})
