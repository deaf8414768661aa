/**
 * The shape every HTTP-backed `LanguageModel` shares: the HttpClient is captured when the layer is built,
 * and a step's parts come from decoding the response body item by item (a mapper that may fail with
 * `ModelError`), followed by the parts only the end of the stream settles (finish, usage, metadata).
 *
 * A stream that ends before the provider's end marker is a `truncated` `ModelError`, never a completed
 * step; every failure after the body started carries the parts received so far, and is retryable only if
 * the request was idempotent and no remote tool call was seen (a resume must not run a remote tool twice).
 * The whole step is bounded by the step timeout.
 *
 * @since 0.1.0
 */
import { LanguageModel } from "@agentloop/core"
import type { HttpClient } from "@effect/platform"
import { Chunk, Effect, Stream } from "effect"
import * as Http from "./Http.js"
import * as Timeout from "./Timeout.js"

/** A `LanguageModel` whose steps use the `HttpClient` in context when the model is made. */
export const make = (
  streamStep: (request: LanguageModel.ModelRequest) => Stream.Stream<LanguageModel.ResponsePart, LanguageModel.ModelError, HttpClient.HttpClient>,
  /** Declared capabilities (e.g. `outputMode`, how the model best returns a typed output). */
  capabilities?: Pick<LanguageModel.Service, "outputMode">
): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  Effect.map(Effect.context<HttpClient.HttpClient>(), (context) => ({
    streamStep: (request) => Stream.provideContext(streamStep(request), context),
    ...(capabilities?.outputMode === undefined ? {} : { outputMode: capabilities.outputMode })
  }))

export interface StreamOptions<Item, State> {
  /** Turns the body's bytes into items (SSE events, NDJSON lines, text). */
  readonly decode: (body: Stream.Stream<Uint8Array, LanguageModel.ModelError>) => Stream.Stream<Item, LanguageModel.ModelError>
  /** Fresh per response: what the end of the stream needs to know. */
  readonly initial: (response: Http.Response) => State
  /** One item's parts; may throw a `ModelError` (e.g. an error event). */
  readonly item: (item: Item, state: State) => ReadonlyArray<LanguageModel.ResponsePart>
  /** Whether the provider's end marker was seen: a stream that ends without it is truncated. */
  readonly complete: (state: State) => boolean
  readonly end: (state: State) => ReadonlyArray<LanguageModel.ResponsePart>
}

/** An error thrown by an item mapper: a provider's in-stream error, or a bug (kept as the message). */
const itemError = (provider: string, error: unknown): LanguageModel.ModelError =>
  error instanceof LanguageModel.ModelError
    ? error
    : new LanguageModel.ModelError({ provider, message: String(error), retryable: false, reason: "provider-error" })

/** The error as the step reports it: with what was received, and not retryable once a remote tool was seen. */
const afterBodyStarted = (error: LanguageModel.ModelError, received: ReadonlyArray<LanguageModel.ResponsePart>, remoteSeen: boolean) =>
  new LanguageModel.ModelError({
    ...error,
    message: error.message,
    retryable: error.retryable && !remoteSeen,
    ...(received.length === 0 ? {} : { received })
  })

const withStepTimeout = <A, R>(request: Http.Request, self: Stream.Stream<A, LanguageModel.ModelError, R>) => {
  const step = Timeout.resolve(request.timeouts).step
  return Stream.interruptWhen(self, Effect.zipRight(Effect.sleep(step), Effect.fail(Http.stepTimeout(request, step))))
}

/** The parts of a streamed response. */
export const streamParts = <Item, State>(
  request: Http.Request,
  options: StreamOptions<Item, State>
): Stream.Stream<LanguageModel.ResponsePart, LanguageModel.ModelError, HttpClient.HttpClient> =>
  withStepTimeout(
    request,
    Stream.unwrap(
      Effect.map(Http.send(request), (response) =>
        Stream.suspend(() => {
          const state = options.initial(response)
          const received: Array<LanguageModel.ResponsePart> = []
          let remoteSeen = false
          let failure: LanguageModel.ModelError | undefined
          return options.decode(response.stream).pipe(
            // Once an item failed, stop reading the body.
            Stream.takeWhile(() => failure === undefined),
            // Items are mapped chunk by chunk (a stream carries thousands of events); the parts produced
            // before a failing item are still emitted, then the step fails with that item's error.
            Stream.mapChunks((chunk) => {
              const start = received.length
              for (const item of chunk) {
                try {
                  for (const part of options.item(item, state)) {
                    if (part._tag === "RemoteToolCall" || part._tag === "RemoteToolResult") remoteSeen = true
                    received.push(part)
                  }
                } catch (error) {
                  failure = itemError(request.provider, error)
                  break
                }
              }
              return Chunk.unsafeFromArray(received.slice(start))
            }),
            Stream.concat(
              Stream.suspend(() => {
                if (failure !== undefined) return Stream.fail(afterBodyStarted(failure, received, remoteSeen))
                if (!options.complete(state)) {
                  const truncated = Http.modelError(
                    request.provider,
                    `${request.provider}: the stream ended before its end marker (${received.length} part(s) received)`,
                    Http.isIdempotent(request),
                    { status: response.status, reason: "truncated" }
                  )
                  return Stream.fail(afterBodyStarted(truncated, received, remoteSeen))
                }
                return Stream.fromIterable(options.end(state))
              })
            ),
            Stream.catchAll((error) => Stream.fail(error.received === undefined ? afterBodyStarted(error, received, remoteSeen) : error))
          )
        })
      )
    )
  )

/** The parts of a whole JSON response. */
export const jsonParts = (
  request: Http.Request,
  parts: (json: unknown) => ReadonlyArray<LanguageModel.ResponsePart>
): Stream.Stream<LanguageModel.ResponsePart, LanguageModel.ModelError, HttpClient.HttpClient> =>
  Stream.unwrap(
    Effect.flatMap(Http.json(request), (json) =>
      Effect.map(Effect.try({ try: () => parts(json), catch: (error) => itemError(request.provider, error) }), Stream.fromIterable)
    )
  )
