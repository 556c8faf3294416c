// Waymark viewer: sign-in, then People / Person / Journey / Webhooks pages over the read API.
import { api, ApiError, token } from './api.js'
import { clear, h } from './dom.js'
import { journeyPage } from './journey.js'
import { peoplePage } from './people.js'
import { personPage } from './person.js'
import { parseRoute } from './router.js'
import { webhooksPage } from './webhooks.js'

const root = document.getElementById('app')!

function signIn(message?: string): void {
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true })
  const error = h('p', { class: 'error', role: 'alert' }, message ?? '')
  const form = h(
    'form',
    {
      class: 'card signin',
      onsubmit: async (e: Event) => {
        e.preventDefault()
        try {
          await api('/api/segments', input.value.trim())
          token.set(input.value.trim())
          void show()
        } catch (err) {
          error.textContent = err instanceof ApiError && err.status === 401 ? 'That token is not the admin token.' : (err as Error).message
        }
      },
    },
    h('h2', {}, 'Sign in'),
    h('p', {}, 'Paste the admin token the collector printed at start (or WAYMARK_ADMIN_TOKEN). It is kept for this browser tab only.'),
    h('label', { for: 'token' }, 'Admin token'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
    error,
  )
  clear(root)
  root.append(form)
  input.focus()
}

function nav(current: string): HTMLElement {
  const link = (name: string, label: string) => h('a', { href: `#/${name}`, 'aria-current': current === name ? 'page' : null }, label)
  return h(
    'nav',
    { class: 'top', 'aria-label': 'Main' },
    link('people', 'People'),
    link('journey', 'Journey'),
    link('webhooks', 'Webhooks'),
    h('button', { type: 'button', class: 'link', onclick: () => (token.clear(), signIn()) }, 'Sign out'),
  )
}

let generation = 0
async function show(): Promise<void> {
  if (!token.get()) return signIn()
  const route = parseRoute(location.hash)
  const mine = ++generation
  const main = h('main', { id: 'main', tabindex: -1, 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'))
  clear(root)
  root.append(nav(route.name === 'person' ? 'people' : route.name), main)
  try {
    const page =
      route.name === 'person'
        ? await personPage(route)
        : route.name === 'journey'
          ? await journeyPage(route)
          : route.name === 'webhooks'
            ? await webhooksPage()
            : await peoplePage(route)
    if (mine !== generation) return
    main.replaceChildren(page)
  } catch (err) {
    if (mine !== generation) return
    if (err instanceof ApiError && err.status === 401) {
      token.clear()
      return signIn('The token was refused; sign in again.')
    }
    main.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Could not load this page: ${(err as Error).message}`))
  }
  main.setAttribute('aria-busy', 'false')
  main.focus({ preventScroll: true })
}

// The skip link must not touch the hash: the hash is the route.
document.querySelector('.skip')?.addEventListener('click', (e) => {
  e.preventDefault()
  document.getElementById('main')?.focus()
})
window.addEventListener('hashchange', () => void show())
void show()
