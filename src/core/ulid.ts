// Monotonic ULIDs for messageIds and anonymous ids, randomness from the CSPRNG 256 bytes at a
// time (a call costs microseconds: once per id made it the p99 of track()). Written here, not
// taken from the ulid package: its monotonicFactory bundled PRNG detection (1.1 KB gzip of the
// core) and even its encodeTime alone, with its error enum, cost 400 B gzip for what is one loop.
// The tests check every id against the ulid package.

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/** Fills `bytes` with random values: the browser's CSPRNG unless a test says otherwise. */
type Fill = (bytes: Uint8Array) => unknown

/**
 * ULIDs that grow in call order: a second id in the same millisecond (or after the clock stepped
 * back) is the previous one's random part plus one, as the ULID spec's monotonic mode says.
 */
export function ulidFactory(fill: Fill = (bytes) => crypto.getRandomValues(bytes)) {
  const pool = new Uint8Array(256)
  let drawn = pool.length
  const random = new Uint8Array(16) // one base-32 digit per byte
  let last = -1
  return (time = Date.now()): string => {
    if (time > last) {
      last = time
      if (drawn === pool.length) {
        fill(pool)
        drawn = 0
      }
      for (let i = 0; i < 16; i++) random[i] = pool[drawn++] & 31
    } else {
      // 80 random bits leave no room to overflow in practice; ulid would throw, we wrap.
      let i = 15
      while (random[i] === 31) random[i--] = 0
      random[i]++
    }
    // 48 bits of milliseconds, most significant digit first, then the random part.
    let id = ''
    for (let t = Math.max(0, Math.floor(last)), i = 0; i < 10; i++, t = Math.floor(t / 32)) id = CROCKFORD[t % 32] + id
    for (const digit of random) id += CROCKFORD[digit]
    return id
  }
}
