/**
 * Scrubbing of secrets from any text or value that can reach a model, an audit entry, an event served over
 * HTTP, an error or a log: known secret values (e.g. config vars a tool has seen) and secret-shaped strings
 * (URLs with credentials, bearer tokens, `HRKU-` tokens, `srv=`/`token=`/`password=`... parameters). Pure
 * code. One definition for every output that shows tool arguments: `@agentloop/heroku-platform`'s audit
 * entries and `@agentloop/server`'s events both redact with `args`, so they show the same thing.
 *
 * @since 0.1.0
 */

export const REDACTED = "[REDACTED]"

/** Known values shorter than this are not scrubbed (they would mangle ordinary text: `on`, `info`, `true`). */
export const MIN_KNOWN_LENGTH = 6

const shapes: ReadonlyArray<readonly [RegExp, string]> = [
  // scheme://user:password@host  ->  scheme://[REDACTED]@host. Every run is bounded: with an unbounded scheme,
  // each start in a long run of letters scanned to its end (quadratic: a 9 MB answer of letters never finished).
  [/(?<![a-z0-9+.-])([a-z][a-z0-9+.-]{0,31}:\/\/)[^\s/@"'<>]{0,512}:[^\s/@"'<>]{0,512}@/gi, `$1${REDACTED}@`],
  // query or key=value parameters that carry a credential
  [
    /\b(srv|token|access_token|refresh_token|api_key|apikey|api-key|password|passwd|pwd|secret|client_secret|sig|signature|auth|key)=([^&\s"'<>,;]+)/gi,
    `$1=${REDACTED}`
  ],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, `$1 ${REDACTED}`],
  [/\bHRKU-[A-Za-z0-9_-]{8,}/g, REDACTED],
  // common vendor key shapes: sk_live_..., ghp_..., xoxb-..., AKIA...
  [/\b(sk|rk|pk)_(live|test)_[A-Za-z0-9]{8,}/g, REDACTED],
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/g, REDACTED],
  [/\bxox[abpr]-[A-Za-z0-9-]{10,}/g, REDACTED],
  [/\bAKIA[0-9A-Z]{16}\b/g, REDACTED]
]

const escape = (value: string) => value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** A set of known secret values, longest first so a value containing another is scrubbed whole. */
export interface Known {
  readonly values: ReadonlyArray<string>
}

export const known = (values: Iterable<string>): Known => ({
  values: [...new Set([...values].filter((v) => v.length >= MIN_KNOWN_LENGTH))].sort((a, b) => b.length - a.length)
})

export const none: Known = known([])

/** Scrubs one string. */
export const text = (input: string, secrets: Known = none): string => {
  let output = input
  for (const value of secrets.values) {
    if (output.includes(value)) output = output.replace(new RegExp(escape(value), "g"), REDACTED)
    // The same value URL-encoded (it may sit in a path or a query in an error message).
    const encoded = encodeURIComponent(value)
    if (encoded !== value && output.includes(encoded)) output = output.replace(new RegExp(escape(encoded), "g"), REDACTED)
  }
  for (const [pattern, replacement] of shapes) output = output.replace(pattern, replacement)
  return output
}

/** Scrubs every string in a JSON-like value (keys are kept: they are names, useful to the model). */
export const deep = (value: unknown, secrets: Known = none): unknown => {
  if (typeof value === "string") return text(value, secrets)
  if (Array.isArray(value)) return value.map((item) => deep(item, secrets))
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, deep(item, secrets)]))
  }
  return value
}

/** Keeps a record's keys (config-var names) and hides every value. */
export const values = (record: unknown): Record<string, string | null> =>
  Object.fromEntries(
    Object.entries((record ?? {}) as Record<string, unknown>).map(([key, value]) => [key, value === null ? null : REDACTED])
  )

/** Argument keys whose values are secrets as a whole (config vars, environments, add-on config): names kept, values hidden. */
export const secretValuedKeys: ReadonlyArray<string> = ["vars", "env", "config"]

/**
 * Tool arguments as an audit entry (or any other output) shows them: the values under `secretValuedKeys`
 * hidden, then every string scrubbed (`deep`).
 */
export const args = (value: unknown, secrets: Known = none): unknown => {
  const record = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>
  const hidden = Object.fromEntries(
    Object.entries(record).map(([key, item]) => [key, secretValuedKeys.includes(key) ? values(item) : item])
  )
  return deep(hidden, secrets)
}
