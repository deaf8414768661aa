/**
 * Sending a request to a hosted API: bounded by the `Timeout`s, retried only when the `Retry` policy says a
 * second try cannot repeat a side effect, errors turned into `ModelError` with the provider's own message
 * and a `reason`, and the body exposed as a stream whose failure mid-way (a dropped connection, a silence
 * longer than the idle timeout) is a `ModelError` too. Secrets passed in headers never appear in an error
 * (`redactError`, also where an error page or body quotes them), and no trace header (`traceparent`, `b3`)
 * is sent to the provider unless `propagateTrace` is set.
 *
 * @since 0.1.0
 */
import { LanguageModel } from "@agentloop/core"
import { type BatchReader, batches, EventBuffer, toPull } from "@agentloop/core/internal/eventBuffer"
import type { Array as Arr, Cause } from "effect"
import { Clock, Duration, Effect, Exit, Layer, Stream } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest, type HttpClientResponse } from "effect/http"
import * as Incremental from "./Incremental.js"
import * as Retry from "./Retry.js"
import * as Timeout from "./Timeout.js"

/** What every hosted client lets its user tune: retries, timeouts and trace propagation. */
export interface ClientOptions {
  readonly retry?: Retry.Options
  readonly timeouts?: Timeout.Options
  /** Send the current trace's `traceparent`/`b3` headers to the provider. Default false: trace ids stay here. */
  readonly propagateTrace?: boolean
}

/**
 * The layer with the runtime's own `fetch` as its `HttpClient` (effect's `FetchHttpClient.layer`: Node 18+,
 * Deno, Bun, browsers), so a hosted model layer needs nothing more: what every adapter's `layerFetch` is.
 * Provide another client to the adapter's `layer` instead (e.g. `NodeHttpClient.layerUndici` from
 * `@effect/platform-node`) to tune connections.
 */
export const withFetch = <ROut, E, RIn>(layer: Layer.Layer<ROut, E, RIn>): Layer.Layer<ROut, E, Exclude<RIn, HttpClient.HttpClient>> =>
  Layer.provide(layer, FetchHttpClient.layer)

/** The `ClientOptions` of an adapter's options, to spread into a `Request`. */
export const clientOptions = (options: ClientOptions): ClientOptions => ({
  ...(options.retry === undefined ? {} : { retry: options.retry }),
  ...(options.timeouts === undefined ? {} : { timeouts: options.timeouts }),
  ...(options.propagateTrace === undefined ? {} : { propagateTrace: options.propagateTrace })
})

export interface Request extends ClientOptions {
  /** Named in errors, e.g. `heroku`, `letta`. */
  readonly provider: string
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
  readonly url: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: unknown
  /**
   * Whether sending the request twice has the effect of sending it once (so it may be re-sent after it may
   * have been delivered). Default: true for GET, PUT and DELETE and for requests with an `Idempotency-Key`
   * header; false otherwise. A PUT that appends (Toolhouse's run continuation) must say false; a POST
   * without side effects (a chat completion) may say true.
   */
  readonly idempotent?: boolean
}

export interface Response {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  /** The body as bytes; a dropped connection or an idle timeout fails it with a `ModelError`. */
  readonly stream: Stream.Stream<Uint8Array, LanguageModel.ModelError>
  /**
   * The body as `stream`, and also failed with `onDeadline()` once the `Clock` passes `deadline` (epoch ms),
   * even while a read is pending: a streamed step's timeout, with one timer for the whole body.
   */
  readonly streamUntil: (deadline: number, onDeadline: () => LanguageModel.ModelError) => Stream.Stream<Uint8Array, LanguageModel.ModelError>
  /**
   * The body as `streamUntil`, with each batch of reads handed to `reader` as the consumer takes it: a
   * decoder that turns bytes into items there costs no stream stage of its own.
   */
  readonly readUntil: <A>(deadline: number, onDeadline: () => LanguageModel.ModelError, reader: BodyReader<A>) => Stream.Stream<A, LanguageModel.ModelError>
  readonly text: Effect.Effect<string, LanguageModel.ModelError>
  readonly json: Effect.Effect<unknown, LanguageModel.ModelError>
}

/** The last items a `BodyReader` emits, and how the body ends after them (a success: it ends; a failure: it fails). */
export interface BodyEnding<A> {
  readonly items: ReadonlyArray<A>
  readonly exit: Exit.Exit<unknown, LanguageModel.ModelError>
}

/**
 * A consumer of the body, called synchronously in the consumer's fiber with no Effect per batch: each batch
 * of reads received so far (one or more, in order) becomes the items to emit as one chunk (none: read on)
 * or a `BodyEnding` (these items, then the end); the body's failure (a dropped connection, a timeout) and
 * its end each become a `BodyEnding`.
 */
export interface BodyReader<A> {
  readonly onBatch: (reads: Array<Uint8Array>) => ReadonlyArray<A> | BodyEnding<A>
  readonly onFailure: (cause: Cause.Cause<LanguageModel.ModelError>) => BodyEnding<A>
  readonly onDone: () => BodyEnding<A>
}

/** A service's base URL: the configured one, or the default, without trailing slashes. */
export const baseUrl = (configured: string | undefined, fallback: string): string => (configured ?? fallback).replace(/\/+$/, "")

/** The request's idempotency: its own `idempotent`, else by method and `Idempotency-Key`. */
export const isIdempotent = (request: Request): boolean =>
  request.idempotent ??
  (Retry.isIdempotentMethod(request.method) || Object.keys(request.headers ?? {}).some((name) => name.toLowerCase() === "idempotency-key"))

/** The most useful message in an error body: `message`, `error.message`, `error`, `detail`, or the text. */
export const errorMessage = (text: string): string => {
  try {
    const body = JSON.parse(text) as any
    const candidates = [
      body?.message,
      body?.error?.message,
      typeof body?.error === "string" ? body.error : undefined,
      typeof body?.detail === "string" ? body.detail : undefined,
      body?.detail?.message,
      Array.isArray(body?.detail) ? body.detail.map((d: any) => `${(d?.loc ?? []).join(".")}: ${d?.msg ?? JSON.stringify(d)}`).join("; ") : undefined
    ]
    const found = candidates.find((c) => typeof c === "string" && c.length > 0)
    if (found !== undefined) return found
  } catch {
    // not JSON: use the text
  }
  // An HTML error page (a proxy's 502): its title, not the markup.
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(text)
  const trimmed = (title === null ? text : title[1]!).trim()
  return trimmed.length === 0 ? "(empty body)" : trimmed.slice(0, 500)
}

type Extra = { status?: number; cause?: unknown; reason?: LanguageModel.ModelErrorReason }

/** Headers that carry credentials: their values never appear in an error. */
const credentialHeader = /authorization|api[-_]?key|token|secret|password|cookie/i

/**
 * The credentials a request sends (its credential headers' values, and the bare key of `Bearer <key>`),
 * longest first so a whole value is replaced before a part of it.
 */
export const credentialsOf = (request: Pick<Request, "headers">): ReadonlyArray<string> => {
  const found: Array<string> = []
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (!credentialHeader.test(name)) continue
    found.push(value.trim())
    const scheme = /^\S+\s+(\S.*)$/.exec(value.trim())
    if (scheme !== null) found.push(scheme[1]!)
  }
  // A very short value would replace ordinary words of a message; nothing that short is a credential.
  return found.filter((secret) => secret.length >= 8).sort((a, b) => b.length - a.length)
}

/**
 * The error with every credential of the request replaced by `<redacted>` in its message: a provider (or a
 * proxy) may quote what it was sent in an error page or an in-stream error, and the message travels on into
 * run states, tool results and events.
 */
export const redactError = (credentials: ReadonlyArray<string>) => (error: LanguageModel.ModelError): LanguageModel.ModelError => {
  let message = error.message
  for (const secret of credentials) if (message.includes(secret)) message = message.split(secret).join("<redacted>")
  return message === error.message ? error : LanguageModel.modelErrorWith(error, { message })
}

/** `redactError` with the request's credentials, found only when an error happens (a step that succeeds pays nothing). */
export const redactFor =
  (request: Pick<Request, "headers">) =>
  (error: LanguageModel.ModelError): LanguageModel.ModelError =>
    redactError(credentialsOf(request))(error)

export const modelError = (provider: string, message: string, retryable: boolean, extra: Extra = {}) =>
  new LanguageModel.ModelError({ provider, message, retryable, ...extra })

/** One attempt's failure and whether the policy allows another. */
interface Attempt {
  readonly error: LanguageModel.ModelError
  readonly decision: Retry.Decision
}

const millis = (d: Duration.Duration) => `${Duration.toMillis(d)} ms`

const sendOnce = Effect.fnUntraced(function* (
  request: Request,
  timeouts: Timeout.Resolved,
  idempotent: boolean
): Effect.fn.Return<Response, Attempt, HttpClient.HttpClient> {
  const client = yield* HttpClient.HttpClient
  let httpRequest = HttpClientRequest.make(request.method)(request.url).pipe(HttpClientRequest.setHeaders(request.headers ?? {}))
  if (request.body !== undefined) httpRequest = HttpClientRequest.bodyJsonUnsafe(httpRequest, request.body)
  const { provider, method } = request
  const execute = client.execute(httpRequest)
  const response: HttpClientResponse.HttpClientResponse = yield* (
    request.propagateTrace === true ? execute : Effect.provideService(execute, HttpClient.TracerPropagationEnabled, false)
  ).pipe(
    Effect.mapError((error): Attempt => {
      const decision = Retry.afterTransport(error.cause ?? error, idempotent)
      return {
        error: modelError(provider, `${provider}: ${method} failed before a response: ${error.message}`, decision._tag === "Retry", { cause: error, reason: "transport" }),
        decision
      }
    }),
    // Interrupting the request aborts it: the connection is closed, nothing keeps waiting.
    Effect.timeoutOrElse({
      duration: timeouts.headers,
      orElse: () =>
        Effect.fail<Attempt>({
          error: modelError(provider, `${provider}: no response headers within ${millis(timeouts.headers)} (${method})`, idempotent, { reason: "headers-timeout" }),
          decision: idempotent ? { _tag: "Retry" } : Retry.stop
        })
    })
  )
  const status = response.status
  const lost = (error: { readonly message: string }) =>
    modelError(provider, `${provider}: the connection was lost while reading the response: ${error.message}`, idempotent, { status, reason: "transport" })
  const body = Stream.mapError(response.stream, lost)
  const silent = () => modelError(provider, `${provider}: the response went silent for ${millis(timeouts.idle)}`, idempotent, { status, reason: "idle-timeout" })
  const stream = guarded(body, timeouts.idle, silent, undefined, batches)
  const readUntil = <A>(deadline: number, onDeadline: () => LanguageModel.ModelError, reader: BodyReader<A>) =>
    guarded(body, timeouts.idle, silent, { at: deadline, error: onDeadline }, reader)
  const streamUntil = (deadline: number, onDeadline: () => LanguageModel.ModelError) => readUntil(deadline, onDeadline, batches)
  const text = Stream.mkString(Incremental.decodeUtf8(stream))
  if (status >= 300) {
    const body = yield* Effect.orElseSucceed(text, () => "")
    const now = yield* Clock.currentTimeMillis
    const retryAfter = Retry.parseRetryAfter(response.headers["retry-after"], now)
    const decision = Retry.afterStatus(status, retryAfter, idempotent)
    const after = retryAfter === undefined ? "" : ` (Retry-After ${millis(retryAfter)})`
    return yield* Effect.fail<Attempt>({
      error: modelError(provider, `${provider} answered ${status}: ${errorMessage(body)}${after}`, decision._tag === "Retry", { status, reason: "status" }),
      decision
    })
  }
  return {
    status,
    headers: response.headers,
    stream,
    streamUntil,
    readUntil,
    text,
    json: Effect.flatMap(text, (body) =>
      Effect.try({
        try: () => (body.length === 0 ? undefined : JSON.parse(body)),
        catch: () => modelError(provider, `${provider}: the response is not JSON: ${body.slice(0, 200)}`, false, { status, reason: "provider-error" })
      })
    )
  } satisfies Response
})

/**
 * How many reads of the body may wait, read ahead, for a slow consumer (a read is what the socket had
 * buffered, about the stream's 64 KiB high-water mark at most). A full buffer costs two fiber switches (the
 * reader waits for room, the consumer for reads): at 8 rather than 4 a fast body makes half as many, worth
 * ~4 points of the part stream's W2 throughput (docs/performance.md), for about 512 KiB held per slow
 * response.
 */
const readAhead = 8

/**
 * The body, failed with `silent()` when a read waits longer than `idle` for the server (a slow consumer does
 * not count: the reader then waits for room, not for the server) and with `deadline.error()` once the clock
 * passes `deadline.at`; interrupting the consumer interrupts the reader, which closes the connection.
 *
 * One reader fiber moves the reads into a bounded buffer (`EventBuffer`, the run events' queue) and one
 * watchdog fiber sleeps until the next instant a limit could be reached, reading only the instant the
 * reader last began to wait for the server: no fiber, race or timer per read (a `Stream.timeout` per read
 * and a `Stream.interruptWhen` cost more than decoding the 64 KiB they wait for). A read is handed over
 * with no Effect on either side: the reader offers it to the buffer synchronously, and the consumer's pull
 * (`toPull`) hands every read already there to `reader` at once; only waiting (for the server, for room,
 * for a read) is an Effect.
 */
const guarded = <A, E>(
  body: Stream.Stream<Uint8Array, E>,
  idle: Duration.Duration,
  silent: () => E,
  deadline: { readonly at: number; readonly error: () => E } | undefined,
  reader: BatchReader<Uint8Array, E, A>
): Stream.Stream<A, E> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const clock = yield* Clock.Clock
      const idleMs = Duration.toMillis(idle)
      const buffer = new EventBuffer<Uint8Array, E>(readAhead)
      /** When the reader started waiting for the server; undefined while it hands a read over or waits for room. */
      let waitingSince: number | undefined = clock.currentTimeMillisUnsafe()
      const waitForServer = Effect.sync(() => {
        waitingSince = clock.currentTimeMillisUnsafe()
      })
      const onReads = (reads: Arr.NonEmptyReadonlyArray<Uint8Array>): Effect.Effect<void> => {
        waitingSince = undefined
        // Indexed (no iterator per read); an empty read is no data to hand over.
        for (let i = 0; i < reads.length; i++) if (reads[i]!.length > 0) buffer.offer(reads[i]!)
        const room = buffer.ready()
        if (room !== undefined) return Effect.andThen(room, waitForServer)
        waitingSince = clock.currentTimeMillisUnsafe()
        return Effect.void
      }
      const read = Stream.runForEachArray(body, onReads)
      yield* Effect.forkScoped(Effect.onExit(read, (exit) => Effect.sync(() => buffer.end(exit))))
      const watch: Effect.Effect<void> = Effect.suspend(() => {
        if (buffer.ended !== undefined) return Effect.void
        const now = clock.currentTimeMillisUnsafe()
        // The first end counts: reads the reader hands over after it are dropped, those before it delivered.
        if (deadline !== undefined && now >= deadline.at) {
          buffer.end(Exit.fail(deadline.error()))
          return Effect.void
        }
        const idleAt = waitingSince === undefined ? now + idleMs : waitingSince + idleMs
        if (now >= idleAt) {
          buffer.end(Exit.fail(silent()))
          return Effect.void
        }
        return Effect.andThen(Effect.sleep(Math.min(idleAt, deadline?.at ?? Infinity) - now), watch)
      })
      yield* Effect.forkScoped(watch)
      return Stream.fromPull(Effect.succeed(toPull(buffer, reader)))
    })
  )

/** Sends, retrying only what the `Retry` policy deems safe; bounded by the headers timeout per attempt. */
export const send = (request: Request): Effect.Effect<Response, LanguageModel.ModelError, HttpClient.HttpClient> => {
  const timeouts = Timeout.resolve(request.timeouts)
  const redact = redactFor(request)
  return Retry.retrying(request.retry)(sendOnce(request, timeouts, isIdempotent(request)), (attempt) => attempt.decision).pipe(
    Effect.mapError((attempt) => redact(attempt.error))
  )
}

/** The step timeout's error. */
export const stepTimeout = (request: Request, step: Duration.Duration) =>
  modelError(request.provider, `${request.provider}: the step took longer than ${millis(step)}`, isIdempotent(request), { reason: "step-timeout" })

/** Sends and reads a JSON answer, the whole exchange bounded by the step timeout. */
export const json = (request: Request): Effect.Effect<unknown, LanguageModel.ModelError, HttpClient.HttpClient> => {
  const step = Timeout.resolve(request.timeouts).step
  return Effect.flatMap(send(request), (response) => response.json).pipe(
    Effect.timeoutOrElse({ duration: step, orElse: () => Effect.fail(stepTimeout(request, step)) }),
    // The body quoted by "not JSON" comes after `send`.
    Effect.mapError(redactFor(request))
  )
}
