// The sender: claims due deliveries from the outbox, signs and sends them, and keeps what each
// attempt came to. It holds nothing that matters in memory: a restart (or a crash) leaves every
// pending delivery in the database, and a delivery claimed by a process that died is taken
// again when its lease ends. Several processes on one PostgreSQL database share the work.
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Store } from '../db/connect.js'
import { decide, DEFAULT_RETRY, type RetryPolicy } from './model.js'
import { claimDue, dropDeliveries, nextDue, recordAttempts, sweepFinished, type Attempt, type Claimed } from './outbox.js'
import { targets } from './subscriptions.js'
import { httpTransport, signedHeaders, TIMEOUT_MS, type Transport } from './transport.js'

export interface SenderOptions {
  allowPrivate: boolean
  retry?: Partial<RetryPolicy>
  now?: () => number
  random?: () => number
  transport?: Transport
  /** Deliveries claimed (and sent at once) per pass. */
  batch?: number
  /** A claim lasts this long: longer than an attempt can take. */
  leaseMs?: number
  /** Longest pause between looks at the outbox while nothing is known to be due. */
  idleMs?: number
  /** Delivered and failed rows are deleted this long after they were made. */
  retentionMs?: number
}

const DAY = 86_400_000
const SWEEP_EVERY_MS = 3_600_000
const SWEEP_BATCH = 1_000

export class WebhookSender {
  readonly retry: RetryPolicy
  private readonly now: () => number
  private readonly random: () => number
  private readonly transport: Transport & { close?(): void }
  private readonly batch: number
  private readonly leaseMs: number
  private readonly idleMs: number
  private readonly retentionMs: number
  /** Names this process's claims. */
  private readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  private stopped = true
  private again = false
  private lastSweep = 0

  constructor(
    private readonly store: Store,
    opts: SenderOptions,
  ) {
    this.retry = { ...DEFAULT_RETRY, ...opts.retry }
    this.now = opts.now ?? Date.now
    this.random = opts.random ?? Math.random
    this.transport = opts.transport ?? httpTransport({ allowPrivate: opts.allowPrivate })
    this.batch = opts.batch ?? 32
    this.leaseMs = opts.leaseMs ?? TIMEOUT_MS * 3
    this.idleMs = opts.idleMs ?? 1_000
    this.retentionMs = opts.retentionMs ?? 30 * DAY
  }

  start(): void {
    this.stopped = false
    this.schedule(0)
  }

  /** Looks at the outbox now (new deliveries were committed, or one was resent). */
  wake(): void {
    if (this.stopped) return
    if (this.running) this.again = true
    else this.schedule(0)
  }

  /** Lets the attempts under way finish (each is bounded by the 10 s timeout), then stops. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.running?.catch(() => undefined)
    this.transport.close?.()
  }

  private schedule(ms: number): void {
    if (this.stopped) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = null
      this.running = this.pass()
        .catch(() => ({ more: false, wait: this.idleMs }))
        .then(({ more, wait }) => {
          this.running = null
          const soon = more || this.again
          this.again = false
          this.schedule(soon ? 0 : wait)
        }) as Promise<void>
    }, ms)
  }

  /** One pass: claim, send, record. Returns whether more may be due, and how long to wait if not. */
  private async pass(): Promise<{ more: boolean; wait: number }> {
    const now = this.now()
    if (now - this.lastSweep >= SWEEP_EVERY_MS) {
      this.lastSweep = now
      // Bounded batches; the next pass goes on while rows are left.
      if ((await sweepFinished(this.store, now - this.retentionMs, SWEEP_BATCH)) === SWEEP_BATCH) this.lastSweep = 0
    }
    const claimed = await claimDue(this.store, this.owner, now, this.batch, this.leaseMs)
    if (claimed.length) {
      const where = await targets(this.store.db, [...new Set(claimed.map((c) => c.subscriptionId))])
      // Its subscription was deleted after the claim's read.
      await dropDeliveries(this.store, claimed.filter((c) => !where.has(c.subscriptionId)).map((c) => c.seq))
      const live = claimed.filter((c) => where.has(c.subscriptionId))
      const done = await Promise.all(live.map(async (c): Promise<[Claimed, Attempt]> => [c, await this.attempt(c, where.get(c.subscriptionId)!)]))
      await recordAttempts(this.store, this.owner, done)
      return { more: true, wait: 0 }
    }
    const due = await nextDue(this.store.db)
    return { more: false, wait: due === null ? this.idleMs : Math.max(0, Math.min(this.idleMs, due - this.now())) }
  }

  private async attempt(c: Claimed, target: { url: string; secret: string }): Promise<Attempt> {
    const sentAt = this.now()
    const outcome = await this.transport.send(target.url, signedHeaders(target.secret, c.id, new Date(sentAt), c.payload), c.payload)
    const at = this.now()
    const d = decide(outcome, c.attempts, at, c.expiresAt, this.random, this.retry)
    return {
      status: d.status,
      at,
      ...(d.status === 'pending' ? { nextAt: d.nextAt } : {}),
      httpStatus: outcome.kind === 'answer' ? outcome.status : null,
      error: d.status === 'delivered' ? null : d.reason,
      body: outcome.kind === 'answer' ? outcome.body : null,
    }
  }
}
