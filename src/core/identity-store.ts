// Where the identity lives between page loads: IndexedDB (the truth the tabs agree on), a copy
// in localStorage (known at once, before IndexedDB answers), and, with `cookieDomain`, the
// first-party cookie shared by the site's subdomains, which outranks the origin's own storage.
import { readLocal, removeLocal, writeLocal } from '../platform/local-storage'
import { readCookie, writeCookie } from '../platform/page'
import type { MetaStore } from '../platform/storage'
import type { Identity } from '../types'

const COOKIE = 'wm_aid'
const noop = () => {}

export function identityStore(meta: MetaStore, storageName: string, cookieDomain?: string) {
  const copyKey = `${storageName}:identity`
  const cookieId = cookieDomain ? readCookie(COOKIE) : undefined
  /** `stored`, unless the subdomains' cookie names another id; `fallback` when nothing is stored. */
  const adopt = (stored: Identity | undefined | null, fallback: () => Identity) =>
    cookieId && stored?.anonymousId !== cookieId ? { anonymousId: cookieId } : (stored ?? fallback())
  return {
    /** The identity as the last page load left it, known at once; `fresh` on a first visit. */
    copy: (fresh: Identity): Identity => {
      const copied = readLocal<Identity>(copyKey)
      return adopt(copied?.anonymousId ? copied : undefined, () => fresh)
    },
    /** The stored identity; with `keep`, `fallback` is stored in the same transaction when none is. */
    load: (keep: boolean, fallback: () => Identity): Promise<Identity> =>
      keep ? meta.update<Identity>('identity', (stored) => adopt(stored, fallback)) : meta.get<Identity>('identity').then((stored) => adopt(stored, fallback)),
    save: (identity: Identity) => void meta.set('identity', identity).catch(noop),
    /** Keeps the identity where the next page load (and other subdomains) can read it at once. */
    remember: (identity: Identity) => {
      writeLocal(copyKey, identity)
      if (cookieDomain) writeCookie(COOKIE, identity.anonymousId, cookieDomain)
    },
    forget: () => {
      meta.clear().catch(noop)
      removeLocal(copyKey)
      if (cookieDomain) writeCookie(COOKIE, '', cookieDomain) // an empty cookie is no id
    },
  }
}
