import { describe, expect, it } from 'vitest'
import { campaignParams, channelOf, redactEmails, touchOf } from '../../../src/autotrack/index'

describe('redactEmails', () => {
  it('replaces plain and URL-encoded addresses, keeps the rest', () => {
    expect(redactEmails('https://a.com/x?email=ada@example.com&y=1')).toBe('https://a.com/x?email=[email]&y=1')
    expect(redactEmails('https://a.com/?e=ada.l%2Bx%40mail.example.co.uk#top')).toBe('https://a.com/?e=[email]#top')
    expect(redactEmails('/u/bob%2540example.org/profile')).toBe('/u/[email]/profile')
    expect(redactEmails('a@b.io and c@d.io')).toBe('[email] and [email]')
    expect(redactEmails('https://a.com/pricing?plan=pro')).toBe('https://a.com/pricing?plan=pro')
    expect(redactEmails('@handle and 50% off')).toBe('@handle and 50% off')
  })
})

describe('channelOf', () => {
  const cases: [string, Record<string, string>, string][] = [
    ['', {}, 'direct'],
    ['https://www.google.com/', {}, 'organic search'],
    ['https://duckduckgo.com/', {}, 'organic search'],
    ['https://www.google.com/', { gclid: 'x' }, 'paid search'],
    ['', { utm_source: 'bing', utm_medium: 'cpc' }, 'paid search'],
    ['', { msclkid: 'x' }, 'paid search'],
    ['https://l.facebook.com/', { fbclid: 'x' }, 'social'],
    ['', { fbclid: 'x' }, 'social'],
    ['', { utm_source: 'facebook', utm_medium: 'paid_social' }, 'paid social'],
    ['https://www.linkedin.com/', { utm_medium: 'cpc' }, 'paid social'],
    ['', { ttclid: 'x' }, 'paid social'],
    ['https://t.co/abc', {}, 'social'],
    ['', { utm_source: 'newsletter', utm_medium: 'email' }, 'email'],
    ['', { utm_medium: 'display' }, 'display'],
    ['', { dclid: 'x' }, 'display'],
    ['', { utm_medium: 'affiliate', utm_source: 'partner' }, 'affiliate'],
    ['https://blog.example.org/post', {}, 'referral'],
    ['', { utm_source: 'podcast' }, 'other'],
    ['https://shop.test/cart', {}, 'direct'], // own host: not a referral
  ]
  it.each(cases)('%s %j → %s', (referrer, params, channel) => {
    expect(channelOf(referrer, params, 'shop.test')).toBe(channel)
  })
})

describe('touchOf', () => {
  it('reads UTM parameters and click ids into a Segment campaign', () => {
    const touch = touchOf('https://shop.test/land?utm_source=news&utm_medium=email&utm_campaign=nov&gclid=G1&x=1', '')
    expect(touch).toMatchObject({ source: 'news', medium: 'email', name: 'nov', channel: 'email', gclid: 'G1', landing: '/land' })
  })
  it('derives source and medium from an external referrer', () => {
    expect(touchOf('https://shop.test/', 'https://www.google.com/')).toMatchObject({
      source: 'google.com',
      channel: 'organic search',
      referrer: 'https://www.google.com/',
    })
  })
  it('is a direct touch without referrer, and none for an internal navigation', () => {
    expect(touchOf('https://shop.test/a', '')).toMatchObject({ channel: 'direct' })
    expect(touchOf('https://shop.test/b', 'https://shop.test/a')).toBeUndefined()
  })
  it('never keeps an e-mail address from the URL or referrer', () => {
    const touch = touchOf('https://shop.test/?utm_source=ada@example.com', 'https://mail.example.com/?u=ada%40example.com')
    expect(JSON.stringify(touch)).not.toMatch(/ada/)
    expect(campaignParams('?utm_term=bob@example.com').utm_term).toBe('[email]')
  })
})
