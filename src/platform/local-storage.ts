// localStorage, quietly: private modes, blocked and full storage just mean "nothing kept".
import { attempt } from './attempt'

export const readLocal = <T>(key: string): T | null | undefined => attempt(() => JSON.parse(localStorage.getItem(key)!))

export const writeLocal = (key: string, value: unknown) => attempt(() => localStorage.setItem(key, JSON.stringify(value)))

export const removeLocal = (key: string) => attempt(() => localStorage.removeItem(key))
