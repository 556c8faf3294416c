import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { content, forms, links, trackClicks } from '../../../src/autotrack/index'
import { click, fakeHost, goTo } from './host'

// IntersectionObserver driven by the test (jsdom and happy-dom have no layout).
class FakeObserver {
  static all: FakeObserver[] = []
  observed = new Set<Element>()
  constructor(
    public callback: IntersectionObserverCallback,
    public options: IntersectionObserverInit,
  ) {
    FakeObserver.all.push(this)
  }
  observe(el: Element) {
    this.observed.add(el)
  }
  unobserve(el: Element) {
    this.observed.delete(el)
  }
  disconnect() {
    this.observed.clear()
  }
  static show(el: Element, ratio: number) {
    for (const o of FakeObserver.all) {
      if (o.observed.has(el)) {
        o.callback([{ target: el, isIntersecting: ratio > 0, intersectionRatio: ratio } as IntersectionObserverEntry], o as never)
      }
    }
  }
}

beforeEach(() => {
  goTo('/home')
  FakeObserver.all = []
  vi.stubGlobal('IntersectionObserver', FakeObserver)
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
})
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
  document.body.innerHTML = ''
})

const html = (markup: string) => {
  document.body.innerHTML = markup
}

describe('content', () => {
  it('records an impression once per page view after 1 s at ≥ 50 % visible', () => {
    html(`<section data-wm-content="Hero" data-wm-piece="Spring banner" data-wm-target="/spring"><h1>Hi</h1></section>
          <div data-wm-content="Pricing teaser"><a href="/pricing">Pricing</a></div>`)
    const host = fakeHost()
    host.install(content())
    const [hero, teaser] = document.querySelectorAll('[data-wm-content]')
    FakeObserver.show(hero, 0.6)
    vi.advanceTimersByTime(900)
    FakeObserver.show(hero, 0) // scrolled away before 1 s: no impression
    vi.advanceTimersByTime(500)
    FakeObserver.show(teaser, 0.4) // below half
    vi.advanceTimersByTime(2000)
    expect(host.named('Content Impression')).toEqual([])
    FakeObserver.show(hero, 1)
    FakeObserver.show(teaser, 0.5)
    vi.advanceTimersByTime(1000)
    FakeObserver.show(hero, 1)
    vi.advanceTimersByTime(1000)
    expect(host.named('Content Impression').map((e) => e.properties)).toEqual([
      { name: 'Hero', piece: 'Spring banner', target: '/spring' },
      { name: 'Pricing teaser', target: `${location.origin}/pricing` },
    ])
    history.pushState({}, '', '/other') // a new page view: impressions may happen again
    FakeObserver.show(hero, 1)
    vi.advanceTimersByTime(1000)
    expect(host.named('Content Impression')).toHaveLength(3)
  })

  it('observes blocks rendered later and records clicks inside a block', async () => {
    html('')
    const host = fakeHost()
    host.install(content())
    document.body.insertAdjacentHTML('beforeend', '<article data-wm-content="Case study"><button>Read</button></article>')
    await Promise.resolve() // MutationObserver delivery
    await new Promise((r) => queueMicrotask(() => r(null)))
    const block = document.querySelector('article')!
    FakeObserver.show(block, 1)
    vi.advanceTimersByTime(1000)
    click(document.querySelector('button')!)
    expect(host.events.map((e) => [e.event, e.properties!.name])).toEqual([
      ['Content Impression', 'Case study'],
      ['Content Clicked', 'Case study'],
    ])
  })
})

describe('trackClicks', () => {
  it('records data-wm-track with its data-wm-prop-* properties, from clicks inside the element', () => {
    html('<a href="#" data-wm-track="Signup Clicked" data-wm-prop-plan="pro" data-wm-prop-seats_count="5"><span>Go</span></a><p>no</p>')
    const host = fakeHost()
    host.install(trackClicks())
    click(document.querySelector('span')!)
    click(document.querySelector('p')!)
    expect(host.events.map((e) => [e.event, e.properties])).toEqual([['Signup Clicked', { plan: 'pro', seats_count: '5' }]])
  })
})

describe('links', () => {
  it('records outbound, download, mailto and tel clicks without stopping the navigation', () => {
    html(`<a id="out" href="https://partner.example.org/x?ref=a@b.co">Partner</a>
          <a id="pdf" href="/files/Guide.PDF">Guide</a>
          <a id="dl" href="/export" download>Export</a>
          <a id="mail" href="mailto:sales@shop.test">Write to sales@shop.test</a>
          <a id="tel" href="tel:+15551234">Call</a>
          <a id="in" href="/pricing">Pricing</a>`)
    const host = fakeHost()
    host.install(links())
    const prevented: boolean[] = []
    document.addEventListener('click', (e) => {
      prevented.push(e.defaultPrevented)
      e.preventDefault() // keep the emulated page where it is
    })
    for (const id of ['out', 'pdf', 'dl', 'mail', 'tel', 'in']) click(document.getElementById(id)!)
    expect(prevented).toEqual([false, false, false, false, false, false])
    expect(host.events.map((e) => [e.event, e.properties])).toEqual([
      ['Outbound Link Clicked', { url: 'https://partner.example.org/x?ref=[email]', text: 'Partner' }],
      ['File Downloaded', { url: `${location.origin}/files/Guide.PDF`, text: 'Guide', extension: 'pdf' }],
      ['File Downloaded', { url: `${location.origin}/export`, text: 'Export', extension: '' }],
      ['Email Link Clicked', { url: 'mailto:[email]', text: 'Write to [email]' }],
      ['Phone Link Clicked', { url: 'tel:+15551234', text: 'Call' }],
    ])
  })
})

describe('forms', () => {
  const submit = (form: HTMLFormElement) => form.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }))
  const newsletter = `<form id="newsletter" name="nl" action="/subscribe">
      <input name="first_name" value="Ada">
      <input type="email" name="contact" value=" Ada@Example.com ">
      <input type="password" name="secret" value="hunter2">
      <input type="hidden" name="csrf" value="tok">
      <input type="checkbox" name="topics" value="a" checked><input type="checkbox" name="topics" value="b">
      <textarea name="note">call me at ada@example.com</textarea>
      <button type="submit" name="go">Go</button></form>`

  it('records field names only, never values or passwords, and identifies with the e-mail field', () => {
    html(newsletter)
    const host = fakeHost()
    host.install(forms())
    submit(document.querySelector('form')!)
    expect(host.events.map((e) => e.type)).toEqual(['identify', 'track'])
    expect(host.events[0].traits).toEqual({ email: 'ada@example.com' })
    const submitted = host.named('Form Submitted')[0]
    expect(submitted.properties).toEqual({
      id: 'newsletter',
      name: 'nl',
      action: `${location.origin}/subscribe`,
      fields: ['first_name', 'contact', 'topics', 'note'],
    })
    expect(JSON.stringify(submitted)).not.toMatch(/Ada\b|hunter2|secret|tok|call me/)
  })

  it('honours data-wm-ignore on forms and fields, and identifyFromForms: false', () => {
    html(newsletter.replace('type="email"', 'type="email" data-wm-ignore') + '<form data-wm-ignore><input name="email" value="x@y.io"></form>')
    const host = fakeHost()
    host.install(forms())
    const [first, ignored] = document.querySelectorAll('form')
    submit(first)
    submit(ignored)
    expect(host.events.map((e) => e.type)).toEqual(['track'])
    expect(host.events[0].properties!.fields).toEqual(['first_name', 'topics', 'note'])

    html('<form><input name="work-email" value="bob@example.com"></form>')
    const quiet = fakeHost()
    quiet.install(forms({ identify: false }))
    submit(document.querySelector('form')!)
    expect(quiet.events.map((e) => e.type)).toEqual(['track'])
    expect(quiet.events[0].properties!.action).toBe(`${location.origin}/home`)
  })

  it('finds an e-mail field by name without type=email, and ignores invalid addresses', () => {
    html('<form><input name="work-email" value="bob@example.com"></form><form><input type="email" name="e" value="not-an-email"></form>')
    const host = fakeHost()
    host.install(forms())
    const [a, b] = document.querySelectorAll('form')
    submit(a)
    submit(b)
    expect(host.events.map((e) => e.type)).toEqual(['identify', 'track', 'track'])
  })
})

describe('robustness', () => {
  it('never throws into the page: a malformed href or form action records nothing and breaks nothing', () => {
    html('<a id="bad" href="http://[broken">x</a><form action="http://[broken"><input name="q"></form>')
    const host = fakeHost()
    host.install(links(), forms())
    const errors: unknown[] = []
    const onError = (e: ErrorEvent) => errors.push(e.error)
    addEventListener('error', onError)
    expect(() => click(document.getElementById('bad')!)).not.toThrow()
    document.querySelector('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }))
    removeEventListener('error', onError)
    expect(errors).toEqual([])
    expect(host.events).toEqual([])
  })

  it('a click dispatched on the document itself (no element) records nothing and breaks nothing', () => {
    html('<button data-wm-track="Never">x</button>')
    const host = fakeHost()
    host.install(links(), trackClicks(), content())
    const errors: unknown[] = []
    const onError = (e: ErrorEvent) => errors.push(e.error)
    addEventListener('error', onError)
    expect(() => document.dispatchEvent(new MouseEvent('click', { bubbles: true }))).not.toThrow()
    removeEventListener('error', onError)
    expect(errors).toEqual([])
    expect(host.events).toEqual([])
  })
})
