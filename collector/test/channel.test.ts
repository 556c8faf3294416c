// The channel rules (docs/autotrack.md), one case each, and how a campaign object is read.
import { describe, expect, it } from 'vitest'
import { channelOf, channelOfCampaign } from '../src/ingest/channel.js'
import { BACKENDS, api, collectorForSuite, identify, lookup, page, sendBatch, timelineOf, track, uid } from './helpers.js'

describe('channelOf', () => {
  const cases: [string, Record<string, string>, string[], string][] = [
    ['', {}, [], 'direct'],
    ['https://www.google.com/', {}, [], 'organic search'],
    ['https://duckduckgo.com/', {}, [], 'organic search'],
    ['https://www.google.com/', {}, ['gclid'], 'paid search'],
    ['', { source: 'bing', medium: 'cpc' }, [], 'paid search'],
    ['', {}, ['msclkid'], 'paid search'],
    ['https://l.facebook.com/', {}, ['fbclid'], 'social'],
    ['', {}, ['fbclid'], 'social'],
    ['', { source: 'facebook', medium: 'paid_social' }, [], 'paid social'],
    ['https://www.linkedin.com/', { medium: 'cpc' }, [], 'paid social'],
    ['', {}, ['ttclid'], 'paid social'],
    ['https://t.co/abc', {}, [], 'social'],
    ['', { source: 'newsletter', medium: 'email' }, [], 'email'],
    ['', { medium: 'display' }, [], 'display'],
    ['', {}, ['dclid'], 'display'],
    ['', { medium: 'affiliate', source: 'partner' }, [], 'affiliate'],
    ['https://blog.example.org/post', {}, [], 'referral'],
    ['', { source: 'podcast' }, [], 'other'],
    ['', { name: 'autumn' }, [], 'other'],
    ['https://shop.test/cart', {}, [], 'direct'], // own host: not a referral
  ]
  it.each(cases)('%s %j %j → %s', (referrer, fields, clickIds, channel) => {
    expect(channelOf({ ...fields, referrer, clickIds }, 'https://www.shop.test/landing')).toBe(channel)
  })
})

describe('channelOfCampaign', () => {
  it('reads the Waymark SDK touch: utm fields, referrer and click ids in the object', () => {
    expect(channelOfCampaign({ source: 'google.com', referrer: 'https://www.google.com/', gclid: 'G1', landing: '/' })).toBe('paid search')
    expect(channelOfCampaign({ landing: '/' })).toBe('direct')
  })
  it("falls back to the page's referrer and URL for clients that send utm fields only", () => {
    const page = { url: 'https://shop.test/?fbclid=F1', referrer: 'https://news.example.org/' }
    expect(channelOfCampaign({}, page)).toBe('social')
    expect(channelOfCampaign({}, { url: 'https://shop.test/', referrer: 'https://news.example.org/a' })).toBe('referral')
    expect(channelOfCampaign({}, { url: 'https://shop.test/b', referrer: 'https://shop.test/a' })).toBe('direct')
  })
  it('ignores values of the wrong type', () => {
    expect(channelOfCampaign({ medium: 42, source: ['email'] } as Record<string, unknown>)).toBe('direct')
  })
})

describe.each(BACKENDS)('channels stored on $name', ({ name, skip }) => {
  const c = collectorForSuite(name, skip)

  it.skipIf(skip)('derives the channel of SDK touches at ingest and keeps a client-decided one', async () => {
    const a = uid('anon')
    const email = `${uid('ch')}@example.com`
    const landing = { url: 'https://shop.test/?utm_source=news&utm_medium=email', referrer: '' }
    const answer = await sendBatch(c.url, [
      page(a, { context: { page: landing, campaign: { source: 'news', medium: 'email', landing: '/' } } }),
      track(a, 'Direct', { context: { page: { url: 'https://shop.test/b', referrer: 'https://shop.test/' }, campaign: {} } }),
      track(a, 'Own', { context: { page: landing, campaign: { source: 'x', channel: 'partner' } } }),
      identify(a, { email, firstTouch: { source: 'google.com', referrer: 'https://www.google.com/', landing: '/' } }),
    ])
    expect(answer.body).toMatchObject({ accepted: 4, rejected: [] })
    const profile = await lookup(c.url, `email=${email}`)
    const events = await timelineOf(c.url, profile.id)
    const channel = (e: any) => e.context?.campaign?.channel
    expect(Object.fromEntries(events.map((e) => [e.event ?? e.type, channel(e)]))).toEqual({
      page: 'email',
      Direct: 'direct',
      Own: 'partner',
      identify: undefined,
    })
    expect(events.find((e) => e.type === 'identify').traits.firstTouch).toEqual({ source: 'google.com', referrer: 'https://www.google.com/', landing: '/', channel: 'organic search' })
    const stored = (await api(c.url, `/api/profiles/${profile.id}`)).body.profile
    expect(stored.firstTouch).toMatchObject({ source: 'news', medium: 'email', channel: 'email' })
  })
})
