// Network adapter: how a request body reaches the collector.

export interface Reply {
  status: number
  retryAfter: string | null
  body: string
}

/** Sends one body; rejects when the network fails. `keepalive` must outlive the page. */
export type Transport = (url: string, body: string, keepalive: boolean) => Promise<Reply>

const REQUEST_TIMEOUT_MS = 30_000

// text/plain keeps the request "simple": no CORS preflight, so it also works as a beacon.
export const fetchTransport: Transport = (url, body, keepalive) =>
  fetch(url, {
    method: 'POST',
    body,
    keepalive,
    credentials: 'omit',
    headers: { 'Content-Type': 'text/plain' },
    // A connection that never answers must not hold the send lock for ever.
    signal: AbortSignal.timeout?.(REQUEST_TIMEOUT_MS),
  }).then(
    async (response) => ({
      status: response.status,
      retryAfter: response.headers.get('Retry-After'),
      body: await response.text(),
    }),
    (reason) => {
      // Over the browser's keepalive quota a beacon may still go out. Its answer is never
      // seen, so the events stay queued: at worst the collector's dedupe drops a second copy.
      if (keepalive && navigator.sendBeacon?.(url, body)) throw new Error('beacon')
      throw reason
    },
  )
