/**
 * The one retry policy every hosted client uses. A request is sent again only when that cannot repeat a
 * side effect:
 *
 * - it provably did not take effect: the connection was never made (refused, DNS, unreachable, connect
 *   timeout), or the server rejected it before doing anything (408, 425, 429, 503, 529, or any status that
 *   carries `Retry-After`);
 * - or the operation is idempotent (GET, PUT/PATCH with the same body, an idempotency key, or a call the
 *   adapter declares side-effect free, like a chat completion), and the failure is transient (5xx, a
 *   dropped connection, no response headers in time).
 *
 * A `Retry-After` (seconds or an HTTP-date) is waited for, plus up to 20% jitter; one longer than
 * `maxRetryAfter` is not waited for: the error is returned. Other retries back off exponentially with
 * jitter. Only the request is retried, never a stream that has started to produce parts. Pure decisions,
 * one effectful loop.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Random } from "effect"

export interface Options {
  /** Retries after the first try. Default 3. */
  readonly maxRetries?: number
  /** The first backoff delay; it doubles each retry. Default 250 ms. */
  readonly baseDelay?: Duration.Input
  /** No backoff delay is longer than this. Default 10 s. */
  readonly maxDelay?: Duration.Input
  /** The longest `Retry-After` that is waited for; a longer one fails at once. Default 60 s. */
  readonly maxRetryAfter?: Duration.Input
}

/** Timeouts, rate limits, overload and server errors: a second try can fix them. */
export const retryableStatuses: ReadonlySet<number> = new Set([408, 425, 429, 500, 502, 503, 504, 529])

export const isRetryableStatus = (status: number): boolean => retryableStatuses.has(status)

/** Statuses that say the server did nothing with the request: safe to re-send even a side effect. */
export const rejectedStatuses: ReadonlySet<number> = new Set([408, 425, 429, 503, 529])

/** Methods whose repetition has the effect of one request (for a PUT: with the same body). */
export const isIdempotentMethod = (method: string): boolean => method === "GET" || method === "HEAD" || method === "PUT" || method === "DELETE" || method === "OPTIONS"

/** What one attempt's failure says about whether a retry is safe. */
export type Decision =
  | { readonly _tag: "Stop" }
  | { readonly _tag: "Retry"; readonly after?: Duration.Duration }

export const stop: Decision = { _tag: "Stop" }
const retry = (after: Duration.Duration | undefined): Decision => (after === undefined ? { _tag: "Retry" } : { _tag: "Retry", after })

/**
 * `Retry-After` as a delay: delta-seconds, or an HTTP-date (relative to `now`, never negative). Undefined
 * when absent or unreadable.
 */
export const parseRetryAfter = (value: string | undefined, now: number): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const text = value.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Duration.millis(Math.round(Number(text) * 1000))
  const date = Date.parse(text)
  return Number.isNaN(date) ? undefined : Duration.millis(Math.max(0, date - now))
}

/** After an answer with a status >= 300. */
export const afterStatus = (status: number, retryAfter: Duration.Duration | undefined, idempotent: boolean): Decision => {
  if (retryAfter !== undefined && status >= 400) return retry(retryAfter)
  if (rejectedStatuses.has(status)) return retry(undefined)
  return idempotent && retryableStatuses.has(status) ? retry(undefined) : stop
}

/** Error codes that mean the connection was never made, so nothing was delivered. */
const notConnected = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ENETUNREACH", "EHOSTUNREACH", "UND_ERR_CONNECT_TIMEOUT", "ECONNABORTED_CONNECT"])

/** Whether a transport failure provably happened before the request left (walks the `cause` chain). */
export const neverDelivered = (error: unknown): boolean => {
  let current: unknown = error
  for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === "string" && notConnected.has(code)) return true
    current = (current as { cause?: unknown }).cause
  }
  return false
}

/** After a transport failure or a headers timeout (no status). */
export const afterTransport = (error: unknown, idempotent: boolean): Decision => (idempotent || neverDelivered(error) ? retry(undefined) : stop)

const backoff = (options: Options, attempt: number): Duration.Duration => {
  const base = Duration.toMillis(options.baseDelay ?? "250 millis")
  return Duration.millis(Math.min(base * 2 ** attempt, Duration.toMillis(options.maxDelay ?? "10 seconds")))
}

/**
 * Runs `effect`, and again while `decide` says a retry is safe, up to `maxRetries` times. The delay is the
 * decision's `Retry-After` (plus 0-20% jitter), else exponential backoff jittered to 80-120%.
 */
export const retrying =
  (options: Options = {}) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>, decide: (error: E) => Decision): Effect.Effect<A, E, R> => {
    const maxRetries = options.maxRetries ?? 3
    const maxRetryAfter = Duration.toMillis(options.maxRetryAfter ?? "60 seconds")
    const loop = (attempt: number): Effect.Effect<A, E, R> =>
      Effect.catch(effect, (error) => {
        const decision = decide(error)
        if (decision._tag === "Stop" || attempt >= maxRetries) return Effect.fail(error)
        if (decision.after !== undefined && Duration.toMillis(decision.after) > maxRetryAfter) return Effect.fail(error)
        return Effect.flatMap(Random.next, (r) => {
          const delay =
            decision.after !== undefined ? Duration.toMillis(decision.after) * (1 + 0.2 * r) : Duration.toMillis(backoff(options, attempt)) * (0.8 + 0.4 * r)
          return Effect.andThen(Effect.sleep(Duration.millis(Math.round(delay))), loop(attempt + 1))
        })
      })
    return loop(0)
  }
