// SQLite has one write lock per file, and its wait for it is a sleep-and-retry that blocks the
// thread asking. The writer thread's jobs and this thread's write transactions take turns here
// instead, before they ask SQLite: this thread never sleeps in SQLite's wait (measured: the
// identity step's BEGIN slept there while the writer thread committed, holding every request on
// the event loop), and a transaction is let in as soon as the jobs ahead of it are done, where
// polling for the lock found it free only by chance between two jobs.
//
// Written here rather than taken from async-mutex, which has no shared/exclusive lock: writer
// jobs are shared (several may wait at the thread, which runs them one at a time), a
// transaction is exclusive, and one waiting stops new jobs from going ahead of it.

type Waiter = { exclusive: boolean; go: () => void }

export class WriteGate {
  private shared = 0
  private exclusive = false
  private readonly queue: Waiter[] = []

  /** Runs a writer-thread job: alongside other jobs, never alongside a transaction. */
  job<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(false, fn)
  }

  /** Runs a transaction of this thread: alone, once the jobs let in before it are done. */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(true, fn)
  }

  private async run<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    await new Promise<void>((go) => {
      this.queue.push({ exclusive, go })
      this.pump()
    })
    try {
      return await fn()
    } finally {
      if (exclusive) this.exclusive = false
      else this.shared--
      this.pump()
    }
  }

  /** Lets in, in arrival order, whatever may run now. */
  private pump(): void {
    while (this.queue.length && !this.exclusive) {
      const next = this.queue[0]!
      if (next.exclusive) {
        if (this.shared) return
        this.exclusive = true
      } else this.shared++
      this.queue.shift()
      next.go()
    }
  }
}
