/**
 * The one retry policy every backend uses: exponential backoff with jitter, for statuses and failures that
 * a second try can fix. Only the request is retried, never a stream that has started to produce parts.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Schedule } from "effect"

export interface Options {
  /** Retries after the first try. Default 3. */
  readonly maxRetries?: number
  /** The first delay; it doubles each retry. Default 250 ms. */
  readonly baseDelay?: Duration.DurationInput
  /** No delay is longer than this. Default 10 s. */
  readonly maxDelay?: Duration.DurationInput
}

/** Timeouts, rate limits, overload and server errors. */
export const retryableStatuses: ReadonlySet<number> = new Set([408, 425, 429, 500, 502, 503, 504, 529])

export const isRetryableStatus = (status: number): boolean => retryableStatuses.has(status)

export const schedule = (options: Options = {}) =>
  Schedule.exponential(Duration.decode(options.baseDelay ?? "250 millis"), 2).pipe(
    Schedule.jittered,
    Schedule.modifyDelay((delay) => Duration.min(delay, Duration.decode(options.maxDelay ?? "10 seconds"))),
    Schedule.intersect(Schedule.recurs(options.maxRetries ?? 3))
  )

/** Retries `effect` while its error says `retryable: true`. */
export const retryTransient =
  (options: Options = {}) =>
  <A, E extends { readonly retryable: boolean }, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.retry(effect, { schedule: schedule(options), while: (error) => error.retryable })
