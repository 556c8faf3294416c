// Sending one signed delivery over HTTP(S). node:http rather than fetch: its `lookup` hook sees
// the address each connection actually uses, so a name that resolves to a private address is
// refused at connect time too (a check before fetch would not stop a name that changes its
// answer between the check and the request).
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns'
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import { Webhook } from 'standardwebhooks'
import { isPrivateAddress, type Outcome } from './model.js'

export const TIMEOUT_MS = 10_000
/** A receiver's answer is read this far, then the connection is dropped. */
export const MAX_BODY_BYTES = 64 * 1024
/** What is kept of the answer, for the deliveries list. */
export const KEPT_BODY_BYTES = 1024

export interface Transport {
  send(url: string, headers: Record<string, string>, body: string): Promise<Outcome>
}

class Refused extends Error {
  readonly code = 'EWAYMARKREFUSED'
}

const refusal = (host: string) => `refused: ${host} is a loopback, private or link-local address (WAYMARK_WEBHOOK_ALLOW_PRIVATE=1 allows it)`

/** Why a target may not be sent to, or null. Resolves the host name. */
export async function refusedTarget(url: URL, allowPrivate: boolean): Promise<string | null> {
  if (allowPrivate) return null
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (isIP(host)) return isPrivateAddress(host) ? refusal(host) : null
  const addresses = await new Promise<LookupAddress[] | null>((resolve) => dnsLookup(host, { all: true }, (err, a) => resolve(err ? null : a)))
  if (addresses === null) return `the host ${host} does not resolve`
  return addresses.some((a) => isPrivateAddress(a.address)) ? refusal(host) : null
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/** dns.lookup that refuses private addresses (every address the name has, so none can be picked). */
function guardedLookup(hostname: string, options: LookupAllOptions | { all?: boolean }, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, [])
    if (addresses.length === 0 || addresses.some((a) => isPrivateAddress(a.address))) return callback(new Refused(refusal(hostname)), [])
    if (options.all) return callback(null, addresses)
    callback(null, addresses[0]!.address, addresses[0]!.family)
  })
}

export interface HttpTransportOptions {
  allowPrivate: boolean
  timeoutMs?: number
}

export function httpTransport(opts: HttpTransportOptions): Transport & { close(): void } {
  const timeoutMs = opts.timeoutMs ?? TIMEOUT_MS
  // Kept-alive connections per receiver: most deliveries go to a few targets.
  const agents = { http: new HttpAgent({ keepAlive: true, maxSockets: 16 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 16 }) }
  return {
    close: () => (agents.http.destroy(), agents.https.destroy()),
    send: (target, headers, body) =>
      new Promise<Outcome>((resolve) => {
        const url = new URL(target)
        const host = url.hostname.replace(/^\[|\]$/g, '')
        // An address literal is never looked up: check it here.
        if (!opts.allowPrivate && isIP(host) && isPrivateAddress(host)) return resolve({ kind: 'error', error: refusal(host), retryable: false })
        const https = url.protocol === 'https:'
        let done = false
        const finish = (o: Outcome) => {
          if (done) return
          done = true
          clearTimeout(timer)
          resolve(o)
        }
        const req = (https ? httpsRequest : httpRequest)(url, {
          method: 'POST',
          agent: https ? agents.https : agents.http,
          headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'Waymark-Webhooks/1', ...headers },
          ...(opts.allowPrivate ? {} : { lookup: guardedLookup as never }),
        })
        const timer = setTimeout(() => {
          finish({ kind: 'error', error: `timeout: no answer within ${timeoutMs / 1000} s`, retryable: true })
          req.destroy()
        }, timeoutMs)
        req.on('error', (err: NodeJS.ErrnoException) => {
          if (err instanceof Refused) return finish({ kind: 'error', error: err.message, retryable: false })
          finish({ kind: 'error', error: `network error: ${err.code ?? err.message}`, retryable: true })
        })
        req.on('response', (res: IncomingMessage) => {
          const parts: Buffer[] = []
          let size = 0
          const answer = () => {
            const retryAfter = res.headers['retry-after']
            finish({ kind: 'answer', status: res.statusCode ?? 0, retryAfter: typeof retryAfter === 'string' ? retryAfter : null, body: Buffer.concat(parts).subarray(0, KEPT_BODY_BYTES).toString('utf8') })
          }
          res.on('data', (chunk: Buffer) => {
            if (size < KEPT_BODY_BYTES) parts.push(chunk)
            size += chunk.length
            if (size > MAX_BODY_BYTES) {
              answer()
              res.destroy()
            }
          })
          res.on('end', answer)
          res.on('error', answer)
        })
        req.end(body)
      }),
  }
}

/** The Standard Webhooks headers for one attempt: the id stays, the timestamp is now. */
export function signedHeaders(secret: string, id: string, at: Date, body: string): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, body),
  }
}
