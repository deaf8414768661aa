/**
 * Scrubbing of secrets from any text or value that can reach a model, an audit entry, an event served over
 * HTTP, an error or a log: known secret values (e.g. config vars a tool has seen) and secret-shaped strings
 * and their credential parts (a URL's password, a `password=` value), and secret-shaped strings (URLs with
 * credentials, bearer tokens, `HRKU-` tokens, `srv=`/`token=`/`password=`... parameters, `PGPASSWORD=...`,
 * `password is ...`). Pure
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
  // PGPASSWORD=..., DB_PASSWORD: ..., "password": "...", password is ... (a credential printed in prose or env);
  // the name's prefix is bounded, so a long hyphenated run cannot make it quadratic
  [
    /\b([\w-]{0,64}(?:password|passwd|passphrase|pwd|secret|token))(["']?\s*[:=]\s*|\s+(?:is|was|=)\s+)(["'`]?)([^\s"'`<>,;]{4,})/gi,
    `$1$2$3${REDACTED}`
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

/** A URL's password (`scheme://user:password@host`), in every URL of a value. */
const URL_PASSWORD = /(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}:\/\/[^\s/@:"'<>]{0,512}:([^\s/@"'<>]{1,512})@/gi
/** A credential in `key=value` form (a query string, a libpq conninfo, an env line). */
const KEY_VALUE_SECRET = /(?:^|[?&;\s])[\w-]{0,64}(?:password|passwd|pwd|secret|token|api_?key|sslkey|sig)=([^&\s;"'<>]+)/gi

const decodedOrSelf = (value: string): string => {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}

/**
 * The parts of a secret value that a program may print on their own: the password of each URL in it and
 * the values of its credential parameters, as written and percent-decoded. A log line that prints only the
 * password of a known `DATABASE_URL` is then scrubbed too.
 */
export const credentialParts = (value: string): ReadonlyArray<string> => {
  const parts: Array<string> = []
  for (const pattern of [URL_PASSWORD, KEY_VALUE_SECRET]) {
    for (const match of value.matchAll(pattern)) {
      const part = match[1]!
      parts.push(part, decodedOrSelf(part))
    }
  }
  return parts
}

/** Known secret values, with their credential parts (`credentialParts`). */
export const known = (values: Iterable<string>): Known => {
  const all = new Set<string>()
  for (const value of values) {
    all.add(value)
    for (const part of credentialParts(value)) all.add(part)
  }
  return { values: [...all].filter((v) => v.length >= MIN_KNOWN_LENGTH).sort((a, b) => b.length - a.length) }
}

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
 * A JSON-like copy of any value a caller passed, bounded in depth and size: arrays and plain objects are
 * copied, strings, numbers, booleans and null kept, anything else described (`[function]`, `[String]`), so
 * an entry can always be written (no cycle, no getter, no class instance reaches a sink).
 */
export const plain = (value: unknown, depth = 0): unknown => {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value)
  if (typeof value !== "object") return `[${typeof value}]`
  if (depth >= 8) return "[too deep]"
  if (Array.isArray(value)) return value.slice(0, 100).map((item) => plain(item, depth + 1))
  const prototype = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null) return `[${(value as object).constructor?.name ?? "object"}]`
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value).slice(0, 100)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key)
    out[key] = descriptor !== undefined && "value" in descriptor ? plain(descriptor.value, depth + 1) : "[accessor]"
  }
  return out
}

/**
 * Tool arguments as an audit entry (or any other output) shows them: made plain (`plain`), the values under
 * `secretValuedKeys` hidden, then every string scrubbed (`deep`).
 */
export const args = (value: unknown, secrets: Known = none): unknown => {
  const copy = plain(value)
  const record = (typeof copy === "object" && copy !== null && !Array.isArray(copy) ? copy : {}) as Record<string, unknown>
  const hidden = Object.fromEntries(
    Object.entries(record).map(([key, item]) => [key, secretValuedKeys.includes(key) ? values(item) : item])
  )
  return deep(hidden, secrets)
}
