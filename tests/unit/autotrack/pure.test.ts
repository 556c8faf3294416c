import { describe, expect, it } from 'vitest'
import { campaignParams, redactEmails, touchOf } from '../../../src/autotrack/index'

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

describe('touchOf', () => {
  it('reads UTM parameters and click ids into a Segment campaign', () => {
    const touch = touchOf('https://shop.test/land?utm_source=news&utm_medium=email&utm_campaign=nov&gclid=G1&x=1', '')
    expect(touch).toEqual({
      direct: false,
      touch: expect.objectContaining({ source: 'news', medium: 'email', name: 'nov', gclid: 'G1', landing: '/land' }),
    })
    expect(touch!.touch).not.toHaveProperty('channel') // the collector decides the channel
  })
  it('derives source and medium from an external referrer', () => {
    expect(touchOf('https://shop.test/', 'https://www.google.com/')).toMatchObject({
      direct: false,
      touch: { source: 'google.com', referrer: 'https://www.google.com/' },
    })
  })
  it('is a direct touch without referrer, and none for an internal navigation', () => {
    expect(touchOf('https://shop.test/a', '')).toEqual({ direct: true, touch: expect.objectContaining({ landing: '/a' }) })
    expect(touchOf('https://shop.test/a?utm_source=x', 'https://shop.test/')).toMatchObject({ direct: false, touch: { source: 'x' } })
    expect(touchOf('https://shop.test/b', 'https://shop.test/a')).toBeUndefined()
  })
  it('never keeps an e-mail address from the URL or referrer', () => {
    const touch = touchOf('https://shop.test/?utm_source=ada@example.com', 'https://mail.example.com/?u=ada%40example.com')
    expect(JSON.stringify(touch)).not.toMatch(/ada/)
    expect(campaignParams('?utm_term=bob@example.com').utm_term).toBe('[email]')
  })
})
