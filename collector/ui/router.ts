// Hash routes (#/people?…, #/person/<id>, #/journey?…, #/webhooks): the page works from a bookmark and with
// the browser's back button, and /ui needs a single server route.

export interface Route {
  name: 'people' | 'person' | 'journey' | 'webhooks'
  id: string | null
  params: URLSearchParams
}

export function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?')
  const [name, id] = path.split('/')
  const params = new URLSearchParams(query)
  if (name === 'person' && id) return { name: 'person', id: decodeURIComponent(id), params }
  if (name === 'journey') return { name: 'journey', id: null, params }
  if (name === 'webhooks') return { name: 'webhooks', id: null, params }
  return { name: 'people', id: null, params }
}

export function go(name: Route['name'], params: Record<string, string> = {}, id?: string): void {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '')).toString()
  location.hash = `#/${name}${id ? `/${encodeURIComponent(id)}` : ''}${q ? `?${q}` : ''}`
}

/** Changes parameters of the current route in the address without showing the page again (a section reloads itself). */
export function setParams(params: Record<string, string>): void {
  const route = parseRoute(location.hash)
  for (const [k, v] of Object.entries(params)) {
    if (v === '') route.params.delete(k)
    else route.params.set(k, v)
  }
  const q = route.params.toString()
  history.replaceState(history.state, '', `#/${route.name}${route.id ? `/${encodeURIComponent(route.id)}` : ''}${q ? `?${q}` : ''}`)
}
