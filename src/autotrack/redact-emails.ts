// Recorded URLs, referrers and titles never carry an e-mail address: it is replaced by `[email]`.
// Catches plain and URL-encoded forms: `ada@example.com`, `ada%40example.com`, `ada%2540example.com`.
const EMAIL = /[\w.+%-]+(?:@|%(?:25)?40)[\w-]+(?:\.[\w-]+)+/gi
const MAYBE = /@|%(25)?40/i

export const REDACTED = '[email]'

export function redactEmails(text: string): string {
  return MAYBE.test(text) ? text.replace(EMAIL, REDACTED) : text
}
