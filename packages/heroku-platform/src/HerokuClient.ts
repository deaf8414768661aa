/**
 * `HerokuClient`: the Platform API v3 over `@effect/platform`'s HttpClient.
 *
 * - `Accept: application/vnd.heroku+json; version=3`, `Authorization: Bearer <token>` from a `Redacted`.
 * - Every response's `Request-Id` and `RateLimit-Remaining` are captured.
 * - A client-side token bucket (4,500 / 75 per minute) is kept in step with `RateLimit-Remaining`, so the
 *   client waits instead of spending requests on 429s; a 429 that still happens waits for the pool to refill
 *   and for its `Retry-After`.
 * - Retries follow `@agentloop/wire`'s `Retry` policy: 503 (after its `Retry-After`, else backoff), and a
 *   5xx or a dropped connection only for idempotent methods (GET, PUT, DELETE).
 * - Lists page with `Range`: as bounded pages (`page`) or as a `Stream` of items (`list`).
 *
 * @since 0.1.0
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Http, Retry } from "@agentloop/wire"
import { Chunk, Clock, Config, type ConfigError, Context, Duration, Effect, Layer, Option, Redacted, Ref, Stream } from "effect"
import * as HerokuError from "./HerokuError.js"
import * as Range from "./Range.js"
import * as RateLimiter from "./RateLimiter.js"

export const ACCEPT = "application/vnd.heroku+json; version=3"
export const DEFAULT_BASE_URL = "https://api.heroku.com"

export interface Options {
  /** A personal API token or an `HRKU-` OAuth token. */
  readonly token: Redacted.Redacted<string>
  readonly baseUrl?: string
  /** The pool to mirror. Default: Heroku's 4,500 tokens refilled at 75 per minute. */
  readonly rateLimit?: RateLimiter.Policy
  /** Retries of a 503 (and of a dropped GET). Default 3. */
  readonly maxRetries?: number
  /** First backoff delay; doubles each retry (the shared `Retry` policy, with jitter). Default 500 ms. */
  readonly retryBaseDelay?: Duration.DurationInput
  /** How many times a 429 waits for a refill before failing with `HerokuRateLimited`. Default 5. */
  readonly maxRateLimitWaits?: number
  readonly userAgent?: string
}

export type Method = "GET" | "POST" | "PATCH" | "PUT" | "DELETE"

export interface Request {
  readonly method: Method
  readonly path: string
  readonly body?: unknown
  readonly range?: string
}

export interface Response {
  readonly status: number
  readonly body: unknown
  readonly requestId: string | undefined
  readonly rateLimitRemaining: number | undefined
  readonly nextRange: string | undefined
}

export interface Page {
  readonly items: ReadonlyArray<unknown>
  /** Pass back as `range` to get the next page; absent on the last page. */
  readonly nextRange: string | undefined
  readonly requestId: string | undefined
}

export interface PageOptions {
  /** A `Next-Range` value from a previous page (takes precedence), or a range to start from. */
  readonly range?: string | Range.RangeSpec
}

export interface ListOptions {
  readonly field?: string
  readonly max?: number
  readonly order?: Range.Order
}

export interface Service {
  readonly request: (request: Request) => Effect.Effect<Response, HerokuError.HerokuError>
  readonly page: (path: string, options?: PageOptions) => Effect.Effect<Page, HerokuError.HerokuError | Range.InvalidRange>
  /** Every item of a list, page after page (`max` items per request, default 1,000). */
  readonly list: (path: string, options?: ListOptions) => Stream.Stream<unknown, HerokuError.HerokuError | Range.InvalidRange>
  /**
   * GETs a URL Heroku handed out that carries its own credentials (a log session's `logplex_url`): no
   * Authorization header is sent, so the API token never leaves for another host.
   */
  readonly getText: (url: string) => Effect.Effect<string, HerokuError.HerokuError>
  /** The client's current estimate of the pool (what the next `RateLimit-Remaining` should say). */
  readonly remainingEstimate: Effect.Effect<number>
}

/** A failed attempt: the error, and what the retry policy needs from the answer. */
interface Attempt {
  readonly error: HerokuError.HerokuError
  readonly status?: number
  readonly retryAfter?: Duration.Duration
}

export class HerokuClient extends Context.Tag("@agentloop/heroku-platform/HerokuClient")<HerokuClient, Service>() {}

/** `GET /account/rate-limits` does not spend a token, so it bypasses the bucket. */
const isFree = (request: Request) => request.method === "GET" && request.path === "/account/rate-limits"

const header = (headers: Readonly<Record<string, string | undefined>>, name: string): string | undefined => headers[name]

export const make = (options: Options): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    // api.heroku.com is a third party: no trace headers (traceparent, b3) leave with the requests.
    const http = HttpClient.withTracerPropagation(yield* HttpClient.HttpClient, false)
    const baseUrl = Http.baseUrl(options.baseUrl, DEFAULT_BASE_URL)
    const policy = options.rateLimit ?? RateLimiter.herokuPolicy
    const maxRetries = options.maxRetries ?? 3
    const baseDelay = options.retryBaseDelay ?? "500 millis"
    const maxRateLimitWaits = options.maxRateLimitWaits ?? 5
    const bucket = yield* Ref.make(RateLimiter.full(policy, yield* Clock.currentTimeMillis))

    const reserveToken = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const waitMs = yield* Ref.modify(bucket, (b) => {
        const taken = RateLimiter.take(b, policy, now)
        return [taken.waitMs, taken.bucket] as const
      })
      if (waitMs > 0) yield* Effect.sleep(Duration.millis(waitMs))
    })

    const syncBucket = (remaining: number | undefined) =>
      remaining === undefined
        ? Effect.void
        : Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(bucket, (b) => RateLimiter.sync(b, policy, remaining, now)))

    /** One attempt; a failure carries the answer's `Retry-After`, for the retry policy. */
    const once = (request: Request): Effect.Effect<Response, Attempt> =>
      Effect.gen(function* () {
        if (!isFree(request)) yield* reserveToken
        let httpRequest = HttpClientRequest.make(request.method)(`${baseUrl}${request.path}`).pipe(
          HttpClientRequest.setHeaders({
            Accept: ACCEPT,
            Authorization: `Bearer ${Redacted.value(options.token)}`,
            "User-Agent": options.userAgent ?? "agentloop-heroku-platform/0.1"
          })
        )
        if (request.range !== undefined) httpRequest = HttpClientRequest.setHeader(httpRequest, "Range", request.range)
        if (request.body !== undefined) httpRequest = HttpClientRequest.bodyUnsafeJson(httpRequest, request.body)
        const response = yield* http.execute(httpRequest).pipe(
          Effect.mapError(
            (error) => new HerokuError.HerokuTransportError({ method: request.method, path: request.path, reason: error.message })
          )
        )
        const headers = response.headers
        const requestId = header(headers, "request-id")
        const remainingText = header(headers, "ratelimit-remaining")
        const rateLimitRemaining = remainingText !== undefined && /^\d+$/.test(remainingText) ? Number(remainingText) : undefined
        yield* syncBucket(rateLimitRemaining)
        const text = yield* response.text.pipe(
          Effect.mapError(
            (error) => new HerokuError.HerokuTransportError({ method: request.method, path: request.path, reason: error.message })
          )
        )
        let body: unknown = undefined
        if (text.length > 0) {
          try {
            body = JSON.parse(text)
          } catch {
            if (response.status < 300) {
              return yield* new HerokuError.HerokuInvalidResponse({
                method: request.method,
                path: request.path,
                reason: "the body is not JSON",
                ...(requestId === undefined ? {} : { requestId })
              })
            }
            body = { message: text.slice(0, 500) }
          }
        }
        if (response.status >= 300) {
          const error = HerokuError.fromResponse(response.status, body, { method: request.method, path: request.path, requestId })
          const retryAfter = Retry.parseRetryAfter(header(headers, "retry-after"), yield* Clock.currentTimeMillis)
          return yield* Effect.fail<Attempt>({ error, status: response.status, ...(retryAfter === undefined ? {} : { retryAfter }) })
        }
        return { status: response.status, body, requestId, rateLimitRemaining, nextRange: header(headers, "next-range") }
      }).pipe(Effect.mapError((error): Attempt => ("error" in error ? error : { error })))

    // 429: the pool is empty; mark it so and wait for one token's refill (the bucket paces the retry).
    const onRateLimited = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Ref.update(bucket, (b) => RateLimiter.sync(b, policy, 0, now))
    )

    const request = (req: Request): Effect.Effect<Response, HerokuError.HerokuError> => {
      const idempotent = Retry.isIdempotentMethod(req.method)
      const rateLimited = (attempt: Attempt) => attempt.error._tag === "HerokuRateLimited"
      return once(req).pipe(
        Effect.tapError((attempt) => (rateLimited(attempt) ? onRateLimited : Effect.void)),
        // 429: the bucket paces the retry; a Retry-After is waited for on top.
        (effect) =>
          Retry.retrying({ maxRetries: maxRateLimitWaits, baseDelay: "0 millis" })(effect, (attempt) =>
            rateLimited(attempt) ? Retry.afterStatus(429, attempt.retryAfter, idempotent) : Retry.stop
          ),
        (effect) =>
          Retry.retrying({ maxRetries, baseDelay })(effect, (attempt) =>
            rateLimited(attempt)
              ? Retry.stop
              : attempt.status === undefined
                ? Retry.afterTransport(undefined, idempotent)
                : Retry.afterStatus(attempt.status, attempt.retryAfter, idempotent)
          ),
        Effect.mapError((attempt) => attempt.error)
      )
    }

    const page = (path: string, pageOptions?: PageOptions) =>
      Effect.gen(function* () {
        const range =
          pageOptions?.range === undefined
            ? undefined
            : typeof pageOptions.range === "string"
              ? pageOptions.range
              : yield* Effect.try({ try: () => Range.format(pageOptions.range as Range.RangeSpec), catch: (e) => e as Range.InvalidRange })
        const response = yield* request({ method: "GET", path, ...(range === undefined ? {} : { range }) })
        if (!Array.isArray(response.body)) {
          return yield* new HerokuError.HerokuInvalidResponse({
            method: "GET",
            path,
            reason: "a list endpoint did not return an array",
            ...(response.requestId === undefined ? {} : { requestId: response.requestId })
          })
        }
        return {
          items: response.body as ReadonlyArray<unknown>,
          nextRange: response.status === 206 ? response.nextRange : undefined,
          requestId: response.requestId
        }
      })

    const list = (path: string, listOptions?: ListOptions) => {
      const first: Range.RangeSpec = {
        field: listOptions?.field ?? "id",
        max: listOptions?.max ?? Range.MAX_PAGE_SIZE,
        ...(listOptions?.order === undefined ? {} : { order: listOptions.order })
      }
      return Stream.paginateChunkEffect(first as string | Range.RangeSpec, (range) =>
        Effect.map(page(path, { range }), (result) => {
          // Stop on a missing or repeated Next-Range (a server bug must not loop forever).
          const next = result.nextRange !== undefined && result.nextRange !== range ? Option.some(result.nextRange) : Option.none()
          return [Chunk.unsafeFromArray(result.items as Array<unknown>), next] as const
        })
      )
    }

    const getText = (url: string): Effect.Effect<string, HerokuError.HerokuError> => {
      const transport = (error: { readonly message: string }) =>
        new HerokuError.HerokuTransportError({ method: "GET", path: "(log session)", reason: error.message })
      return http.execute(HttpClientRequest.get(url)).pipe(
        Effect.mapError(transport),
        Effect.flatMap((response) =>
          Effect.flatMap(Effect.mapError(response.text, transport), (text) =>
            response.status >= 300
              ? Effect.fail(
                  HerokuError.fromResponse(response.status, { message: text.slice(0, 500) }, { method: "GET", path: "(log session)", requestId: undefined })
                )
              : Effect.succeed(text)
          )
        )
      )
    }

    return {
      request,
      page,
      list,
      getText,
      remainingEstimate: Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.map(Ref.get(bucket), (b) => Math.floor(RateLimiter.refill(b, policy, now).tokens))
      )
    } satisfies Service
  })

export const layer = (options: Options): Layer.Layer<HerokuClient, never, HttpClient.HttpClient> =>
  Layer.effect(HerokuClient, make(options))

/** Reads `HEROKU_API_KEY` (required) and `HEROKU_API_URL` (optional) from the environment/config. */
export const layerConfig: Layer.Layer<HerokuClient, ConfigError.ConfigError, HttpClient.HttpClient> = Layer.unwrapEffect(
  Effect.gen(function* () {
    const token = yield* Config.redacted("HEROKU_API_KEY")
    const baseUrl = yield* Config.string("HEROKU_API_URL").pipe(Config.withDefault(DEFAULT_BASE_URL))
    return layer({ token, baseUrl })
  })
)
