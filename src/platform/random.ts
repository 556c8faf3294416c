// Randomness for ULIDs: the browser's CSPRNG, drawn 256 bytes at a time. ulid asks for one
// random number per character, and one getRandomValues call for each made the first id of
// every millisecond the slowest part of track() (its p99).
export function pooledRandom(): () => number {
  const pool = new Uint8Array(256)
  let next = pool.length
  return () => {
    if (next === pool.length) {
      crypto.getRandomValues(pool)
      next = 0
    }
    return pool[next++] / 256
  }
}
