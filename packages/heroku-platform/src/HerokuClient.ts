/**
 * `HerokuClient`: the Platform API v3 over Effect's HttpClient (`effect/http`).
 *
 * - `Accept: application/vnd.heroku+json; version=3`, `Authorization: Bearer <token>` from a `Redacted`.
 * - Every response's `Request-Id` and `RateLimit-Remaining` are captured.
 * - A client-side token bucket (4,500 / 75 per minute) is kept in step with `RateLimit-Remaining`, so the
 *   client waits instead of spending requests on 429s; a 429 that still happens waits for the pool to refill
 *   and for its `Retry-After`.
 * - Retries follow `@agentloop/wire`'s `Retry` policy: 503 (after its `Retry-After`, else backoff), and a
 *   5xx or a dropped connection only for idempotent methods (GET, PUT, DELETE).
 * - Lists page with `Range`: as bounded pages (`page`) or as a `Stream` of items (`list`); a 206 without
 *   `Next-Range` and a `Next-Range` cycle are typed errors, never a silent end or an endless walk.
 * - Every path is checked against its operation's template before it is sent (`HerokuInvalidPath`).
 *
 * @since 0.1.0
 */
import { Http, Retry } from "@agentloop/wire"
import { Clock, Config, Context, Duration, Effect, Layer, Option, Redacted, Ref, Stream } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import * as HerokuError from "./HerokuError.js"
import * as Range from "./Range.js"
import * as RateLimiter from "./RateLimiter.js"
import * as Redaction from "./Redaction.js"

export const ACCEPT = "application/vnd.heroku+json; version=3"
/** Sent with the code a human supplies after a `two_factor` answer. */
export const TWO_FACTOR_HEADER = "Heroku-Two-Factor-Code"
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
  readonly retryBaseDelay?: Duration.Input
  /** How many times a 429 waits for a refill before failing with `HerokuRateLimited`. Default 5. */
  readonly maxRateLimitWaits?: number
  readonly userAgent?: string
  /**
   * Heroku Managed Inference's public host, for the model catalog (`GET /available-models`). Default
   * `https://us.inference.heroku.com` (`HEROKU_INFERENCE_HOST` in `layerConfig`, as Heroku's CLI reads it).
   */
  readonly inferenceUrl?: string
}

export const DEFAULT_INFERENCE_URL = "https://us.inference.heroku.com"

/**
 * A request to a URL outside the Platform API that Heroku handed out or named (a log session, a source's
 * upload URL, an app's Managed Inference endpoint). The Heroku token is never sent there; the URL may carry
 * a credential, so errors name `label` instead of it.
 */
export interface ExternalRequest {
  readonly method: "GET" | "PUT" | "POST"
  readonly url: string
  /** What errors call the URL, e.g. "(log session)". */
  readonly label: string
  /** Sent as `Authorization: Bearer`, and never quoted. */
  readonly bearer?: Redacted.Redacted<string>
  /** Raw bytes (a source tarball), or a value sent as JSON. */
  readonly body?: { readonly bytes: Uint8Array; readonly contentType: string } | { readonly json: unknown }
}

export type Method = "GET" | "POST" | "PATCH" | "PUT" | "DELETE"

export interface Request {
  readonly method: Method
  readonly path: string
  readonly body?: unknown
  readonly range?: string
  /** The operation's documented path (`/apps/{app}/dynos/{dyno}`): the path must fill it segment for segment. */
  readonly template?: string
  /** A second factor for an account or app that requires one (sent as `Heroku-Two-Factor-Code`). */
  readonly twoFactorCode?: Redacted.Redacted<string>
  /**
   * Send the token as HTTP Basic (`:<token>`) instead of Bearer: the Postgres data API's `/postgres/v0`
   * endpoints want it so (heroku/cli `pg:credentials`).
   */
  readonly basicAuth?: boolean
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
  /** The operation's path template, checked like `Request.template`. */
  readonly template?: string
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
  /** Sends an `ExternalRequest`; an answer of 300 or more is an error. Resolves to the answer's text. */
  readonly external: (request: ExternalRequest) => Effect.Effect<string, HerokuError.HerokuError>
  /** Managed Inference's public host (`Options.inferenceUrl`). */
  readonly inferenceUrl: string
  /** The client's current estimate of the pool (what the next `RateLimit-Remaining` should say). */
  readonly remainingEstimate: Effect.Effect<number>
}

export class HerokuClient extends Context.Service<HerokuClient, Service>()("@agentloop/heroku-platform/HerokuClient") {}

/** `GET /account/rate-limits` does not spend a token, so it bypasses the bucket. */
const isFree = (request: Request) => request.method === "GET" && request.path === "/account/rate-limits"

const header = (headers: Readonly<Record<string, string | undefined>>, name: string): string | undefined => headers[name]

const decodeSegment = (segment: string): string | undefined => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined
  }
}

/**
 * Why `path` must not be sent, or `undefined` when it is safe: every segment non-empty, not `.` or `..`
 * (also percent-encoded), no `/` smuggled in encoded, no query or fragment; and with a template, the same
 * segments with each `{param}` filled by exactly one segment.
 */
export const pathProblem = (path: string, template: string | undefined): string | undefined => {
  if (!path.startsWith("/")) return "the path must start with /"
  if (/[?#\s\\]/.test(path)) return "the path must not contain a query, a fragment, whitespace or a backslash"
  const segments = path.slice(1).split("/")
  for (const segment of segments) {
    const decoded = decodeSegment(segment)
    if (decoded === undefined) return "a path segment is not valid percent-encoding"
    if (decoded === "" || decoded === "." || decoded === "..") return `a path segment is ${decoded === "" ? "empty" : `"${decoded}"`}`
    if (decoded.includes("/") || decoded.includes("\\")) return "a path segment contains an encoded slash"
  }
  if (template === undefined) return undefined
  const expected = template.slice(1).split("/")
  if (expected.length !== segments.length) return `the path does not match ${template}`
  for (let i = 0; i < expected.length; i++) {
    const part = expected[i]!
    if (!(part.startsWith("{") && part.endsWith("}")) && part !== segments[i]) return `the path does not match ${template}`
  }
  return undefined
}

/**
 * `message` with `url` replaced by "(log session)" in every spelling an error may quote it: as given, as the
 * URL parser prints it, and without its query (HTTP client errors print the request URL without it).
 */
const hideUrl = (message: string, url: string, label = "(log session)"): string => {
  const spellings = new Set([url])
  try {
    const parsed = new URL(url)
    spellings.add(parsed.href)
    spellings.add(`${parsed.origin}${parsed.pathname}`)
  } catch {
    // Not a URL: only the given spelling can appear.
  }
  let hidden = message
  for (const spelling of [...spellings].sort((a, b) => b.length - a.length)) hidden = hidden.split(spelling).join(label)
  return hidden
}

/** An error answer's body: JSON when it parses (Heroku's `{ id, message }`), else nothing to copy. */
const jsonOrText = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

export const make = (options: Options): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    // api.heroku.com is a third party: no trace headers (traceparent, b3) leave with the requests.
    const http = HttpClient.transformResponse(yield* HttpClient.HttpClient, Effect.provideService(HttpClient.TracerPropagationEnabled, false))
    const baseUrl = Http.baseUrl(options.baseUrl, DEFAULT_BASE_URL)
    const policy = options.rateLimit ?? RateLimiter.herokuPolicy
    const maxRetries = options.maxRetries ?? 3
    const baseDelay = options.retryBaseDelay ?? "500 millis"
    const maxRateLimitWaits = options.maxRateLimitWaits ?? 5
    const bucket = yield* Ref.make(RateLimiter.full(policy, yield* Clock.currentTimeMillis))

    /** Reserves a token now; returns how long to wait before sending. */
    const reserveToken = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Ref.modify(bucket, (b) => {
        const taken = RateLimiter.take(b, policy, now)
        return [taken.waitMs, taken.bucket] as const
      })
    )

    const adjust = (f: (b: RateLimiter.Bucket, now: number) => RateLimiter.Bucket) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(bucket, (b) => f(b, now)))

    // A reservation ends exactly once: settled by the response's RateLimit-Remaining, settled without it when
    // the request failed on the wire, or given back when the caller was interrupted before sending.
    const once = (request: Request): Effect.Effect<Response, HerokuError.HerokuError> => {
      const problem = pathProblem(request.path, request.template)
      if (problem !== undefined) {
        return Effect.fail(new HerokuError.HerokuInvalidPath({ method: request.method, path: request.path, template: request.template, reason: problem }))
      }
      if (isFree(request)) return send(request, () => Effect.void)
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(reserveToken, (waitMs) => {
          let state: "waiting" | "sent" | "settled" = "waiting"
          const settleOnce = (remaining: number | undefined) =>
            Effect.suspend(() => {
              if (state === "settled") return Effect.void
              const wasSent = state === "sent"
              state = "settled"
              return adjust((b, now) => (wasSent ? RateLimiter.settle(b, policy, remaining, now) : RateLimiter.release(b, policy, now)))
            })
          const sending = Effect.sync(() => {
            state = "sent"
          })
          return restore(
            Effect.andThen(waitMs > 0 ? Effect.sleep(Duration.millis(waitMs)) : Effect.void, Effect.andThen(sending, send(request, settleOnce)))
          ).pipe(Effect.ensuring(settleOnce(undefined)))
        })
      )
    }

    const send: (request: Request, onRemaining: (remaining: number | undefined) => Effect.Effect<void>) => Effect.Effect<Response, HerokuError.HerokuError> =
      Effect.fnUntraced(function* (request, onRemaining) {
        let httpRequest = HttpClientRequest.make(request.method)(`${baseUrl}${request.path}`).pipe(
          HttpClientRequest.setHeaders({
            Accept: ACCEPT,
            Authorization:
              request.basicAuth === true
                ? `Basic ${Buffer.from(`:${Redacted.value(options.token)}`).toString("base64")}`
                : `Bearer ${Redacted.value(options.token)}`,
            "User-Agent": options.userAgent ?? "agentloop-heroku-platform/0.1"
          })
        )
        if (request.range !== undefined) httpRequest = HttpClientRequest.setHeader(httpRequest, "Range", request.range)
        if (request.twoFactorCode !== undefined) {
          httpRequest = HttpClientRequest.setHeader(httpRequest, TWO_FACTOR_HEADER, Redacted.value(request.twoFactorCode))
        }
        if (request.body !== undefined) httpRequest = HttpClientRequest.bodyJsonUnsafe(httpRequest, request.body)
        const response = yield* http.execute(httpRequest).pipe(
          Effect.mapError(
            (error) => new HerokuError.HerokuTransportError({ method: request.method, path: request.path, reason: Redaction.text(error.message) })
          )
        )
        const headers = response.headers
        const requestId = header(headers, "request-id")
        const remainingText = header(headers, "ratelimit-remaining")
        const rateLimitRemaining = remainingText !== undefined && /^\d+$/.test(remainingText) ? Number(remainingText) : undefined
        yield* onRemaining(rateLimitRemaining)
        const text = yield* response.text.pipe(
          Effect.mapError(
            (error) => new HerokuError.HerokuTransportError({ method: request.method, path: request.path, reason: Redaction.text(error.message) })
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
            // Not a Heroku error body (an HTML page from a proxy): never copied, it may echo anything.
            body = { message: `HTTP ${response.status} with a body that is not JSON (${text.length} characters, not shown)` }
          }
        }
        if (response.status >= 300) {
          const retryAfter = Retry.parseRetryAfter(header(headers, "retry-after"), yield* Clock.currentTimeMillis)
          return yield* HerokuError.fromResponse(response.status, body, {
            method: request.method,
            path: request.path,
            requestId,
            retryAfterMs: retryAfter === undefined ? undefined : Duration.toMillis(retryAfter)
          })
        }
        return { status: response.status, body, requestId, rateLimitRemaining, nextRange: header(headers, "next-range") }
      })

    // 429: the pool is empty; mark it so. The retry policy waits out its Retry-After; the bucket paces the retry.
    const onRateLimited = adjust((b, now) => RateLimiter.exhausted(b, policy, now))

    const request = (req: Request): Effect.Effect<Response, HerokuError.HerokuError> => {
      const idempotent = Retry.isIdempotentMethod(req.method)
      const rateLimited = (error: HerokuError.HerokuError) => error._tag === "HerokuRateLimited"
      const retryAfter = (error: HerokuError.HerokuError) =>
        "retryAfterMs" in error && error.retryAfterMs !== undefined ? Duration.millis(error.retryAfterMs) : undefined
      return once(req).pipe(
        Effect.tapError((error) => (rateLimited(error) ? onRateLimited : Effect.void)),
        // 429: the bucket paces the retry; a Retry-After is waited for on top (by the policy, once).
        (effect) =>
          Retry.retrying({ maxRetries: maxRateLimitWaits, baseDelay: "0 millis" })(effect, (error) =>
            rateLimited(error) ? Retry.afterStatus(429, retryAfter(error), idempotent) : Retry.stop
          ),
        (effect) =>
          Retry.retrying({ maxRetries, baseDelay })(effect, (error) =>
            rateLimited(error)
              ? Retry.stop
              : "status" in error
                ? Retry.afterStatus(error.status, retryAfter(error), idempotent)
                : error._tag === "HerokuTransportError"
                  ? Retry.afterTransport(undefined, idempotent)
                  : Retry.stop
          )
      )
    }

    const page: Service["page"] = Effect.fnUntraced(function* (path: string, pageOptions?: PageOptions) {
      const range =
        pageOptions?.range === undefined
          ? undefined
          : typeof pageOptions.range === "string"
            ? pageOptions.range
            : yield* Effect.try({ try: () => Range.format(pageOptions.range as Range.RangeSpec), catch: (e) => e as Range.InvalidRange })
      const response = yield* request({
        method: "GET",
        path,
        ...(range === undefined ? {} : { range }),
        ...(pageOptions?.template === undefined ? {} : { template: pageOptions.template })
      })
      if (!Array.isArray(response.body)) {
        return yield* new HerokuError.HerokuInvalidResponse({
          method: "GET",
          path,
          reason: "a list endpoint did not return an array",
          ...(response.requestId === undefined ? {} : { requestId: response.requestId })
        })
      }
      if (response.status === 206 && (response.nextRange === undefined || response.nextRange.trim() === "")) {
        // A truncated list with no way to continue: taking it as the whole list would silently hide items.
        return yield* new HerokuError.HerokuPagingError({
          path,
          reason: "206 Partial Content without a Next-Range header",
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
      return Stream.suspend(() => {
        const seen = new Set<string>()
        return Stream.paginate(first as string | Range.RangeSpec, (range) =>
          Effect.flatMap(page(path, { range }), (result) => {
            if (result.nextRange === undefined) return Effect.succeed([result.items, Option.none()] as const)
            // A Next-Range seen before (A -> B -> A) would walk forever: a server bug, reported as such.
            if (seen.has(result.nextRange) || result.nextRange === range) {
              return Effect.fail(
                new HerokuError.HerokuPagingError({
                  path,
                  reason: `Next-Range repeats an earlier range (${Redaction.text(result.nextRange).slice(0, 200)})`,
                  ...(result.requestId === undefined ? {} : { requestId: result.requestId })
                })
              )
            }
            seen.add(result.nextRange)
            return Effect.succeed([result.items, Option.some(result.nextRange)] as const)
          })
        )
      })
    }

    const external = (request: ExternalRequest): Effect.Effect<string, HerokuError.HerokuError> => {
      // The URL may carry a credential (a presigned upload, a log session): errors name the label instead.
      const transport = (error: { readonly message: string }) =>
        new HerokuError.HerokuTransportError({
          method: request.method,
          path: request.label,
          reason: Redaction.text(hideUrl(error.message, request.url, request.label))
        })
      let outgoing = HttpClientRequest.make(request.method)(request.url)
      if (request.bearer !== undefined) outgoing = HttpClientRequest.bearerToken(outgoing, Redacted.value(request.bearer))
      if (request.body !== undefined) {
        outgoing =
          "bytes" in request.body
            ? HttpClientRequest.bodyUint8Array(outgoing, request.body.bytes, request.body.contentType)
            : HttpClientRequest.bodyJsonUnsafe(outgoing, request.body.json)
      }
      return http.execute(outgoing).pipe(
        Effect.mapError(transport),
        Effect.flatMap((response) =>
          Effect.flatMap(Effect.mapError(response.text, transport), (text) =>
            response.status >= 300
              ? Effect.fail(HerokuError.fromResponse(response.status, jsonOrText(text), { method: request.method, path: request.label, requestId: undefined }))
              : Effect.succeed(text)
          )
        )
      )
    }
    const getText = (url: string): Effect.Effect<string, HerokuError.HerokuError> => external({ method: "GET", url, label: "(log session)" })

    return {
      request,
      page,
      list,
      getText,
      external,
      inferenceUrl: Http.baseUrl(options.inferenceUrl, DEFAULT_INFERENCE_URL),
      remainingEstimate: Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.map(Ref.get(bucket), (b) => Math.floor(RateLimiter.refill(b, policy, now).tokens))
      )
    } satisfies Service
  })

export const layer = (options: Options): Layer.Layer<HerokuClient, never, HttpClient.HttpClient> =>
  Layer.effect(HerokuClient, make(options))

/** Reads `HEROKU_API_KEY` (required) and `HEROKU_API_URL` (optional) from the environment/config. */
export const layerConfig: Layer.Layer<HerokuClient, Config.ConfigError, HttpClient.HttpClient> = Layer.unwrap(
  Effect.gen(function* () {
    const token = yield* Config.Redacted("HEROKU_API_KEY")
    const baseUrl = yield* Config.String("HEROKU_API_URL").pipe(Config.withDefault(DEFAULT_BASE_URL))
    const inferenceUrl = yield* Config.String("HEROKU_INFERENCE_HOST").pipe(Config.withDefault(DEFAULT_INFERENCE_URL))
    return layer({ token, baseUrl, inferenceUrl: /^https?:\/\//.test(inferenceUrl) ? inferenceUrl : `https://${inferenceUrl}` })
  })
)
