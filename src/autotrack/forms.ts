// Forms: `Form Submitted` { id, name, action, fields } on every submission — field NAMES only,
// never values; password, hidden and button fields are not even named. With `identify` (default
// on) a submitted e-mail field (type=email, or name/id/autocomplete containing "email")
// identifies the visitor. `data-wm-ignore` on a form skips it entirely; on a field, skips that field.
import { FORM_SUBMITTED } from '@waymark/contract'
import type { Autotracker } from '../types'
import { normalizeEmail } from '../core/identity'
import { redactEmails } from './redact-emails'
import { on } from '../platform/listen'

const SKIPPED = /^(password|hidden|submit|button|reset|image|file)$/
const EMAIL_FIELD = /e-?mail/i

type Field = HTMLInputElement

export function formEvent(form: HTMLFormElement): { props: Record<string, unknown>; email?: string } {
  const fields: string[] = []
  let email: string | undefined
  for (const el of form.elements as Iterable<Field>) {
    const name = el.name || el.id
    if (!name || el.disabled || el.hasAttribute('data-wm-ignore') || SKIPPED.test(el.type)) continue
    if (!fields.includes(name)) fields.push(name)
    if (el.type === 'email' || EMAIL_FIELD.test(name + el.autocomplete)) email ||= normalizeEmail(el.value) ?? undefined
  }
  // attributes, not form.id / form.action: a field named "id" or "action" would stand in for them
  const props: Record<string, unknown> = {
    fields,
    action: redactEmails(new URL(form.getAttribute('action') ?? '', location.href).href),
  }
  for (const key of ['id', 'name']) {
    const value = form.getAttribute(key)
    if (value) props[key] = value
  }
  return { props, email }
}

/** `identify` defaults to the tracker's `identifyFromForms` option, itself true by default. */
export function forms({ identify }: { identify?: boolean } = {}): Autotracker {
  return ({ tracker, options }) => {
    const identifying = identify ?? options.identifyFromForms ?? true
    return on(document, 'submit', (event: SubmitEvent) => {
      const form = event.target as HTMLFormElement
      if (form.hasAttribute('data-wm-ignore')) return
      const { props, email } = formEvent(form)
      if (identifying && email) tracker.identify({ email })
      tracker.track(FORM_SUBMITTED, props)
    })
  }
}
