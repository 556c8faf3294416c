/**
 * `compute`, remembered for the last `max` keys (the oldest goes first). User agents and page
 * addresses repeat a lot across events, and parsing them is the costliest step per event.
 */
export function memo<V>(max: number, compute: (key: string) => V): (key: string) => V {
  const cache = new Map<string, V>()
  return (key) => {
    const hit = cache.get(key) // one lookup on a hit, the usual case
    if (hit !== undefined || cache.has(key)) return hit as V
    const value = compute(key)
    if (cache.size >= max) cache.delete(cache.keys().next().value!)
    cache.set(key, value)
    return value
  }
}
