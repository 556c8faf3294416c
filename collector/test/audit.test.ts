// Security and bad-input audit: each case here failed before its fix (see the commit that added it).
import { describe, expect, it } from 'vitest'
import { BACKENDS, api, collectorForSuite, identify, lookup, post, sendBatch, timelineOf, track, uid } from './helpers.js'

describe.each(BACKENDS)('read API edges on $name', ({ name, skip }) => {
  const c = collectorForSuite(name, skip)

  it.skipIf(skip)('a query parameter given twice or holding a NUL is a 400, never a 500', async () => {
    for (const path of [
      '/api/profiles?q=a&q=b',
      '/api/segments/engaged/profiles?q=a&q=b',
      '/api/profiles?q=%00',
      '/api/lookup?anonymousId=%00',
      '/api/lookup?userId=a&userId=b',
      '/api/profiles/x/timeline?cursor=a&cursor=b',
    ]) {
      const r = await api(c.url, path)
      expect(r.status, path).toBe(400)
      expect(r.body.error, path).toMatch(/once|NUL/)
    }
  })

  it.skipIf(skip)('a profile id holding a NUL is a 404, never a 500', async () => {
    for (const [method, path] of [
      ['GET', '/api/profiles/%00'],
      ['GET', '/api/profiles/p%00x/timeline'],
      ['DELETE', '/api/profiles/%00'],
      ['GET', '/api/segments/%00/profiles'],
    ] as const) {
      const r = await api(c.url, path, { method })
      expect(r.status, `${method} ${path}`).toBe(404)
    }
  })

  it.skipIf(skip)('a trait named "__proto__" is kept and shown like any other trait', async () => {
    const a = uid('a')
    const body = JSON.stringify({ batch: [identify(a, { email: `${a}@x.io`, plan: 'pro' })] }).replace('"traits":{', '"traits":{"__proto__":{"admin":true},')
    expect((await post(c.url, '/v1/batch', body)).status).toBe(200)
    const profile = await lookup(c.url, `anonymousId=${a}`)
    expect(Object.keys(profile.traits).sort()).toEqual(['__proto__', 'email', 'plan'])
    expect(profile.traits.__proto__.value).toEqual({ admin: true })
    expect(Object.getPrototypeOf(profile.traits)).toBe(Object.prototype)
  })
})
